"""The tree panel updates itself incrementally; after any run of tree operations it must show
exactly what a panel built from scratch shows, and it must be fast on big trees."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult

from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui.widgets.tree_panel import TreePanel


class TwoPanels(App[None]):
    def compose(self) -> ComposeResult:
        yield TreePanel(id="live")
        yield TreePanel(id="fresh")


def _shape(panel: TreePanel) -> list[tuple[int, str, str, bool]]:
    """(depth, node id, label text, expanded) for every line the panel shows, in order (the
    children of a collapsed node are not shown, and a lazy panel may not have built them)."""
    out = []
    stack = [(panel.root, -1)]
    while stack:
        item, depth = stack.pop()
        if depth >= 0:
            out.append((depth, item.data, item.label.plain, item.is_expanded))
        if item.is_expanded or depth < 0:
            for child in reversed(item.children):
                stack.append((child, depth + 1))
    return out


def _open_like(fresh: TreePanel, live: TreePanel, s: Session) -> None:
    """Expand in ``fresh`` every node that ``live`` shows expanded (top-down)."""
    for _, nid, _, expanded in _shape(live):
        if expanded:
            item = fresh.reveal(s, nid, expand=True)
            assert item is not None, nid


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
            # A panel keeps what was opened: open the same nodes in the fresh one; then
            # lines, labels and expansion may not differ.
            _open_like(fresh, live, s)
            got, want = _shape(live), _shape(fresh)
            assert got == want, f"step {step}"
            # The branch to the current node is open in both.
            path = {n.id for n in s.path(s.current_id) if n.id != s.current_id}
            assert all(e for _, nid, _, e in got if nid in path)
        await pilot.pause()
        assert live.cursor_node is not None and live.cursor_node.data == s.current_id


async def test_a_big_tree_builds_only_the_lines_it_shows_and_expands_on_demand() -> None:
    """Opening a big tree builds the current branch with its siblings, not every node; a
    collapsed node's children get lines when the user expands it, and a new child under a
    built node appears after the next update."""
    rng = random.Random(0)
    s = Session.new("root")
    ids = [s.current_id]
    for i in range(3000):
        ids.append(s.add_child(rng.choice(ids), tokens=[_tok(i)]).id)
    s.goto(ids[-1])
    app = TwoPanels()
    async with app.run_test(size=(100, 40)) as pilot:
        live = app.query_one("#live", TreePanel)
        live.show_session(s)
        path = s.path(s.current_id)
        want = {s.root_id} | {c for n in path for c in n.children}
        assert set(live._shown) == want  # the branch, each node's children, nothing else
        assert len(want) < 300
        # A collapsed node with children, shown on screen: the user expands it.
        shown = [
            nid for nid in live._shown if s.nodes[nid].children and nid not in {n.id for n in path}
        ]
        target = shown[0]
        live.focus()
        await pilot.pause()
        live.move_cursor(live._shown[target][0])
        await pilot.pause()
        await pilot.press("space")
        await pilot.pause()
        item = live._shown[target][0]
        assert item.is_expanded
        assert [c.data for c in item.children] == s.nodes[target].children
        # A child added under the expanded node shows after the next update.
        new = s.add_child(target, tokens=[_tok(9999)])
        live.show_session(s)
        assert [c.data for c in item.children] == s.nodes[target].children
        assert new.id in live._shown
