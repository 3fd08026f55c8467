"""The Engine's undo and redo, and its tree surgery (merge, copy a branch, hoist).

:class:`HistoryMethods` is a base of :class:`loomtui.engine.Engine`; :func:`undoable` wraps
every public Engine method (those added later included) so that it runs as one undo step of
the engine's :class:`~loomtui.core.history.History`: a change needs no undo code of its own
(the history sees the nodes it touches). What a step is called comes from
:func:`describe`. Kept apart from engine.py so that file stays about generating.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .core.history import History, HistoryError

if TYPE_CHECKING:
    from .core.tree import Node, Session


class HistoryMethods:
    """Undo, redo and surgery; mixed into the Engine (which gives ``session``, ``history``
    and ``_changed``)."""

    session: Session
    history: History | None
    watchers: list[Callable[[Session], None]]

    def _changed(self, tree: bool = True) -> None:  # pragma: no cover - the Engine's
        raise NotImplementedError

    def _streaming(self) -> None:
        """A generation's nodes are made and its tokens are about to stream: its undo step
        is written as it stands (pending), so a kill while it streams keeps it undoable, and
        the watchers are told (the point may have split a node)."""
        if self.history is not None:
            self.history.mark_pending()
        for watch in list(self.watchers):  # the tree changed (a split, new nodes): told now
            watch(self.session)

    def keep_history(self, history: History | None = None) -> History:
        """Record every change from now on as an undo step (in memory unless ``history``
        has a file: :meth:`over` gives it the session's)."""
        self.history = history or History(self.session)
        return self.history

    # ------------------------------------------------------------------ surgery and undo
    def merge(self, node_id: str, siblings: bool = False) -> Node:
        """Merge ``node_id`` into its parent (siblings move up, each starting with the
        parent's text, only when ``siblings``; see :func:`loomtui.core.surgery.merge`).
        Returns the parent, which becomes current when the node was. Saved."""
        from .core.surgery import merge

        parent = merge(self.session, node_id, siblings=siblings)
        self._changed()
        return parent

    def copy_branch(self, node_id: str, below: bool = True) -> Node:
        """Copy the branch ending at ``node_id`` (and what hangs below it) to a new
        top-level branch; the copy becomes current (:func:`loomtui.core.surgery.
        copy_branch`). Saved."""
        from .core.surgery import copy_branch

        copy = copy_branch(self.session, node_id, below=below)
        self.session.goto(copy.id)
        self._changed()
        return copy

    def set_hoist(self, node_id: str | None) -> None:
        """Show the subtree at ``node_id`` as the whole tree (None: the whole tree again). A
        view, not a change to the tree: kept in the session's meta, never an undo step."""
        if node_id is None or node_id == self.session.root_id:
            self.session.meta.pop("hoist", None)
        else:
            self.session.node(node_id)
            self.session.meta["hoist"] = node_id
        self._changed(tree=False)

    def undo(self, steps: int = 1) -> list[str]:
        """Undo the last ``steps`` changes (fewer when the history has fewer); returns what
        was undone, newest first. Raises :class:`HistoryError` (one line) when nothing can
        be undone; a step that cannot be undone stops there, keeping what was undone."""
        return self._walk_history(steps, undo=True)

    def redo(self, steps: int = 1) -> list[str]:
        """Redo the last ``steps`` undone changes (as :meth:`undo`)."""
        return self._walk_history(steps, undo=False)

    def _walk_history(self, steps: int, *, undo: bool) -> list[str]:
        history = self.history
        if history is None:
            raise HistoryError("this session keeps no undo history")
        done: list[str] = []
        try:
            for _ in range(max(1, steps)):
                if not (history.can_undo() if undo else history.can_redo()):
                    break
                done.append(history.undo() if undo else history.redo())
        except HistoryError as exc:
            if not done:
                raise
            history.warnings.append(f"stopped after {len(done)}: {exc}")  # said, not lost
        if not done:
            raise HistoryError("nothing to undo" if undo else "nothing to redo")
        if self.session.current_id not in self.session:
            self.session.current_id = self.session.root_id
        hoist = self.session.meta.get("hoist")
        if hoist is not None and hoist not in self.session:
            self.session.meta.pop("hoist", None)
        self._changed()
        return done


# --------------------------------------------------------------------------- undo capture
#: Engine methods that change nothing, or that are undo itself: never an undo step.
_NOT_STEPS = frozenset(
    {"over", "require_backend", "find_pick", "save", "keep_history", "undo", "redo", "set_hoist"}
    | {"checkout"}  # moving around: view state only (visited, checked), never a step
)


def describe(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What an undo toast says a step was ("split 3fa2c1 at 5")."""
    node = args[0] if args and isinstance(args[0], str) else kwargs.get("node_id")
    short = f" {node[:6]}" if isinstance(node, str) else ""
    if name == "split" and len(args) > 1:
        return f"split{short} at {args[1]}"
    if name == "generate":
        settings = args[2] if len(args) > 2 else kwargs.get("settings")
        n = getattr(settings, "n", 1)
        return f"generate {n} from{short}"
    words = {
        "edit_branch": "edit",
        "set_bookmark": "bookmark",
        "set_label": "label",
        "apply_scores": "scores",
        "take_back": "an instrument's nodes",
        "copy_branch": "copy",
        "add_turn": "a new turn",
        "set_rating": "rating",
        "sort_children": "sort",
        "set_hidden": "hide",
    }
    return f"{words.get(name, name.replace('_', ' '))}{short}"


def _undoable(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run as one undo step (when the engine keeps a history)."""

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        history = self.history
        if history is None:
            return method(self, *args, **kwargs)
        with history.step(describe(name, args, kwargs)):
            return method(self, *args, **kwargs)

    run.__name__, run.__qualname__, run.__doc__ = name, method.__qualname__, method.__doc__
    run.__wrapped__ = method  # type: ignore[attr-defined]
    return run


def as_one_step(name: str, skip: int = 0) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A function of an engine (its first argument) that makes several Engine changes as one
    undo step: a generate spread over several models, an instrument's run. Its arguments
    after the engine (less the first ``skip``) are described as the Engine method ``name``'s
    (see :func:`describe`)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(engine: Any, *args: Any, **kwargs: Any) -> Any:
            history = engine.history
            if history is None:
                return fn(engine, *args, **kwargs)
            with history.step(describe(name, args[skip:], kwargs)):
                return fn(engine, *args, **kwargs)

        return run

    return wrap


def undoable(cls: type) -> None:
    """Make every public method of ``cls`` and its bases (but :data:`_NOT_STEPS`) one undo
    step: the Engine's changes, those added later included, need no undo code of their own."""
    for klass in reversed(cls.__mro__[:-1]):
        for name, method in list(vars(klass).items()):
            if name.startswith("_") or name in _NOT_STEPS or not callable(method):
                continue
            if getattr(method, "__wrapped__", None) is not None:
                continue  # a base's, already wrapped
            setattr(cls, name, _undoable(name, method))
