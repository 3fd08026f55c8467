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
    """Everything :func:`node_label` shows: a label is redrawn only when this changes."""
    return (
        node.bookmark,
        node.visited,
        node.label,
        _head(node),
        node.parent is None,
        bool(node.error),
        current,
        node.origin == "model",
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
        self._items: dict[str, TreeNode[str]] = {}  # session node id -> its line here
        self._kids: dict[str, tuple[str, ...]] = {}  # children as last shown
        self._keys: dict[str, tuple[Any, ...]] = {}  # label content as last shown

    def show_session(self, session: Session) -> None:
        """Bring the panel in line with the session.

        Called after every action, so it works incrementally: nodes that appeared are added
        where they belong, deleted ones removed, and only labels whose content changed are
        redrawn (a full rebuild of thousands of nodes takes a noticeable fraction of a
        second). A new root, or children that changed order, rebuild the whole panel.
        """
        if session.root_id != self._root_id or not self._update(session):
            self._rebuild(session)
        current = session.current_id
        for node in session.path(current):
            item = self._items.get(node.id)
            if item is not None and not item.is_expanded:
                item.expand()
        self.root.expand()
        target = self._items.get(current)
        if target is not None:
            # Line numbers are known once the tree has laid its lines out again.
            self.call_after_refresh(self.move_cursor, target)
        n = len(session.nodes)
        self.border_title = f"tree ({n} nodes, {len(session.bookmarks())}★)"

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
            self._items[cid] = item
            self._kids[cid] = tuple(node.children)
            self._keys[cid] = _label_key(node, is_current)
            for child in reversed(node.children):
                stack.append((item, child, None))

    def _rebuild(self, session: Session) -> None:
        self.clear()
        self._items.clear()
        self._kids.clear()
        self._keys.clear()
        self._root_id = session.root_id
        self._add(session, self.root, session.root_id, None)

    def _update(self, session: Session) -> bool:
        """Apply the session's changes since the last call; False where a rebuild is due."""
        nodes, items = session.nodes, self._items
        gone = [nid for nid in items if nid not in nodes]
        if gone:
            gone_set = set(gone)
            for nid in gone:
                item = items[nid]
                parent = item.parent
                if parent is None or parent.data not in gone_set:
                    item.remove()  # removes its subtree too
            for nid in gone:
                del items[nid]
                self._kids.pop(nid, None)
                self._keys.pop(nid, None)
        current = session.current_id
        for nid, node in list(nodes.items()):
            item = items.get(nid)
            if item is None:
                continue  # new: added with its parent's children below
            kids = tuple(node.children)
            if kids != self._kids[nid]:
                kept = [c for c in kids if c in items]
                before = [c for c in self._kids[nid] if c in items]
                if kept != before:
                    return False  # reordered: rebuild
                for index, cid in enumerate(kids):
                    if cid not in items:
                        at = index if index < len(item.children) else None
                        self._add(session, item, cid, at)
                self._kids[nid] = kids
            key = _label_key(node, nid == current)
            if key != self._keys[nid]:
                item.set_label(node_label(node, nid == current))
                self._keys[nid] = key
        return True

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data:
            self.post_message(self.Chosen(event.node.data))
