"""Siblings ordered and thinned in the app, at 80x24: sort (o, each press the next key),
merge identical alternates (D, ×N in the panels), hide by hand (h) and by threshold (P),
show hidden nodes (H, dimmed) and unhide; hidden nodes survive closing and reopening; the
info line and the entropy strip show confidence with its k."""

from __future__ import annotations

import math

from loomtests.ui import screen_text, settle

from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.siblings import sorted_children
from loomtui.core.store import SessionStore
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.screens.prompt import PromptScreen
from loomtui.ui.widgets.branches import BranchPanel
from loomtui.ui.widgets.tree_panel import TreePanel

SIZE = (80, 24)


def _toks(words: list[str], lp: float, spread: float) -> list[Token]:
    out = []
    for i, word in enumerate(words):
        data = (" " + word).encode()
        top = (
            Alt(" " + word, data, i, lp),
            Alt(" zz", b" zz", 900, lp - spread),
            Alt(" qq", b" qq", 901, lp - 2 * spread),
        )
        out.append(Token(" " + word, data, i, lp, top))
    return out


SPECS = {  # name: (text, logprob per token, top-list spread), made in this order
    "upon": ("upon a time", -1.0, 1.0),
    "there": ("there was", -0.5, 3.0),
    "upon2": ("upon a time", -1.0, 1.0),
    "long": ("long ago far away", -2.5, 0.2),
}


def _session() -> tuple[Session, dict[str, str]]:
    s = Session.new("Once")
    ids = {"prompt": s.current_id}
    for t, (name, (text, lp, spread)) in enumerate(SPECS.items(), start=1):
        node = s.add_child(s.current_id, tokens=_toks(text.split(), lp, spread), model="m")
        node.created, node.finish_reason = float(t), "length"
        ids[name] = node.id
    s.goto(ids["upon"])
    return s, ids


def _open(tmp_path):
    s, ids = _session()
    path = tmp_path / "s.json"
    save_session(s, path)
    store = SessionStore.open(path)
    return path, store, make_app(store=store, new_session=False), ids


def _branch_ids(app) -> list[str]:
    panel = app.query_one(BranchPanel)
    return [panel.get_option_at_index(i).id for i in range(panel.option_count)]


def _tree_ids(app) -> list[str]:
    """The node ids the tree panel lists, top to bottom (expanded lines)."""
    out, stack = [], [app.query_one(TreePanel).root]
    while stack:
        item = stack.pop()
        if item.data:
            out.append(item.data)
        if item.is_expanded:
            stack.extend(reversed(item.children))
    return out


def _toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_sort_cycles_the_keys_and_the_panels_and_file_follow(tmp_path):
    path, store, app, ids = _open(tmp_path)
    prompt = ids["prompt"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = _branch_ids(app)
        assert before == [ids[n] for n in SPECS]
        await pilot.press("o")  # joint logprob, highest first
        await settle(pilot)
        want = sorted_children(app.session, prompt, "joint_logprob")
        assert want == [ids["there"], ids["upon"], ids["upon2"], ids["long"]]
        assert app.session.node(prompt).children == want
        assert _branch_ids(app) == want
        assert "sorted by joint logprob, highest first" in _toasts(app)[-1]
        assert [n for n in _tree_ids(app) if n in want] == want
        for _ in range(2):  # mean logprob, then confidence
            await pilot.press("o")
            await settle(pilot)
        assert "sorted by confidence" in _toasts(app)[-1]
        # confidence = −mean(lp, lp−s, lp−2s) = s − lp: there 3.5, long 2.7, upon 2.0
        assert _branch_ids(app) == [ids["there"], ids["long"], ids["upon"], ids["upon2"]]
        assert app.session.current_id == ids["upon"]  # the view stays where it was
        shown = _branch_ids(app)
    store.close()
    assert load_session(path).node(prompt).children == shown


async def test_dedup_merges_identical_alternates_and_shows_the_count(tmp_path):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)
        assert _branch_ids(app) == [ids["upon"], ids["there"], ids["long"]]
        assert "merged 1 identical alternate(s): ×2" in _toasts(app)[-1]
        text = screen_text(app)
        assert "×2" in text  # the tree and branch panels both say how often it was drawn
        assert ids["upon2"] not in app.session
    store.close()
    back = load_session(path)
    assert back.node(ids["upon"]).count == 2 and ids["upon2"] not in back


async def test_hide_show_hidden_and_unhide_survive_closing_and_reopening(tmp_path):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")  # the alternate the cursor is on: "upon"
        await settle(pilot)
        s = app.session
        assert s.node(ids["upon"]).hidden
        assert s.current_id == ids["prompt"]  # moved off the hidden branch, to its parent
        assert ids["upon"] not in _tree_ids(app) and ids["upon"] not in _branch_ids(app)
        # The sibling keys never land on it.
        app.navigation.go_to(ids["there"], descend=True)
        for _ in range(4):
            await pilot.press("right_square_bracket")
            await settle(pilot)
            assert s.current_id != ids["upon"]
    store.close()
    assert load_session(path).node(ids["upon"]).hidden  # kept in the file, hidden

    store = SessionStore.open(path)
    app = make_app(store=store, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert ids["upon"] in app.session and ids["upon"] not in _tree_ids(app)
        await pilot.press("H")  # show hidden nodes, dimmed
        await settle(pilot)
        panel = app.query_one(TreePanel)
        assert ids["upon"] in _tree_ids(app)
        line = panel.reveal(app.session, ids["upon"])
        assert "strike" in str(line.label.spans) or any(
            "dim" in str(sp.style) for sp in line.label.spans
        )
        # Shown, a hidden branch can be gone to; leaving hidden nodes out again moves the
        # view off it, to its nearest shown ancestor.
        panel.focus()
        panel.move_cursor(line)
        await pilot.pause()
        await pilot.press("enter")  # the tree panel's choice goes there
        await settle(pilot)
        assert app.session.current_id == ids["upon"]
        await pilot.press("H")
        await settle(pilot)
        assert app.session.current_id == ids["prompt"]
        await pilot.press("H")
        await settle(pilot)
        line = panel.reveal(app.session, ids["upon"])
        panel.focus()
        panel.move_cursor(line)
        await pilot.pause()
        await pilot.press("h")  # on the tree panel's node: shown again
        await settle(pilot)
        assert not app.session.node(ids["upon"]).hidden
        assert "shown again" in _toasts(app)[-1]
        await pilot.press("H")
        await settle(pilot)
        assert ids["upon"] in _tree_ids(app)
    store.close()
    assert not load_session(path).node(ids["upon"]).hidden


async def test_prune_by_threshold_hides_the_weak_alternates(tmp_path):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("-", "2", "enter")  # mean logprob below -2: "long" (-2.5)
        await settle(pilot)
        assert app.session.node(ids["long"]).hidden
        assert [app.session.node(n).hidden for n in (ids["upon"], ids["there"])] == [0, 0]
        assert ids["long"] not in _branch_ids(app) and ids["long"] not in _tree_ids(app)
        assert "1 alternate(s) with mean_logprob below -2 hidden" in _toasts(app)[-1]
        await pilot.press("P")
        await pilot.pause()
        await pilot.press(*"confidence 2.1", "enter")  # upon, upon2 (2.0)
        await settle(pilot)
        assert app.session.node(ids["upon2"]).hidden and app.session.node(ids["upon"]).hidden
        assert ids["upon"] not in _tree_ids(app) and ids["upon2"] not in _tree_ids(app)
        assert app.session.current_id == ids["prompt"]  # "upon" was current: moved up
    store.close()
    back = load_session(path)
    assert {n for n in ids.values() if back.node(n).hidden} == {
        ids["long"],
        ids["upon"],
        ids["upon2"],
    }


async def test_the_info_line_shows_confidence_with_its_k(tmp_path):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.navigation.go_to(ids["there"], descend=True)
        await settle(pilot)
        app.navigation.show_point(ids["there"], 1)
        await pilot.pause()
        text = screen_text(app)
        want = -sum(a.logprob for a in app.session.node(ids["there"]).tokens[1].top) / 3
        assert math.isclose(want, 3.5)
        assert "conf(k=3)=3.50" in text
    store.close()


async def test_the_entropy_strip_draws_confidence_as_a_second_trace_that_fits(tmp_path):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")  # the entropy strip
        await settle(pilot)
        text = screen_text(app)
        line = "confidence (−mean top-k logprob, k=3): mean 2.00, min 2.00"
        assert line in text
        assert all(len(row) <= SIZE[0] for row in text.splitlines())
    store.close()


async def test_a_rating_filter_still_leaves_hidden_nodes_out(tmp_path):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.engine.set_rating(ids["long"], 1)
        app.engine.set_rating(ids["there"], 1)
        app.engine.set_hidden([ids["long"]], True)
        app.query_one(TreePanel).filter_rating(1)
        app.refresh_all()
        await settle(pilot)
        listed = _tree_ids(app)
        assert ids["there"] in listed and ids["long"] not in listed
    store.close()


async def test_the_hints_name_the_keys_as_the_keymap_has_them(tmp_path):
    s, ids = _session()
    app = make_app(session=s, new_session=False, config={"keymap": {"show-hidden": "V"}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        assert _toasts(app)[-1] == "hidden (V shows hidden nodes)"
        await pilot.press("V")
        await settle(pilot)
        assert _toasts(app)[-1] == "hidden nodes shown (dimmed; h on one shows it again)"


async def test_after_hiding_the_keys_act_on_the_alternates_below_and_h_never_hides_the_prompt(
    tmp_path,
):
    path, store, app, ids = _open(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")  # hides "upon"; the view moves up to the prompt
        await settle(pilot)
        assert app.session.current_id == ids["prompt"]
        await pilot.press("h")  # nothing branches above the prompt: refused, not hidden
        await settle(pilot)
        assert not app.session.node(ids["prompt"]).hidden
        assert _toasts(app)[-1].startswith("no alternate here to hide")
        await pilot.press("o")  # the prompt's alternates, sorted by joint logprob
        await settle(pilot)
        kids = app.session.node(ids["prompt"]).children
        assert kids == sorted_children(app.session, ids["prompt"], "joint_logprob")
        assert kids[0] == ids["there"]
    store.close()
