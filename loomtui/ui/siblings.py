"""Siblings ordered and thinned, in the app: sort the alternates at the branch point nearest
the cursor (each press the next key), merge identical ones, hide one by hand or every one
below a threshold, and show hidden nodes again (dimmed, so they can be unhidden).

The app owns one :class:`Siblings`; every tree change goes through the
:class:`~loomtui.engine.Engine` (which saves), the numbers and rules come from
:mod:`loomtui.core.siblings`. Whether hidden nodes are shown is a view setting held here:
the tree and branch panels read :attr:`Siblings.show_hidden`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..core.siblings import SORT_KEYS, prune_selection, sort_key
from ..core.tree import Node, TreeError
from .host import DialogHost

if TYPE_CHECKING:
    from .navigation import Navigation
    from .widgets.token_view import TokenView

#: How each sort key is said in a toast.
_SAID = {
    "joint_logprob": "joint logprob",
    "mean_logprob": "mean logprob",
    "confidence": "confidence",
    "length": "length",
    "created": "creation",
    "rating": "rating",
}


class SiblingsHost(DialogHost, Protocol):
    """What a :class:`Siblings` needs from the app that holds it."""

    navigation: Navigation

    @property
    def view(self) -> TokenView: ...

    @property
    def focused(self) -> Any: ...

    def keys_of(self, binding_id: str, default: str | None = None) -> str: ...


class Siblings:
    """Sort, dedup, hide/prune and unhide the alternates at a branch point."""

    PRUNE_QUESTION = (
        "Hide the alternates here (and below) whose value is below a threshold: "
        "type X (mean logprob) or KEY X, KEY one of {keys}"
    )

    def __init__(self, host: SiblingsHost) -> None:
        self.host = host
        #: Hidden nodes are in the panels (dimmed) and can be unhidden; off: left out.
        self.show_hidden = False
        self._sort_at = -1  # the last sort key used (the next press takes the next one)

    # ------------------------------------------------------------------ where
    def _point(self) -> tuple[Node, bool]:
        """The alternate the keys act on, and whether it is one a person pointed at (which
        ``h`` may hide): the node highlighted in the tree panel when it has the focus, else
        the branch point nearest the token cursor; where nothing branches above the cursor
        but its node has alternates below it (the view just left a hidden branch), the
        first of those, not pointed at."""
        from .widgets.branches import branch_point, shown_siblings
        from .widgets.tree_panel import TreePanel

        session = self.host.session
        focused = self.host.focused
        if isinstance(focused, TreePanel) and focused.cursor_node is not None:
            nid = focused.cursor_node.data
            if nid and nid in session:
                return session.node(nid), True
        here = self.host.navigation.cursor_node()
        point = branch_point(session, here, self.show_hidden)
        if len(shown_siblings(session, point.id, self.show_hidden)) > 1:
            return point, True
        below = [n for n in session.children(here) if self.show_hidden or not n.hidden]
        return (below[0], False) if len(below) > 1 else (point, False)

    def act(self, what: str) -> None:
        """One of the keys: ``sort``, ``dedup``, ``hide``, ``shown``, ``prune``."""
        if what == "shown":
            self.toggle_shown()
            return
        if self.host.busy():
            return
        node, pointed = self._point()
        if node.parent is None or (what == "hide" and not pointed):
            keys = self.host.keys_of("toggle-side")
            self.host.notify(
                f"no alternate here to {what}: put the cursor on a branch that has siblings, "
                f"or pick the node in the tree panel ({keys} shows it)",
                timeout=4,
            )
            return
        {"sort": self.sort, "dedup": self.dedup, "hide": self.hide, "prune": self.prune}[what](node)

    # ------------------------------------------------------------------ actions
    def sort(self, node: Node) -> None:
        """Order ``node`` and its siblings by the next sort key (its own direction)."""
        host = self.host
        assert node.parent is not None
        names = list(SORT_KEYS)
        self._sort_at = (self._sort_at + 1) % len(names)
        key = sort_key(names[self._sort_at])
        host.engine.sort_children(node.parent, key.name)
        host.refresh_all(cursor=host.view.cursor)
        order = "highest first" if key.descending else "lowest first"
        if key.name == "created":
            order = "oldest first"
        host.notify(f"alternates sorted by {_SAID.get(key.name, key.name)}, {order}", timeout=3)

    def dedup(self, node: Node) -> None:
        """Merge the identical alternates at this branch point."""
        host = self.host
        assert node.parent is not None
        merges = host.engine.dedup(node.parent)
        host.refresh_all()
        if not merges:
            host.notify("no identical alternates here", timeout=3)
            return
        gone = sum(len(g) for _, g in merges)
        counts = ", ".join(f"×{host.session.node(k).count}" for k, _ in merges)
        host.notify(f"merged {gone} identical alternate(s): {counts}", timeout=4)

    def hide(self, node: Node) -> None:
        """Hide this alternate (or, when it is hidden and shown dimmed, show it again)."""
        host = self.host
        hidden = not node.hidden
        host.engine.set_hidden([node.id], hidden)
        host.refresh_all()
        if hidden:
            keys = self.host.keys_of("show-hidden")  # as the keymap has it
            what = "hidden" if self.show_hidden else f"hidden ({keys} shows hidden nodes)"
            host.notify(what, timeout=3)
        else:
            host.notify("shown again", timeout=2)

    def prune(self, node: Node) -> None:
        """Ask for a threshold, then hide the alternates under this branch point's parent
        whose value is below it."""
        from .screens.prompt import PromptScreen

        assert node.parent is not None
        under = node.parent
        question = self.PRUNE_QUESTION.format(keys=", ".join(SORT_KEYS))
        self.host.push_screen(PromptScreen(question), lambda text: self.prune_below(under, text))

    def prune_below(self, under: str, answer: str | None) -> None:
        """Hide the alternates under ``under`` below the threshold ``answer`` says."""
        host = self.host
        if not answer or not answer.strip() or under not in host.session:
            return
        words = answer.split()
        key = words[0] if len(words) == 2 else "mean_logprob"
        try:
            below = float(words[-1])
            if len(words) > 2:
                raise ValueError
            ids = prune_selection(host.session, key, below, under)
        except ValueError:
            host.notify("type a number, or a key and a number", severity="warning", timeout=4)
            return
        except TreeError as exc:
            host.notify(str(exc), severity="warning", timeout=5)
            return
        changed = host.engine.set_hidden(ids, True)
        host.refresh_all()
        host.notify(f"{len(changed)} alternate(s) with {key} below {below:g} hidden", timeout=4)

    def toggle_shown(self) -> None:
        """Show hidden nodes (dimmed) in the panels, or leave them out again (the view then
        leaves a hidden branch for its nearest shown ancestor)."""
        self.show_hidden = not self.show_hidden
        session = self.host.session
        path = session.path(session.current_id)
        first = next((i for i, n in enumerate(path) if n.hidden), None)
        if not self.show_hidden and first is not None and not self.host.busy():
            self.host.navigation.go_to(path[first - 1].id, descend=False)
        self.host.refresh_all()
        self.host.notify(
            f"hidden nodes shown (dimmed; {self.host.keys_of('hide')} on one shows it again)"
            if self.show_hidden
            else "hidden nodes left out",
            timeout=3,
        )
