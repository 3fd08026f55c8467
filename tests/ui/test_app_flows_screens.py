"""Export from the app, dialog focus, the status and info lines, and toasts at 80x24."""

from __future__ import annotations

import json

from loomtests.ui import demo_session, screen_text
from loomtests.words import WordsBackend

from loomtui.backends.base import ModelInfo
from loomtui.ui.app import make_app
from loomtui.ui.screens.export import ExportScreen
from loomtui.ui.screens.prompt import PromptScreen

SIZE = (80, 24)


def _four_leaves():
    """The demo tree grown to four leaves: a top-k pick and a typed edit, and a label on
    the prompt (an inner node)."""
    from loomtui.engine import Engine

    session = demo_session()
    engine = Engine(session, None)
    alt = session.node("gen1").tokens[3].top[2]
    picked = engine.pick("gen1", 3, alt)
    engine.add("gen2", 4, plain=" by hand", origin="edit")
    engine.set_label("prompt", "the opening")
    session.goto(session.descend("gen1").id)
    return session, picked


async def test_export_every_leaf_of_the_tree_with_labels_and_origins(tmp_path):
    session, picked = _four_leaves()
    assert len(session.leaves()) == 4
    out = tmp_path / "all.jsonl"
    app = make_app(session=session, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")  # from a leaf: "under here" is 1 leaf, the tree has 4
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        shown = screen_text(app)
        assert "every leaf under here (1)" in shown
        assert "every leaf of the tree (4)" in shown
        app.screen.query_one("#scope-leaves").value = True
        app.screen.query_one("#fmt-jsonl").value = True
        app.screen.query_one("#exp-path").value = str(out)
        await pilot.click("#export")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4
    assert all(r["labels"] == {"prompt": "the opening"} for r in records)
    by_node = {r["node"]: r for r in records}
    assert by_node[picked.id]["origins"][-1] == "pick"
    assert sorted(r["origins"][-1] for r in records) == ["edit", "model", "model", "pick"]


async def test_export_markdown_says_pick_not_edit(tmp_path):
    session, picked = _four_leaves()
    out = tmp_path / "one.md"
    session.goto(picked.id)
    app = make_app(session=session, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#fmt-markdown").value = True
        app.screen.query_one("#exp-path").value = str(out)
        await pilot.press("enter")  # enter in the file field exports
        await pilot.pause()
    md = out.read_text()
    assert "**you (pick, rank 3)**" in md and "you (edit)" not in md
    assert "*(label: the opening)*" in md


async def test_dialogs_focus_their_first_input():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await pilot.pause()
        field = app.screen.query_one("#exp-path")
        assert app.focused is field
        await pilot.press("end", *"-2")  # typing goes straight into the file name
        assert field.value.endswith("-2")
        await pilot.press("escape")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"note", "enter")
        await pilot.pause()
        assert app.session.node(app.view.current_unit().node_id).label == "note"


class _LongName(WordsBackend):
    def info(self) -> ModelInfo:
        return ModelInfo(name="HuggingFaceTB/SmolLM2-135M-Instruct", backend="local")


async def test_status_line_is_not_cut_at_80_columns(tmp_path):
    path = tmp_path / "sessions" / "are-bugs-real.json"
    path.parent.mkdir()
    app = make_app(session=demo_session(), path=path, backend=_LongName(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        app.generation.last = "done: 64 tok 12.3 tok/s"
        app.refresh_status()
        await pilot.pause()
        flat = " ".join(screen_text(app).split())
        assert "HuggingFaceTB/SmolLM2-135M-Instruct" in flat
        assert "completion" in flat and "done: 64 tok" in flat
        assert "are-bugs-real.json" in flat.replace(" ", "")


async def test_failure_reason_is_not_cut_at_80_columns():
    session = demo_session()
    reason = "interrupted: loomtui stopped while generating"
    session.node("gen1").error = reason
    app = make_app(session=session, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "H=" in screen_text(app)  # the cursor is on a model token of gen1
        flat = " ".join(screen_text(app).split())
        assert "failed: " + reason in flat


async def test_toasts_do_not_cover_the_info_and_status_lines():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.notify("a message that stays a while " * 3, timeout=30)
        await pilot.pause(0.3)
        toasts = list(app.screen.query("Toast"))
        assert toasts
        covered = [app.query_one(sel).region for sel in ("#info", "#legend", "#status")]
        for toast in toasts:
            for region in covered:
                assert not toast.region.overlaps(region), (toast.region, region)


async def test_export_to_another_looms_format_writes_the_whole_tree_and_says_so(tmp_path):
    """loom and obsidian files are always the whole tree: the scope choice is disabled for
    them (and back for the others), and the file holds every leaf."""
    from loomtui.core.sessionfile import load_session

    session, _ = _four_leaves()
    out = tmp_path / "tree.loom"
    app = make_app(session=session, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await pilot.pause()
        scope = app.screen.query_one("#exp-scope")
        assert not scope.disabled
        app.screen.query_one("#fmt-loom").value = True
        await pilot.pause()
        assert scope.disabled
        assert app.screen.query_one("#exp-path").value.endswith(".loom")
        app.screen.query_one("#fmt-text").value = True
        await pilot.pause()
        assert not scope.disabled
        app.screen.query_one("#fmt-loom").value = True
        app.screen.query_one("#exp-path").value = str(out)
        await pilot.click("#export")
        await pilot.pause()
    back = load_session(out)
    assert sorted(back.branch_text(leaf.id) for leaf in back.leaves()) == sorted(
        session.branch_text(leaf.id) for leaf in session.leaves()
    )


async def test_the_status_line_says_what_the_server_lacks():
    """What `loomtui doctor` found a server does not do (ModelInfo.lacks) is on the status
    line, as data (a hostile word is shown inertly)."""

    class Lacking(WordsBackend):
        def info(self) -> ModelInfo:
            return ModelInfo(name="srv", backend="api", lacks=["n", "prefill", "x\x1b[2J"])

    app = make_app(backend=Lacking(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = screen_text(app)
        assert "srv [api] no n, prefill, x␛[2J" in shown
    plain = make_app(backend=WordsBackend(), new_session=False)
    async with plain.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "fake-model [fake]  " in screen_text(plain)  # nothing found lacking
