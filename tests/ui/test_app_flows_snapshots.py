"""Snapshots at 80x24 of the export, label, settings and "unsaved edit" dialogs: every word
whole.

Deterministic: the demo session, a fake backend already attached, a fixed export path (the
session's own path, relative). Update with ``--snapshot-update`` on this file only after a
deliberate change, and read the SVG text.
"""

from __future__ import annotations

from pathlib import Path

from loomtests.ui import demo_session
from loomtests.words import WordsBackend

from loomtui.ui.app import make_app

SIZE = (80, 24)


def _app():
    app = make_app(
        session=demo_session(),
        path=Path("sessions/demo.json"),
        backend=WordsBackend(),
        new_session=False,
        config={"ui": {"theme": "green-red"}},
    )
    app.instruments = {}
    app.engine.on_change = None  # nothing is written to sessions/demo.json
    return app


def test_snapshot_export_dialog(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["x"])


def test_snapshot_label_dialog(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["l", *"a label"])


def test_snapshot_unsaved_edit_dialog(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["e", *" more", "escape"])


def test_snapshot_settings_dialog(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["s"])


def test_snapshot_settings_dialog_at_its_end(snap_compare):
    """The form scrolled to its last fields: the top-k label, the checkboxes, the buttons."""

    async def to_the_end(pilot):
        await pilot.press("s")
        await pilot.pause()
        pilot.app.screen.query_one("#save").scroll_visible(animate=False, immediate=True)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=to_the_end)
