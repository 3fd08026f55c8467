"""The tree panel: every node, with bookmarks, labels and visited marks."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...core.display import visible
from ...core.tree import Node, Session


def _head(node: Node) -> str:
    return node.plain[:80] if node.tokens is None else "".join(t.text for t in node.tokens[:40])


def _label_key(node: Node, current: bool) -> tuple[Any, ...]:
    """Everything :func:`node_label` shows: a label is redrawn only when this changes.

    Built for every node on every update, so it is cheap: the head text stands as the
    segment itself (its tokens list and length, or its plain string) rather than the
    joined head. A tokens list is replaced on a split and only grows or shrinks in place,
    so the list and its length change whenever its head can."""
    tokens = node.tokens
    return (
        node.bookmark,
        node.visited,
        node.label,
        node.plain if tokens is None else tokens,
        -1 if tokens is None else len(tokens),
        node.parent is None,
        node.error,
        current,
        node.origin,
    )


def node_label(node: Node, current: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    mark = "★" if node.bookmark else ("•" if node.visited else "·")
    text.append(mark + " ", style="bold" if node.bookmark else "dim")
    if node.label:
        text.append(visible(node.label, keep_newlines=False) + ": ", style="italic")
    body = visible(_head(node), keep_newlines=False).strip()[:24] or (
        "(root)" if node.parent is None else "(empty)"
    )
    if node.error:
        body = "✗ " + body
    text.append(body, style="reverse" if current else ("" if node.origin == "model" else "cyan"))
    return text


class TreePanel(Tree[str]):
    """The session tree; enter on a node goes there."""

    DEFAULT_CSS = "TreePanel { height: 1fr; border: round $primary-darken-1; overflow-x: hidden; }"

    class Chosen(Message):
        def __init__(self, node_id: str) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, **kw) -> None:
        super().__init__(Text("session"), **kw)
        self.border_title = "tree"
        self.show_root = False
        self.guide_depth = 2
        self._root_id: str | None = None
        #: session node id -> [its line here, its children as last shown, its label's
        #: content as last shown (:func:`_label_key`)]: one record, so the pass over every
        #: node after each action looks each id up once.
        self._shown: dict[str, list[Any]] = {}
        self._marks = 0  # bookmarks in the session, counted by _update

    def show_session(self, session: Session) -> None:
        """Bring the panel in line with the session.

        Called after every action, so it works incrementally: nodes that appeared are added
        where they belong, deleted ones removed, and only labels whose content changed are
        redrawn (a full rebuild of thousands of nodes takes a noticeable fraction of a
        second). A new root, or children that changed order, rebuild the whole panel.
        """
        if session.root_id != self._root_id or not self._update(session):
            self._rebuild(session)
            self._marks = sum(1 for n in session.nodes.values() if n.bookmark)
        current = session.current_id
        for node in session.path(current):
            rec = self._shown.get(node.id)
            if rec is not None and not rec[0].is_expanded:
                rec[0].expand()
        if not self.root.is_expanded:
            self.root.expand()  # expanding again would lay out every line again
        rec = self._shown.get(current)
        if rec is not None:
            # Line numbers are known once the tree has laid its lines out again.
            self.call_after_refresh(self.move_cursor, rec[0])
        n = len(session.nodes)
        self.border_title = f"tree ({n} nodes, {self._marks}★)"

    def _add(self, session: Session, parent: TreeNode[str], nid: str, before: int | None) -> None:
        """Add ``nid`` and its subtree under ``parent`` (iteratively: deep trees are fine)."""
        current = session.current_id
        stack: list[tuple[TreeNode[str], str, int | None]] = [(parent, nid, before)]
        while stack:
            under, cid, at = stack.pop()
            node = session.nodes[cid]
            is_current = cid == current
            label = node_label(node, is_current)
            item = (
                under.add(label, data=cid) if at is None else under.add(label, data=cid, before=at)
            )
            self._shown[cid] = [item, list(node.children), _label_key(node, is_current)]
            for child in reversed(node.children):
                stack.append((item, child, None))

    def _rebuild(self, session: Session) -> None:
        self.clear()
        self._shown.clear()
        self._root_id = session.root_id
        self._add(session, self.root, session.root_id, None)

    def _update(self, session: Session) -> bool:
        """Apply the session's changes since the last call; False where a rebuild is due.

        One lean pass over the nodes (one lookup per node, no copies, labels' keys without
        their text): it runs after every action, and must stay fast on 50,000 nodes."""
        nodes, shown = session.nodes, self._shown
        if nodes.keys() != shown.keys():
            gone = shown.keys() - nodes.keys()
            for nid in gone:
                item = shown[nid][0]
                parent = item.parent
                if parent is None or parent.data not in gone:
                    item.remove()  # removes its subtree too
            for nid in gone:
                del shown[nid]
        current = session.current_id
        marks = 0
        for nid, node in nodes.items():
            marks += node.bookmark
            rec = shown.get(nid)
            if rec is None:
                continue  # new: added with its parent's children below
            kids = node.children
            if kids != rec[1]:
                kept = [c for c in kids if c in shown]
                before = [c for c in rec[1] if c in shown]
                if kept != before:
                    return False  # reordered: rebuild
                item = rec[0]
                for index, cid in enumerate(kids):
                    if cid not in shown:
                        at = index if index < len(item.children) else None
                        self._add(session, item, cid, at)
                rec[1] = list(kids)
            key = _label_key(node, nid == current)
            if key != rec[2]:
                rec[0].set_label(node_label(node, nid == current))
                rec[2] = key
        self._marks = marks
        return True

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data:
            self.post_message(self.Chosen(event.node.data))
