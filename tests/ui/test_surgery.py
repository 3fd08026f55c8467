"""Tree surgery and undo in the app, at 80x24, across closing and reopening the file: split
(|), merge (J), delete (the delete key, asking for a subtree), copy (Y), hoist/unhoist
(z/Z), an edit, and undo/redo (ctrl+z/ctrl+y) of each after the session was closed and
opened again."""

from __future__ import annotations

from loomtests.ui import demo_session, screen_text, wait_idle
from loomtests.words import WordsBackend

from loomtui.core.sessionfile import save_session
from loomtui.core.store import SessionStore
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.surgery import ConfirmScreen
from loomtui.ui.widgets.tree_panel import TreePanel

SIZE = (80, 24)


def state(session: Session) -> dict:
    """Everything a person could tell apart: ids, links, text, tokens and their numbers,
    labels, bookmarks, the current node."""
    out = {"current": session.current_id, "root": session.root_id}
    for nid, n in sorted(session.nodes.items()):
        toks = None
        if n.tokens is not None:
            toks = [
                (t.text, t.bytes, t.token_id, round(t.logprob or 0, 5), len(t.top), t.entropy)
                for t in n.tokens
            ]
        out[nid] = (n.parent, tuple(n.children), n.origin, n.plain, toks, n.label, n.bookmark)
    return out


def reopen(path):
    store = SessionStore.open(path)
    return store, make_app(store=store, backend=WordsBackend(), new_session=False)


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def cursor_to(app, pilot, node_id: str, offset: int) -> None:
    """Put the token cursor on unit ``offset`` of ``node_id`` (showing its branch)."""
    if node_id not in {n.id for n in app.session.path(app.session.current_id)}:
        app.navigation.go_to(node_id, descend=True)
    app.navigation.show_point(node_id, offset)
    await pilot.pause()
    unit = app.view.current_unit()
    assert unit.node_id == node_id and unit.offset == offset


def make(tmp_path):
    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    return path


async def test_split_then_undo_and_redo_after_reopening(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    original = state(store.session)
    async with app.run_test(size=SIZE) as pilot:
        await cursor_to(app, pilot, "gen1", 4)
        await pilot.press("vertical_line")  # |: split just after the 5th token
        gen1 = app.session.node("gen1")
        assert len(gen1.tokens) == 5 and len(gen1.children) == 1
        tail = app.session.node(gen1.children[0])
        assert len(tail.tokens) == 19
        assert app.session.branch_text(tail.id) == demo_session().branch_text("gen1")
        assert any("split gen1 at 5" in t for t in toasts(app))
        split = state(app.session)
    store.close()

    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        assert state(app.session) == split
        await pilot.press("ctrl+z")
        assert state(app.session) == original
        assert any("undid: split gen1 at 5" in t for t in toasts(app))
        await pilot.press("ctrl+z")
        assert any("nothing to undo" in t for t in toasts(app))
        await pilot.press("ctrl+y")
        assert state(app.session) == split
        await pilot.press("ctrl+z")
    store.close()
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        assert state(app.session) == original
        await pilot.press("ctrl+y")  # the redo survives a reopen too
        assert state(app.session) == split
    store.close()


async def test_merge_with_the_parent_and_with_siblings_by_choice_undone_after_reopening(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await cursor_to(app, pilot, "gen1", 4)
        await pilot.press("vertical_line")
        before_merge = state(app.session)
        tail_id = app.session.node("gen1").children[0]
        await cursor_to(app, pilot, tail_id, 2)
        await pilot.press("J")  # the only child: merged at once
        gen1 = app.session.node("gen1")
        assert len(gen1.tokens) == 24 and tail_id not in app.session
        assert [t.text for t in gen1.tokens] == [t.text for t in demo_session().node("gen1").tokens]
        # The prompt is plain text, gen1 a model's tokens: refused in one line.
        await cursor_to(app, pilot, "gen1", 3)
        await pilot.press("J")
        assert isinstance(app.screen, ConfirmScreen)  # gen1 has a sibling: asked first
        await pilot.press("y")
        assert any("plain text" in t for t in toasts(app)) and "gen1" in app.session
        # Split again and give the tail a sibling: merging the tail asks, then its sibling
        # moves up beside gen1, starting with gen1's tokens: every branch reads as before.
        await cursor_to(app, pilot, "gen1", 4)
        await pilot.press("vertical_line")
        tail_id = app.session.node("gen1").children[0]
        other = app.engine.add("gen1", None, tokens=demo_session().node("gen2").tokens)
        app.refresh_all()
        texts = {n: app.session.branch_text(n) for n in (tail_id, other.id)}
        await cursor_to(app, pilot, tail_id, 2)
        before_merge = state(app.session)  # undo comes back here, current node included
        await pilot.press("J")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert tail_id in app.session  # nothing changed
        await pilot.press("J", "y")
        assert tail_id not in app.session and app.session.node(other.id).parent == "prompt"
        assert app.session.branch_text("gen1") == texts[tail_id]
        assert app.session.branch_text(other.id) == texts[other.id]
        assert len(app.session.node(other.id).tokens) == 5 + 12
        merged = state(app.session)
    store.close()

    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+z")
        assert state(app.session) == before_merge
        assert any("undid: merge" in t for t in toasts(app))
        await pilot.press("ctrl+y")
        assert state(app.session) == merged
        assert any("redid: merge" in t for t in toasts(app))
    store.close()


async def test_delete_a_subtree_asks_and_undo_brings_it_back_after_reopening(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    original = state(store.session)
    async with app.run_test(size=SIZE) as pilot:
        await cursor_to(app, pilot, "prompt", 0)
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmScreen)
        assert "2 node(s) below" in screen_text(app)
        await pilot.press("y")
        assert set(app.session.nodes) == {"root"}
        assert app.session.current_id == "root"  # a valid view: the current node moved up
    store.close()

    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+z")
        assert state(app.session) == original
        assert any("undid: delete prompt" in t for t in toasts(app))
        await pilot.press("ctrl+y")
        assert set(app.session.nodes) == {"root"}
    store.close()


async def test_an_edit_and_a_copy_are_undone_and_redone_after_reopening(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await cursor_to(app, pilot, "gen2", 11)  # the last token of gen2
        original = state(store.session)
        await pilot.press("e", *" and then", "ctrl+s")  # typed in the editor, saved
        await pilot.pause()
        assert app.session.current.plain == " and then"
        assert len(app.session.nodes) == len(demo_session().nodes) + 1
        await cursor_to(app, pilot, "gen1", 0)
        edited = state(app.session)  # (the current node as the copy found it)
        await pilot.press("Y")
        copied = state(app.session)
        copy = app.session.current
        assert copy.meta.get("copy_of") == "gen1"
        assert app.session.branch_text(copy.id) == app.session.branch_text("gen1")
        assert app.session.path(copy.id)[1].id != "prompt"  # a branch of its own
    store.close()

    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+z")
        assert state(app.session) == edited
        await pilot.press("ctrl+z")
        assert state(app.session) == original
        await pilot.press("ctrl+y", "ctrl+y")
        assert state(app.session) == copied
    store.close()


async def test_hoist_shows_a_subtree_as_the_root_and_unhoist_shows_all_again(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await cursor_to(app, pilot, "gen2", 0)
        await pilot.press("z")
        panel = app.query_one(TreePanel)
        assert [c.data for c in panel.root.children] == ["gen2"]
        assert "hoisted at gen2" in screen_text(app)
        app.navigation.go_to("gen2", descend=False)
        await pilot.press("less_than_sign")  # < stops at the hoisted root
        assert app.session.current_id == "gen2"
        await pilot.press("ctrl+z")  # a view, not a change: nothing to undo
        assert any("nothing to undo" in t for t in toasts(app))
    store.close()
    store, app = reopen(path)  # the view is kept with the session
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(TreePanel)
        assert [c.data for c in panel.root.children] == ["gen2"]
        await pilot.press("Z")
        assert [c.data for c in panel.root.children] == ["root"]
        assert "hoisted" not in screen_text(app)
    store.close()


async def test_a_generation_is_one_undo_step(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        app.settings = app.settings.__class__(max_tokens=5, n=3)
        await cursor_to(app, pilot, "gen2", 11)
        original = state(store.session)
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert len(app.session.node("gen2").children) == 3
        await pilot.press("ctrl+z")
        assert state(app.session) == original
        assert any("undid: generate 3 from gen2" in t for t in toasts(app))
    store.close()


async def test_the_keys_are_in_the_palette_and_the_help():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=(100, 40)) as pilot:
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for title, key in [
            ("Undo", "ctrl+z"),
            ("Redo", "ctrl+y"),
            ("Split node here", "|"),
            ("Merge node with parent", "J"),
            ("Delete subtree", "delete"),
            ("Copy branch to a new root", "Y"),
            ("Hoist subtree", "z"),
            ("Unhoist", "Z"),
        ]:
            assert titles[title].endswith(f"({key})"), (title, titles.get(title))
        await pilot.press("f1")
        await pilot.pause()
        shown = screen_text(app)
        for _ in range(6):  # the help scrolls when it is longer than the screen
            await pilot.press("pagedown")
            await pilot.pause()
            shown += "\n" + screen_text(app)
        row = next(line for line in shown.splitlines() if "Split node here" in line)
        assert row.replace("│", " ").split()[0] == "|", row


async def test_the_document_and_the_tree_follow_undo_and_redo():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        app.engine.edit_branch("gen1", app.session.branch_text("gen1") + " ZZTOP")
        app.refresh_all()
        await pilot.pause()
        assert "ZZTOP" in screen_text(app)
        await pilot.press("ctrl+z")
        assert "ZZTOP" not in screen_text(app) and app.session.current_id == "gen1"
        await pilot.press("ctrl+y")
        assert "ZZTOP" in screen_text(app)
        app.engine.delete("gen2")
        app.refresh_all()
        panel = app.query_one(TreePanel)
        assert "gen2" not in panel._shown
        await pilot.press("ctrl+z")
        assert "gen2" in panel._shown  # the tree panel shows it again


async def test_with_the_tree_panel_focused_the_keys_act_on_its_highlighted_node(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(TreePanel)
        panel.focus()
        await pilot.pause()
        panel.move_cursor(panel._shown["gen2"][0])
        await pilot.pause()
        assert app.view.current_unit().node_id == "gen1"  # the document shows gen1
        await pilot.press("delete")  # one node: no question
        assert "gen2" not in app.session and "gen1" in app.session
        await pilot.press("ctrl+z")
        assert "gen2" in app.session
    store.close()
