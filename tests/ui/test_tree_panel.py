"""The tree panel updates itself incrementally; after any run of tree operations it must show
exactly what a panel built from scratch shows, and it must be fast on big trees."""

from __future__ import annotations

import random
import time

from textual.app import App, ComposeResult

from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui.widgets.tree_panel import TreePanel


class TwoPanels(App[None]):
    def compose(self) -> ComposeResult:
        yield TreePanel(id="live")
        yield TreePanel(id="fresh")


def _shape(panel: TreePanel) -> list[tuple[int, str, str, bool]]:
    """(depth, node id, label text, expanded) for every line, in order."""
    out = []
    stack = [(panel.root, -1)]
    while stack:
        item, depth = stack.pop()
        if depth >= 0:
            out.append((depth, item.data, item.label.plain, item.is_expanded))
        for child in reversed(item.children):
            stack.append((child, depth + 1))
    return out


def _tok(i: int) -> Token:
    return Token(f" w{i}", f" w{i}".encode(), i, -1.0)


def _random_op(s: Session, rng: random.Random, step: int) -> None:
    ids = list(s.nodes)
    nid = rng.choice(ids)
    op = rng.choice(
        ["add", "add", "add", "first", "delete", "mark", "label", "goto", "split", "tokens"]
    )
    node = s.nodes[nid]
    if op == "add":
        s.add_child(nid, tokens=[_tok(step), _tok(step + 1)])
    elif op == "first":  # a new child placed before its siblings
        child = s.add_child(nid, tokens=[_tok(step)])
        node.children.remove(child.id)
        node.children.insert(0, child.id)
    elif op == "delete" and node.parent is not None:
        s.delete(nid)
    elif op == "mark":
        s.set_bookmark(nid, not node.bookmark)
    elif op == "label":
        s.set_label(nid, rng.choice([None, "x", f"L{step}"]))
    elif op == "goto":
        s.goto(nid)
    elif op == "split" and node.tokens and len(node.tokens) > 1:
        s.split(nid, 1)
    elif op == "tokens" and node.tokens is not None:
        s.append_tokens(nid, [_tok(step)])
    elif node.error is None and node.parent is not None:
        node.error = "boom"


async def test_incremental_updates_match_a_fresh_build() -> None:
    rng = random.Random(7)
    s = Session.new("root text")
    app = TwoPanels()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one("#live", TreePanel)
        fresh = app.query_one("#fresh", TreePanel)
        live.show_session(s)
        for step in range(300):
            _random_op(s, rng, step)
            live.show_session(s)
            fresh._rebuild(s)
            fresh.show_session(s)
            got, want = _shape(live), _shape(fresh)
            # Expansion may differ (a panel keeps what was opened); lines and labels may not.
            assert [g[:3] for g in got] == [w[:3] for w in want], f"step {step}"
            # The branch to the current node is open in both.
            path = {n.id for n in s.path(s.current_id) if n.id != s.current_id}
            assert all(e for _, nid, _, e in got if nid in path)
        await pilot.pause()
        assert live.cursor_node is not None and live.cursor_node.data == s.current_id


async def test_an_update_of_a_big_tree_is_much_cheaper_than_a_rebuild() -> None:
    rng = random.Random(0)
    s = Session.new("root")
    ids = [s.current_id]
    for i in range(3000):
        ids.append(s.add_child(rng.choice(ids), tokens=[_tok(i)]).id)
    app = TwoPanels()
    async with app.run_test(size=(100, 40)):
        live = app.query_one("#live", TreePanel)
        live.show_session(s)
        start = time.perf_counter()
        live._rebuild(s)
        rebuild = time.perf_counter() - start
        s.goto(ids[-1])
        s.set_bookmark(ids[5])
        start = time.perf_counter()
        live.show_session(s)
        update = time.perf_counter() - start
        # A ratio in one run: the update redraws two labels, the rebuild 3,000.
        assert update < rebuild / 3, (update, rebuild)
