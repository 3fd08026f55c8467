"""The tree panel: every node, with bookmarks, labels and visited marks."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree

from ...core.display import visible
from ...core.tree import Node, Session


def node_label(node: Node, current: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    mark = "★" if node.bookmark else ("•" if node.visited else "·")
    text.append(mark + " ", style="bold" if node.bookmark else "dim")
    if node.label:
        text.append(visible(node.label, keep_newlines=False) + ": ", style="italic")
    head = node.plain[:80] if node.tokens is None else "".join(t.text for t in node.tokens[:40])
    body = visible(head, keep_newlines=False).strip()[:24] or (
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

    def show_session(self, session: Session) -> None:
        """Rebuild from the session (iteratively: deep trees are fine)."""
        self.clear()
        path_ids = {n.id for n in session.path(session.current_id)}
        stack = [(self.root, session.root_id)]
        target = None
        while stack:
            parent, nid = stack.pop()
            node = session.nodes[nid]
            item = parent.add(node_label(node, nid == session.current_id), data=nid)
            if nid in path_ids:
                item.expand()
            if nid == session.current_id:
                target = item
            for cid in reversed(node.children):
                stack.append((item, cid))
        self.root.expand()
        if target is not None:
            self.move_cursor(target)
        n = len(session.nodes)
        self.border_title = f"tree ({n} nodes, {len(session.bookmarks())}★)"

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data:
            self.post_message(self.Chosen(event.node.data))
