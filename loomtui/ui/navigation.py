"""Moving in the tree: to a node, a sibling, the parent, the newest child; bookmarks and
labels; and the points of the tree the token cursor stands for (where ctrl+g generates,
where an instrument starts).

The app owns one :class:`Navigation` and routes the moving keys to it. Every change goes
through the :class:`~loomtui.engine.Engine` (which saves), then ``refresh_all`` brings the
views back in line with the tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..core.tree import Session
from .host import DialogHost

if TYPE_CHECKING:
    from .document import Unit
    from .widgets.token_view import TokenView

#: A point of the tree: ``(node_id, offset)``; None: the node's end.
Point = tuple[str, int | None]


class NavigationHost(DialogHost, Protocol):
    """What a :class:`Navigation` needs from the app that holds it."""

    @property
    def view(self) -> TokenView: ...


class Navigation:
    """The token cursor's place in the tree, and the moves from it."""

    def __init__(self, host: NavigationHost) -> None:
        self.host = host

    @property
    def session(self) -> Session:
        return self.host.session

    # ------------------------------------------------------------------ points
    def unit(self) -> Unit | None:
        return self.host.view.current_unit()

    def cursor_node(self) -> str:
        """The node under the token cursor (the current node in an empty document)."""
        unit = self.unit()
        return unit.node_id if unit else self.session.current_id

    def cursor_point(self) -> Point:
        """``(node_id, offset)`` of the unit under the token cursor (end of the current node
        when the document is empty). Instruments start here."""
        unit = self.unit()
        if unit is None:
            return self.session.current_id, None
        return unit.node_id, unit.offset

    def generation_point(self) -> Point:
        """Where ctrl+g generates from (and where instruments that continue text start):
        just after the unit under the token cursor (None for a node's end), or the end of
        the current node in an empty document."""
        unit = self.unit()
        if unit is None or unit.node_id not in self.session:
            return self.cursor_node(), None
        if unit.end >= len(self.session.node(unit.node_id)):
            return unit.node_id, None
        return unit.node_id, unit.end

    # ------------------------------------------------------------------ moves
    def show_point(self, node_id: str, at: int) -> None:
        """Put the token cursor on unit ``at`` of ``node_id`` (when it is shown)."""
        view = self.host.view
        idx = view.layout_.unit_at_point(node_id, at)
        if idx is not None:
            view.move_cursor(idx)

    def go_to(self, node_id: str, *, descend: bool) -> None:
        """Show the branch through ``node_id``, with the cursor at that node's start."""
        if self.host.busy() or node_id not in self.session:
            return
        target = self.session.descend(node_id) if descend else self.session.node(node_id)
        self.host.engine.checkout(target.id)  # each node above remembers the way down
        self.session.node(node_id).visited = True
        self.host.refresh_all()
        self.show_point(node_id, 0)

    def sibling(self, step: int) -> None:
        """The next (``step`` 1) or previous (-1) alternate at the branch point."""
        from .widgets.branches import branch_point

        point = branch_point(self.session, self.cursor_node())
        self.go_to(self.session.sibling(point.id, step).id, descend=True)

    def parent(self) -> None:
        """Up one node; never above the root, nor above a hoisted subtree's root (z)."""
        parent = self.session.parent(self.session.current_id)
        hoisted = self.session.current_id == self.session.meta.get("hoist")
        if parent is not None and parent.parent is not None and not hoisted:
            self.go_to(parent.id, descend=False)

    def child(self) -> None:
        """Down to the child last gone to ("checked out"), else the newest shown one."""
        current = self.session.current
        kids = [n for n in self.session.children(current.id) if not n.hidden]
        if kids:
            back = [n for n in kids if n.id == current.checked]
            self.go_to((back or [max(kids, key=lambda n: n.created)])[0].id, descend=False)

    # ------------------------------------------------------------------ marks
    def bookmark(self) -> None:
        """Toggle the bookmark of the node under the cursor."""
        node = self.session.node(self.cursor_node())
        self.host.engine.set_bookmark(node.id, not node.bookmark)
        self.host.refresh_all(cursor=self.host.view.cursor)
        self.host.notify("bookmarked" if node.bookmark else "bookmark removed", timeout=2)

    def label(self) -> None:
        """Ask for a label for the node under the cursor."""
        from .screens.prompt import PromptScreen

        node_id = self.cursor_node()

        def done(value: str | None) -> None:
            if value is not None:
                self.host.engine.set_label(node_id, value)
                self.host.refresh_all(cursor=self.host.view.cursor)

        current = self.session.node(node_id).label or ""
        self.host.push_screen(PromptScreen("Label for this node", current), done)
