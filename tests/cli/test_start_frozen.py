"""The objects the start makes by importing and building the UI (they live as long as the
app) are out of the cyclic collector's sight when the app starts running: its first
collections would otherwise walk all of them, ~35 ms of CPU before the first frame."""

from __future__ import annotations

import gc

from loomtui.cli import main


def test_the_app_starts_running_with_what_the_start_built_frozen(tmp_path, monkeypatch):
    import loomtui.ui.app as ui_app

    seen: dict[str, int] = {}

    def running(self, *a, **kw):
        seen["frozen"] = gc.get_freeze_count()
        seen["young"] = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))

    monkeypatch.setattr(ui_app.LoomApp, "run", running)
    gc.unfreeze()  # whatever an earlier test froze: count only this start's
    try:
        assert main([str(tmp_path / "new.json")]) == 0
    finally:
        gc.freeze()  # as the app itself leaves it
    assert gc.isenabled()
    # The UI's modules and the built app: tens of thousands of objects, none left young.
    assert seen["frozen"] > 10_000 and seen["young"] < 1_000, seen
