"""Tree surgery and undo in the app: split the node at the token cursor, merge a node with its
parent, hoist a subtree (the tree panel shows it as the root) and unhoist, delete a subtree
(asking first when it is more than one node), copy a branch to a new top-level branch; undo
and redo of every change (a toast says what: "undid: split 3fa2c1 at 5").

The app owns one :class:`Surgery` and routes the keys here (``action_surgery('split')``);
every change goes through the :class:`~loomtui.engine.Engine` (which saves and records the
undo step), then ``refresh_all`` brings the views back in line with the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ..core.errors import LoomError
from .host import DialogHost

if TYPE_CHECKING:
    from .navigation import Navigation
    from .widgets.token_view import TokenView


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question (y or enter: yes; n or escape: no)."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; max-width: 100%; height: auto;
        border: round $warning; background: $surface; padding: 0 1; }
    ConfirmScreen Label { width: 100%; }
    ConfirmScreen Horizontal { height: auto; }
    ConfirmScreen Button { min-width: 12; margin-right: 1; }
    """
    AUTO_FOCUS = "#no"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Label(self.question, markup=False)
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class SurgeryHost(DialogHost, Protocol):
    """What a :class:`Surgery` needs from the app that holds it."""

    navigation: Navigation

    @property
    def view(self) -> TokenView: ...

    @property
    def focused(self) -> Any: ...


class Surgery:
    """Split, merge, hoist/unhoist, delete, copy; undo and redo."""

    def __init__(self, host: SurgeryHost) -> None:
        self.host = host

    def target(self) -> str:
        """The node merge, delete, copy and hoist act on: the one highlighted in the tree
        panel when it has the focus, else the one under the token cursor."""
        from .widgets.tree_panel import TreePanel

        focused = self.host.focused
        if isinstance(focused, TreePanel) and focused.cursor_node is not None:
            nid = focused.cursor_node.data
            if nid and nid in self.host.session:
                return str(nid)
        return self.host.navigation.cursor_node()

    def act(self, what: str) -> None:
        """Do ``what`` (one of :data:`ACTIONS`) at the token cursor."""
        if self.host.busy():
            return
        getattr(self, what)()

    def _do(self, change: Callable[[], str | None], *, cursor: bool = False) -> None:
        """Run a change; its toast, or its refusal in one line."""
        host = self.host
        try:
            said = change()
        except LoomError as exc:
            host.notify(str(exc), severity="warning", timeout=5)
            return
        host.refresh_all(cursor=host.view.cursor if cursor else None)
        if said:
            host.notify(said, timeout=3)
        history = host.engine.history
        while history is not None and history.warnings:  # e.g. a change too big to keep
            host.notify(history.warnings.pop(0), severity="warning", timeout=6)

    # ------------------------------------------------------------------ undo
    def undo(self) -> None:
        self._do(lambda: "undid: " + "; ".join(self.host.engine.undo()))

    def redo(self) -> None:
        self._do(lambda: "redid: " + "; ".join(self.host.engine.redo()))

    # ------------------------------------------------------------------ surgery
    def split(self) -> None:
        """Cut the node under the token cursor just after the token there."""
        node_id, offset = self.host.navigation.generation_point()
        if offset is None:
            self.host.notify("already a node boundary here: nothing to split", timeout=3)
            return

        def split() -> str:
            self.host.engine.split(node_id, offset)
            return f"split {node_id[:6]} at {offset}"

        self._do(split, cursor=True)

    def merge(self) -> None:
        """Merge the node under the token cursor into its parent (asking first when it has
        siblings: they move up, each starting with the parent's text)."""
        session, engine = self.host.session, self.host.engine
        node = session.node(self.target())
        parent = session.parent(node.id)
        if parent is None:
            self.host.notify("the root has no parent to merge into", severity="warning")
            return
        others = len(parent.children) - 1

        def merge(siblings: bool) -> str:
            engine.merge(node.id, siblings=siblings)
            return f"merged {node.id[:6]} into {parent.id[:6]}"

        if not others:
            self._do(lambda: merge(False))
            return
        question = (
            f"{node.id[:6]} has {others} sibling(s). Merging moves each of them up beside "
            f"{parent.id[:6]}, starting with a copy of its text (every branch reads as "
            "before). Merge?"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._do(lambda: merge(True))

        self.host.push_screen(ConfirmScreen("merge with siblings", question, "Merge"), answered)

    def delete(self) -> None:
        """Delete the subtree at the node under the token cursor (asking when it is more than
        that one node; undo brings it back)."""
        session, engine = self.host.session, self.host.engine
        node = session.node(self.target())
        if node.parent is None:
            self.host.notify("the root cannot be deleted", severity="warning")
            return
        count = sum(1 for _ in session.walk(node.id))

        def delete() -> str:
            engine.delete(node.id)
            return f"deleted {count} node(s) at {node.id[:6]} (ctrl+z undoes)"

        if count == 1:
            self._do(delete)
            return
        question = (
            f"Delete {node.id[:6]} and the {count - 1} node(s) below it? (undo brings them back)"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._do(delete)

        self.host.push_screen(ConfirmScreen("delete subtree", question, "Delete"), answered)

    def copy(self) -> None:
        """Copy the branch ending at the node under the cursor (and what hangs below it) to
        a new top-level branch, and go there."""
        node_id = self.target()

        def copy() -> str:
            new = self.host.engine.copy_branch(node_id)
            return f"copied the branch to {new.id[:6]} (a new top-level branch)"

        self._do(copy)

    def hoist(self) -> None:
        """Show the subtree at the node under the cursor as the whole tree."""
        node_id = self.target()

        def hoist() -> str:
            self.host.engine.set_hoist(node_id)
            return f"hoisted {node_id[:6]}: the tree shows its subtree (Z shows all)"

        self._do(hoist, cursor=True)

    def unhoist(self) -> None:
        if self.host.session.meta.get("hoist") is None:
            self.host.notify("the whole tree is shown already", timeout=3)
            return

        def unhoist() -> str:
            self.host.engine.set_hoist(None)
            return "the whole tree is shown again"

        self._do(unhoist, cursor=True)


#: What :meth:`Surgery.act` accepts (the keys' actions name them).
ACTIONS = ("undo", "redo", "split", "merge", "delete", "copy", "hoist", "unhoist")
