"""Snapshots at 80x24 of the export, label and "unsaved edit" dialogs: every word whole.

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
