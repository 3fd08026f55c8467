"""Snapshots of the main screen, the top-k menu, the branch panel and help at 80x24.

Deterministic by construction: a fixed session (fixed ids and times), a fake backend that is
already attached (no loading toast), no clock anywhere on screen. Update with
``pytest tests/ui --snapshot-update`` after a deliberate change, and look at the SVGs.
"""

from __future__ import annotations

from loomtests.ui import demo_session
from loomtests.words import WordsBackend

from loomtui.ui.app import make_app

SIZE = (80, 24)


def _app():
    """The app on the demo session. Instruments (a colleague's plug-ins) are left out so
    these snapshots change only when this area's screens do."""
    app = make_app(
        session=demo_session(),
        backend=WordsBackend(),
        new_session=False,
        config={"ui": {"theme": "green-red"}},
    )
    app.instruments = {}
    return app


def test_snapshot_main_screen(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["left", "left"])


def test_snapshot_topk_menu(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["left", "left", "left", "ctrl+k"])


def test_snapshot_branch_panel(snap_compare):
    async def focus_branches(pilot):
        await pilot.press("right_square_bracket")
        pilot.app.query_one("#branches").focus()
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=focus_branches)


def test_snapshot_help_screen(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["f1"])
