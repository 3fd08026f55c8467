"""A search shown stays true after the tree changes (ui/finding.py): after a delete, a split,
an undo, a new node or a generation the search runs again, the marks in the tree panel and
the highlights in the document are those of the tree as it is now, "i of N" counts the
matches there are, the match jumped to stays the current one while it exists (the cursor
is not moved), and when it is gone the next key goes to the match now in its place."""

from __future__ import annotations

from loomtests.story import FOUND, HERE, bg, make, reopen, search_for, story, styles_of, toasts
from loomtests.ui import wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.core.search import search
from loomtui.core.store import SessionStore
from loomtui.ui.app import make_app
from loomtui.ui.finding import _Places
from loomtui.ui.widgets.tree_panel import TreePanel

SIZE = (100, 30)


def marks(app) -> set[str]:
    return set(app.query_one(TreePanel).found)


def subtitle(app) -> str:
    return str(app.query_one(TreePanel).border_subtitle)


async def settle(app, pilot) -> None:
    """The change's run again: queued on the app's thread, then its worker."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_deleting_the_match_shown_recounts_and_n_goes_to_the_one_left(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "cat")  # " cat" in "cat" (1 of 2) and in "dog"
        assert "1 of 2" in subtitle(app) and marks(app) == {"cat", "dog"}
        assert app.session.current_id == "cat"
        await pilot.press("delete")  # the node holding the match shown (a leaf: no question)
        await settle(app, pilot)
        assert "cat" not in app.session
        assert marks(app) == {"dog"}  # no mark left on a node that is gone
        assert subtitle(app).endswith(": 1 match")
        assert any("the match shown changed: 1 now" in t for t in toasts(app))
        await pilot.press("n")
        await pilot.pause()
        assert "1 of 1" in toasts(app)
        unit = app.view.current_unit()
        assert (unit.node_id, unit.offset) == ("dog", 5)
        await pilot.press("delete")  # the last match goes too
        await settle(app, pilot)
        assert marks(app) == set() and subtitle(app).endswith(": no match")
        assert "no match left for 'cat'" in toasts(app)
        assert not any(bg(s) in (FOUND, HERE) for s in styles_of(app, " cat"))
    store.close()


async def test_the_match_shown_stays_current_through_a_split_and_its_undo(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "cat")
        await pilot.press("n")  # 2 of 2: " cat" in "dog", token 5
        await pilot.pause()
        assert "2 of 2" in subtitle(app)
        # The dog's node split before " ran" (as `|` does): the match now ends in the tail.
        app.engine.split("dog", 2)
        app.refresh_all()
        await settle(app, pilot)
        tail = app.session.node("dog").children[0]
        assert marks(app) == {"cat", tail}  # "dog" itself (" a dog") holds no match now
        assert "2 of 2" in subtitle(app)  # still the one shown, still counted right
        assert app.view._found_here == {tail: [(3, 4)]}  # highlighted where it is now
        assert any(bg(s) == HERE for s in styles_of(app, " cat"))
        await pilot.press("ctrl+z")  # undo the split
        await settle(app, pilot)
        assert tail not in app.session
        assert marks(app) == {"cat", "dog"} and "2 of 2" in subtitle(app)
        assert app.view._found_here == {"dog": [(5, 6)]}
    store.close()


async def test_a_new_match_before_the_one_shown_moves_its_number(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "cat")
        await pilot.press("n")
        await pilot.pause()
        assert "2 of 2" in subtitle(app)
        cursor = app.view.cursor
        # A new node under "cat" (before "dog" in tree order) with a third match.
        new = app.engine.add("cat", None, plain=" and a cat", origin="edit", goto=False)
        app.refresh_all(cursor=cursor)
        await settle(app, pilot)
        assert marks(app) == {"cat", "dog", new.id}
        assert "3 of 3" in subtitle(app)  # the same match, now the third of three
        assert app.session.current_id == "dog" and app.view.cursor == cursor  # not moved
        await pilot.press("N")
        await pilot.pause()
        assert "2 of 3" in toasts(app) and app.view.current_unit().node_id == new.id
    store.close()


async def test_a_generation_is_searched_when_it_ends(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "mat")  # nowhere yet
        assert subtitle(app).endswith(": no match")
        app.engine.set_rating("owl", 1)  # a change that brings none: not told again
        await settle(app, pilot)
        assert toasts(app).count("no match for 'mat'") == 1
        assert not any("no match left" in t for t in toasts(app))
        await pilot.press("ctrl+g")  # the fake model writes " the cat sat on a mat..."
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        made = [n.id for n in app.session.nodes.values() if "mat" in n.text]
        assert made and marks(app) == set(made)
        count = sum(app.session.node(nid).text.count("mat") for nid in made)
        assert count > 1 and subtitle(app).endswith(f": {count} matches")
        assert any(bg(s) == FOUND for s in styles_of(app, " mat"))
    store.close()


async def test_escape_then_a_change_brings_no_search_back(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "cat")
        await pilot.press("escape")
        await pilot.pause()
        app.engine.add("cat", None, plain=" and a cat", origin="edit", goto=False)
        app.refresh_all()
        await settle(app, pilot)
        assert marks(app) == set() and subtitle(app) == ""
        assert not any(bg(s) in (FOUND, HERE) for s in styles_of(app, " cat"))
    store.close()


async def test_a_generation_inside_a_match_node_moves_the_marks_as_it_starts(tmp_path):
    """Generating from inside "dog" splits it: while the tokens still stream the marks and
    the highlight already sit on the tail that now holds the match, and at the end the new
    text's matches are counted, the match shown still the current one."""
    store = SessionStore.open(make(tmp_path))
    app = make_app(store=store, backend=WordsBackend(delay=0.25), new_session=False)
    app.settings = GenerationSettings(max_tokens=6, n=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "cat")
        await pilot.press("n")  # 2 of 2: " cat" in "dog", token 5
        await pilot.pause()
        app.generation.start("dog", 2)  # as ctrl+g with the cursor after " dog"
        tail = None
        for _ in range(40):
            await pilot.pause(0.05)
            kids = app.session.node("dog").children
            if kids and marks(app) == {"cat", kids[0]}:
                tail = kids[0]
                break
        assert tail is not None and app.generation.running  # moved while it streams
        assert "2 of 2" in subtitle(app) and app.view._found_here == {tail: [(3, 4)]}
        await wait_idle(app, pilot)
        await settle(app, pilot)
        new = [c for c in app.session.node("dog").children if c != tail][0]
        assert marks(app) == {"cat", tail, new}  # the fake model wrote " the cat sat..."
        assert "2 of 3" in subtitle(app)
    store.close()


def test_a_matchs_place_is_its_units_from_the_root_on_its_branch_and_a_split_keeps_it():
    s = story()

    def places() -> dict[str, int]:
        p = _Places(s)  # one instance for every match: each node's place computed once
        return {m.node_id: p.anchor(m)[1] for m in search(s, "cat").matches}

    def brute() -> dict[str, int]:
        return {
            m.node_id: sum(len(n) for n in s.path(m.start[0])[:-1]) + m.start[1]
            for m in search(s, "cat").matches
        }

    before = places()
    assert before == brute() == {"cat": 17, "dog": 21}  # "Once upon a time" is 16 units
    s.split("dog", 2)
    s.split("prompt", 4)
    after = places()
    assert after == brute() and sorted(after.values()) == [17, 21]
