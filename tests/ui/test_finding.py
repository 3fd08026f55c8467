"""Finding and judging in the app (ui/finding.py): search and jump (the cursor lands on the
match, highlighted on screen, marked in the tree), escape clears; ratings set by key, shown,
filtered, kept across a save and reopen; going up and back down returns to the same child
after a reopen; bookmark jumps and the bookmark list."""

from __future__ import annotations

import asyncio

from loomtests.story import (
    FOUND,
    HERE,
    bg,
    make,
    reopen,
    search_for,
    story,
    styles_of,
    toasts,
    tree_text,
)
from loomtests.ui import screen_text
from loomtests.words import WordsBackend
from textual import events

from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.store import SessionStore
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.widgets.tree_panel import TreePanel

SIZE = (100, 30)


async def test_search_jumps_to_each_match_highlights_it_and_escape_clears(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "THE CAT")  # case-insensitive by default
        # First match: tokens 0-1 of "cat"; the cursor on " the", its branch shown.
        unit = app.view.current_unit()
        assert (unit.node_id, unit.offset, unit.text) == ("cat", 0, " the")
        assert app.session.current_id == "cat"
        assert "1 of 2" in toasts(app)
        # On screen: the match jumped to in its colours (under the cursor's reverse).
        here = styles_of(app, " cat")
        assert here and all(bg(s) == HERE for s in here)
        # The tree panel marks the two nodes holding a match, not the owl.
        tree = tree_text(app)
        assert tree.count("◉") == 2 and "the cat" in tree
        owl_line = next(line for line in tree.splitlines() if "an owl" in line)
        assert "◉" not in owl_line
        assert "2" in app.query_one(TreePanel).border_subtitle

        await pilot.press("n")  # the next match: in "dog", tokens 4-5
        await pilot.pause()
        unit = app.view.current_unit()
        assert (unit.node_id, unit.offset) == ("dog", 4)
        assert app.session.current_id == "dog" and "2 of 2" in toasts(app)
        assert any(bg(s) == HERE for s in styles_of(app, " cat"))

        await pilot.press("N")  # and back
        await pilot.pause()
        unit = app.view.current_unit()
        assert (unit.node_id, unit.offset) == ("cat", 0)

        await pilot.press("escape")
        await pilot.pause()
        assert "search cleared" in toasts(app)
        assert "◉" not in tree_text(app)
        assert not any(bg(s) in (FOUND, HERE) for s in styles_of(app, " cat"))
        await pilot.press("n")
        await pilot.pause()
        assert "no search to step through (/ searches)" in toasts(app)
    store.close()


async def test_a_match_across_the_prompt_and_a_reply_and_every_match_highlighted(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, r"time\s+an\b", regex=True)
        unit = app.view.current_unit()
        # It starts in the plain prompt (the word "time") and ends in the owl's first token.
        assert unit.node_id == "prompt" and unit.text.strip() == "time"
        assert app.session.current_id == "owl"
        assert styles_of(app, " an") and all(bg(s) == HERE for s in styles_of(app, " an"))
        await search_for(app, pilot, "a")  # many matches: the others in the plain colour
        assert not any(bg(s) in (FOUND, HERE) for s in styles_of(app, " flew"))  # no "a"
        assert any(bg(s) == FOUND for s in styles_of(app, " an"))
    store.close()


async def test_a_bad_regex_is_one_line_and_a_missing_text_says_so(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "(unclosed", regex=True)
        said = [t for t in toasts(app) if "invalid regular expression" in t]
        assert said and "\n" not in said[0]
        await search_for(app, pilot, "zebra")
        assert "no match for 'zebra'" in toasts(app)
        assert app.is_running
    store.close()


async def test_ratings_set_shown_filtered_and_kept_after_reopening(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.session.current_id == "owl"
        await pilot.press("plus")  # the owl: good
        await pilot.pause()
        assert app.session.node("owl").rating == 1
        assert "▲" in next(line for line in tree_text(app).splitlines() if "an owl" in line)
        assert "▲" in str(app.query_one("#branches").get_option_at_index(1).prompt)
        await pilot.press("right_square_bracket")  # to the dog: bad
        await pilot.pause()
        assert app.session.current_id == "dog"
        await pilot.press("minus")
        await pilot.pause()
        assert app.session.node("dog").rating == -1
        await pilot.press("minus")  # the same again clears it
        await pilot.pause()
        assert app.session.node("dog").rating is None and "rating cleared" in toasts(app)
        await pilot.press("minus")
        await pilot.pause()

        await pilot.press("f")  # so-so or better: the owl (and the dog: you stand on it)
        await pilot.pause()
        await pilot.press("left_square_bracket")  # back to the owl, off the dog
        await pilot.pause()
        tree = tree_text(app)
        assert "an owl" in tree and "a dog" not in tree and "the cat" not in tree
        assert "rated ≥ 0" in app.query_one(TreePanel).border_title
        await pilot.press("f")  # good only
        await pilot.press("f")  # every node again
        await pilot.pause()
        tree = tree_text(app)
        assert "a dog" in tree and "the cat" in tree
    store.close()
    saved = load_session(path)
    assert saved.node("owl").rating == 1 and saved.node("dog").rating == -1
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines = tree_text(app).splitlines()
        assert "▲" in next(line for line in lines if "an owl" in line)
        assert "▼" in next(line for line in lines if "a dog" in line)
        assert "◇" not in tree_text(app)
    store.close()


async def test_up_then_down_returns_to_the_same_child_after_a_reopen(tmp_path):
    path = make(tmp_path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("left_square_bracket")  # the owl -> the cat (not the newest)
        await pilot.pause()
        assert app.session.current_id == "cat"
        await pilot.press("less_than_sign")  # up to the prompt
        await pilot.pause()
        assert app.session.current_id == "prompt"
        await pilot.press("greater_than_sign")  # down: the cat again, not the dog
        await pilot.pause()
        assert app.session.current_id == "cat"
        await pilot.press("less_than_sign")
        await pilot.pause()
    store.close()
    assert load_session(path).node("prompt").checked == "cat"
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.session.current_id == "prompt"
        await pilot.press("greater_than_sign")
        await pilot.pause()
        assert app.session.current_id == "cat"
        # The branch panel's choice follows it too: from the root, down to the cat.
        app.navigation.go_to("prompt", descend=True)
        await pilot.pause()
        assert app.session.current_id == "cat"
    store.close()


async def test_bookmark_jumps_and_the_bookmark_list(tmp_path):
    path = tmp_path / "marks.json"
    s = story()
    s.node("cat").bookmark = True
    s.node("dog").bookmark = True
    s.node("dog").label = "chase"
    save_session(s, path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.session.current_id == "owl"
        await pilot.press("apostrophe")  # next bookmark after the owl, in tree order
        await pilot.pause()
        assert app.session.current_id == "dog" and "bookmark 2 of 2" in toasts(app)
        assert app.view.current_unit().node_id == "dog"
        await pilot.press("apostrophe")  # wraps around
        await pilot.pause()
        assert app.session.current_id == "cat"
        await pilot.press("quotation_mark")  # previous: wraps back
        await pilot.pause()
        assert app.session.current_id == "dog"
        await pilot.press("B")
        await pilot.pause()
        listed = screen_text(app)
        assert "Bookmarks (2)" in listed and "chase:" in listed and "the cat" in listed
        await pilot.press("up", "enter")  # the first: the cat
        await pilot.pause()
        assert app.session.current_id == "cat"
    store.close()


async def test_a_pathological_regex_neither_freezes_the_app_nor_runs_forever(tmp_path):
    """``(a|a)+b`` backtracks exponentially on a run of a's: the search runs in a worker
    (the regex engine lets go of the GIL), so keys still move the cursor meanwhile, and it
    stops at its deadline saying so."""
    path = tmp_path / "aaa.json"
    s = Session.new("start")
    s.add_child(s.current_id, plain=" " + "a" * 32 + "!", origin="edit")
    s.goto(s.node(s.current_id).children[0])
    save_session(s, path)
    store, app = reopen(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = app.view.cursor
        await pilot.press("slash")
        await pilot.pause()
        app.screen.query_one("#search-regex").value = True
        await pilot.press(*"(a|a)+b")
        # Keys go in straight to the driver from here: Pilot's press waits until the process
        # is idle, and the worker keeps it busy for the whole search.
        app._driver.send_message(events.Key("enter", "\r"))
        await asyncio.sleep(0.3)
        assert app.workers  # still searching...
        app._driver.send_message(events.Key("home", None))  # ...and the app answers keys
        await asyncio.sleep(0.3)
        assert app.view.cursor == 0 != before and app.workers
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("no match for '(a|a)+b' (stopped: too slow)" in t for t in toasts(app))
    store.close()


async def test_rebound_keys_search_and_the_hints_name_them(tmp_path):
    path = make(tmp_path)
    store = SessionStore.open(path)
    app = make_app(
        store=store,
        backend=WordsBackend(),
        new_session=False,
        config={"keymap": {"search": "ctrl+f", "search-next": "j", "bookmark": "k"}},
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        await pilot.press("apostrophe")
        await pilot.pause()
        said = toasts(app)
        assert "no search to step through (ctrl+f searches)" in said
        assert "no bookmarks (k sets one)" in said
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert "j/N next/previous" in screen_text(app)
        await pilot.press(*"owl", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.view.current_unit().node_id == "owl"
    store.close()


async def test_a_pattern_that_looks_like_markup_is_shown_as_typed(tmp_path):
    store, app = reopen(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await search_for(app, pilot, "[bold]x[/]")
        assert "no match for '[bold]x[/]'" in toasts(app)
        assert "/[bold]x[/]: no match" in tree_text(app)
    store.close()
