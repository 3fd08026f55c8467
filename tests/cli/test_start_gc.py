"""The start path pauses the cyclic collector while it imports and builds the UI (its objects
all live as long as the app: collecting over them is wasted start-up time) and never runs the
app with the collector off (cycles made while working must still be freed)."""

from __future__ import annotations

import gc

from loomtui.cli import app_cmd, main


def test_the_ui_is_built_with_the_collector_paused_and_runs_with_it_on(tmp_path, monkeypatch):
    import loomtui.ui.app as ui_app

    seen: dict[str, bool] = {}
    make_app = ui_app.make_app

    def building(**kw):
        seen["building"] = gc.isenabled()
        return make_app(**kw)

    def running(self, *a, **kw):
        seen["running"] = gc.isenabled()

    monkeypatch.setattr(ui_app, "make_app", building)
    monkeypatch.setattr(ui_app.LoomApp, "run", running)
    assert gc.isenabled()
    assert main([str(tmp_path / "new.json")]) == 0
    assert seen == {"building": False, "running": True}
    assert gc.isenabled()  # and on after the app ends


def test_a_refused_start_leaves_the_collector_on(tmp_path):
    assert main(["doctr"]) != 0  # a mistyped verb is no session file: refused
    assert gc.isenabled()
    assert app_cmd.names_a_session("doctr") is False
