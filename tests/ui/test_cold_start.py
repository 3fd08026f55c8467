"""The app's start imports only what its first frame needs: the program run as a user runs it
(``loomtui``, a new session on the default model, nothing configured) has drawn its first
frame with neither pydantic (the config's declaration) nor ``regex`` (search) nor the model's
libraries imported, and the model then loads in the background after the frame is out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from loomtests.ui import demo_session, screen_text
from textual.widgets import Footer

from loomtui.ui.app import make_app

HEAVY = ("pydantic", "pydantic_core", "regex", "torch", "transformers", "numpy", "llama_cpp")

SCRIPT = """
import asyncio, json, sys, threading
from loomtui.cli import app_cmd, main
from loomtui.core.errors import LoomError
from loomtui.ui.app import make_app

HEAVY = %r
seen = {}

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))

def launch(**kw):
    real = kw["backend_factory"]
    def factory(progress):
        # What was imported when the load began, and where it runs; then no model (the
        # test is about the start, not about loading a model).
        seen["at_load"] = loaded()
        seen["load_thread"] = threading.current_thread() is not threading.main_thread()
        seen["painted_before_load"] = seen.get("first_frame") is not None
        assert real is not None
        raise LoomError("no model in this test")
    kw["backend_factory"] = factory
    app = make_app(**kw)
    seen["built"] = loaded()

    async def drive():
        async with app.run_test(size=(100, 30)) as pilot:
            seen["first_frame"] = loaded()
            for _ in range(100):
                await pilot.pause(0.05)
                if app.loading is None:
                    break
            seen["note"] = app.note
    asyncio.run(drive())
    return 0

app_cmd.launch_app = launch
code = main([])
print(json.dumps({"code": code, **seen}))
"""


def test_the_first_frame_is_drawn_before_pydantic_regex_or_the_model_libraries(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LOOMTUI_")}
    env |= {
        "LOOMTUI_CONFIG": str(tmp_path / "config.toml"),  # nothing configured
        "LOOMTUI_DATA_DIR": str(tmp_path / "data"),
        "LOOMTUI_CACHE_DIR": str(tmp_path / "cache"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT % (HEAVY,)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert seen["built"] == [] and seen["first_frame"] == [], seen
    # The model still loads, in the background, once the first frame is out; its failure
    # is shown in the status line.
    assert seen["painted_before_load"] and seen["load_thread"], seen
    assert seen["note"] == "no model (load failed)", seen


async def test_a_burst_of_binding_changes_rebuilds_the_footer_once_showing_the_last_keys():
    # Opening the editor changes the bindings (focus moves, the editor's keys replace the
    # view's), as the app's start does a dozen times: the footer shows the editor's keys
    # after one rebuild per refresh, not one per change (the start's largest CPU cost).
    app = make_app(session=demo_session(), new_session=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        footer = app.query_one(Footer)
        rebuilt = []
        real = footer.recompose

        async def counted() -> None:
            rebuilt.append(1)
            await real()

        footer.recompose = counted  # type: ignore[method-assign]
        app.editing.open()  # focus moves, the editor's keys replace the view's
        for _ in range(5):
            app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        bottom = screen_text(app).splitlines()[-1]
        assert app.editing.active and "Save edit" in bottom, bottom
        # One rebuild for the burst, one for the focus change that arrives as an event in
        # the next cycle (Textual's own footer rebuilt itself 8 times here).
        assert len(rebuilt) <= 2, rebuilt
