"""Pilot tests of the app with a deterministic fake backend: what a person would do."""

from __future__ import annotations

import math

from loomtests.ui import demo_session, screen_text, wait_idle
from loomtests.words import WORDS, WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.core.sessionfile import load_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.widgets.topk import TopKMenu

SIZE = (80, 24)


def small(app, **kw) -> None:
    app.settings = GenerationSettings(**{"max_tokens": 6, **kw})


async def test_type_prompt_and_generate():
    app = make_app(backend=WordsBackend())
    small(app)
    async with app.run_test(size=SIZE) as pilot:
        assert app.editor.has_focus  # a new session starts in the editor
        await pilot.press(*"Once upon")
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        text = app.session.branch_text(app.session.current_id)
        assert text == "Once upon" + "".join(WORDS[:6])
        node = app.session.current
        assert node.origin == "model" and len(node.tokens) == 6
        assert node.finish_reason == "length"
        # The view shows the prompt plainly and every generated token coloured.
        units = app.view.units
        assert [u.token is None for u in units[:2]] == [True, True]
        styles = [app.view._style_for(u) for u in units[2:]]
        assert all(s.color is not None for s in styles)
        shown = screen_text(app)
        assert "Once upon the cat sat on a mat" in shown
        assert "p=0.5000" in shown  # the info line describes the token under the cursor
        assert "done: 6 tok" in shown


async def test_cancel_keeps_partial_text():
    app = make_app(
        session=Session.new("Hello"), backend=WordsBackend(delay=0.03), new_session=False
    )
    small(app, max_tokens=500)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.session.current.tokens and len(app.session.current.tokens) >= 3:
                break
        await pilot.press("escape")
        await wait_idle(app, pilot)
        node = app.session.current
        assert node.finish_reason == "cancelled"
        assert 3 <= len(node.tokens) < 500
        kept = app.session.branch_text(node.id)
        assert kept.startswith("Hello the cat")
        # What was generated is on screen, and the view agrees with the tree.
        assert "".join(u.text for u in app.view.units) == kept


async def test_topk_pick_creates_branch_and_continues():
    app = make_app(session=Session.new("Hi"), backend=WordsBackend(), new_session=False)
    small(app, max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        original = app.session.current
        original_text = app.session.branch_text(original.id)
        await pilot.press("left", "left")  # onto the 2nd generated token (" cat")
        unit = app.view.current_unit()
        assert unit.token is not None and unit.text == " cat"
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, TopKMenu)
        menu_text = screen_text(app)
        assert "◀ chosen" in menu_text and "50.0%" in menu_text
        await pilot.press("3")  # the third alternative
        await wait_idle(app, pilot)
        new_text = app.session.branch_text(app.session.current_id)
        picked = unit.token.top[2]
        assert new_text.startswith("Hi the" + picked.text)
        assert len(new_text) > len("Hi the" + picked.text)  # generation continued
        # The original continuation is kept as a sibling.
        leaves = {app.session.branch_text(n.id) for n in app.session.leaves()}
        assert leaves == {original_text, new_text}
        point = app.session.path(app.session.current_id)[3]
        assert len(app.session.siblings(point.id)) == 2
        assert "branches 2/2" in screen_text(app)


async def test_edit_and_regenerate_keeps_original():
    app = make_app(session=Session.new("The sky"), backend=WordsBackend(), new_session=False)
    small(app, max_tokens=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        original = app.session.current
        original_text = app.session.branch_text(original.id)
        await pilot.press("e")
        assert app.editor.has_focus and app.editor.text == original_text
        for _ in range(len(" sat")):
            await pilot.press("backspace")
        await pilot.press(*" ran")
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        new_text = app.session.branch_text(app.session.current_id)
        assert new_text.startswith("The sky the cat ran the")
        leaves = {app.session.branch_text(n.id) for n in app.session.leaves()}
        assert leaves == {original_text, new_text}  # nothing lost
        edit_nodes = [n for n in app.session.nodes.values() if n.origin == "edit"]
        assert len(edit_nodes) == 1 and edit_nodes[0].plain == " ran"


async def test_move_between_siblings():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.session.current_id == "gen1"
        assert "branches 1/2" in screen_text(app)
        await pilot.press("right_square_bracket")
        assert app.session.current_id == "gen2"
        assert "branches 2/2" in screen_text(app)
        assert "".join(u.text for u in app.view.units) == app.session.branch_text("gen2")
        await pilot.press("right_square_bracket")  # wraps around
        assert app.session.current_id == "gen1"
        await pilot.press("less_than_sign")  # parent
        assert app.session.current_id == "prompt"
        await pilot.press("greater_than_sign")  # the child came up from, not the newest
        assert app.session.current_id == "gen1"


async def test_save_reopen_finds_everything(tmp_path):
    path = tmp_path / "s.json"
    app = make_app(session=Session.new("Tea"), path=path, backend=WordsBackend(), new_session=False)
    small(app, max_tokens=5, n=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert path.exists()  # autosaved after the generation
        await pilot.press("b")  # bookmark the node under the cursor
        await pilot.press("ctrl+s")
        texts = {n.id: app.session.branch_text(n.id) for n in app.session.leaves()}
        current = app.session.current_id
    loaded = load_session(path)
    assert {n.id: loaded.branch_text(n.id) for n in loaded.leaves()} == texts
    assert loaded.current_id == current
    assert [n.id for n in loaded.bookmarks()] == [current]
    tok = loaded.node(current).tokens[0]
    assert abs(tok.logprob - math.log(0.5)) < 1e-5 and len(tok.top) == 5
    # Reopened (with no model: replay), the branch is back on screen with its marks.
    again = make_app(session=loaded, path=path, new_session=False)
    async with again.run_test(size=SIZE) as pilot:
        assert "".join(u.text for u in again.view.units) == texts[current]
        assert "★" in screen_text(again)
        assert "tree (4 nodes, 1★)" in screen_text(again)


async def test_readonly_save_says_so_and_writes_nothing(tmp_path):
    from loomtui.core.sessionfile import save_session
    from loomtui.core.store import SessionStore

    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    before = path.read_bytes()
    store = SessionStore.open(path, readonly=True)
    app = make_app(session=store.session, path=path, store=store, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")  # a change in memory
        await pilot.press("ctrl+s")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("read-only" in m and "not written" in m for m in messages)
        assert not any(m.startswith("saved") for m in messages)
    store.close()
    assert path.read_bytes() == before


async def test_replay_without_model():
    app = make_app(session=demo_session(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "no model (replay)" in screen_text(app)
        await pilot.press("ctrl+g")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("no model attached" in m for m in messages)
        assert len(app.session.nodes) == 4  # nothing generated
        # Top-k menus are served from the stored data.
        await pilot.press("left")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, TopKMenu)
        unit_alts = app.screen.alts
        assert len(unit_alts) == 5
        await pilot.press("escape")
        assert not isinstance(app.screen, TopKMenu)


async def test_model_text_is_inert():
    session = Session.new("[bold]x[/bold] ")
    bad = Token("\x1b[31mred\x07", b"\x1b[31mred\x07", 1, -0.1)
    session.add_child(session.current_id, tokens=[bad], origin="model")
    session.current_id = session.leaves()[0].id
    app = make_app(session=session, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = screen_text(app)
        assert "[bold]x[/bold]" in shown  # markup shown literally, not applied
        assert "␛[31mred␇" in shown  # escape and bell made visible
        assert "\x1b" not in shown


async def test_mouse_click_moves_cursor():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#view", offset=(1, 0))  # on "Once"
        assert app.view.cursor == 0
        layout = app.view.layout_
        # Click on the first cell of the third unit of the first line.
        x = sum(len(t) for _, t in layout.lines[0][:5])
        await pilot.click("#view", offset=(x, 0))
        assert app.view.cursor == layout.lines[0][5][0]


async def test_keymap_rebinds_generate():
    app = make_app(
        session=Session.new("Go"),
        backend=WordsBackend(),
        new_session=False,
        config={"keymap": {"generate": "ctrl+r"}},
    )
    small(app, max_tokens=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await wait_idle(app, pilot)
        assert app.session.branch_text(app.session.current_id) == "Go the cat"
        await pilot.press("f1")
        await pilot.pause()
        assert "ctrl+r" in screen_text(app)


async def test_help_and_palette_list_every_action():
    from loomtui.ui.commands import loom_commands
    from loomtui.ui.keys import APP_KEYS

    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        shown = screen_text(app)
        for _ in range(4):  # the help scrolls when it is longer than the screen
            await pilot.press("pagedown")
            await pilot.pause()
            shown += screen_text(app)
        for key in ("ctrl+g", "ctrl+k", "escape", "ctrl+s", "ctrl+q", "f1", "ctrl+p"):
            assert key in shown
        for spec in app.instruments.values():  # every instrument is listed with its key
            assert spec.title in shown
        titles = {c.title for c in loom_commands(app)}
        assert {k.name for k in APP_KEYS if k.palette} <= titles
        assert {f"Instrument: {s.title}" for s in app.instruments.values()} <= titles
        # Every action the keys name exists on the app.
        for key in app.declared_keys():
            assert hasattr(app, "action_" + key.action.split("(")[0]), key
