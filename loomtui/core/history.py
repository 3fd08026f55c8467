"""Undo and redo for every change to a session's tree, captured at one place.

**How a change is captured, without per-operation inverse code.** The session's node table is
a dict (:class:`NodeTable`); while an Engine method runs (:meth:`History.step`, opened around
every public Engine method) it is a :class:`TrackedNodes`, and each node it hands out, adds
or removes on that thread is noted by the open step: the first time a node is seen its
*before-image* is kept (its fields, lists and dicts copied; its token list by reference with
its length and end tokens, since tokens only grow, or get cut into a new list). When the
outermost method returns, the step compares the nodes it saw with their images: the nodes
that changed, were added or were removed (with their *after-images*), and the session's
root, current node and changed meta keys, make one undo step; a method that changed nothing,
or only the view (visited, checked), leaves none. Only the nodes a change touched are looked
at (no pass over the tree), and no token list is copied. Several changes make one step when
an outer block holds them (:func:`loomtui.engine_history.as_one_step`: a generate over
several models, an instrument's run). Undo and redo wait while a change runs on another
thread.

**Undo** puts the before-images back, removes the nodes the step added and restores root,
current node and meta keys; **redo** does the reverse with the after-images. Each first checks
that the tree is still as the step left it (every node's fields but the view state, its token
count and end tokens): a tree changed under the step (edited elsewhere, a change the history
did not see) is refused with one line, never half applied.

A step is a JSON object (:mod:`loomtui.core.historystep`: images, their tokens as runs of
the other side's lists, applying one after checking); :mod:`loomtui.core.historyfile` keeps
the steps beside the session file.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .historystep import (  # noqa: F401 - the step's names are the history's too
    NODE_FIELDS,
    VIEW_FIELDS,
    VIEW_META,
    HistoryError,
    _Capture,
    apply_step,
    encode_step,
)
from .tree import Node, Session

#: Steps kept (the oldest are forgotten beyond this).
MAX_STEPS = 100


# --------------------------------------------------------------------------- the node table
class NodeTable(dict):  # type: ignore[type-arg]
    """The session's ``nodes`` dict while no step is open: a dict at a dict's speed. A step
    turns it into a :class:`TrackedNodes` (the same object, another class) until it ends."""

    __slots__ = ("steps",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.steps: dict[int, _Capture] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Node]:
        # A copy (e.g. a replay's scratch session) is a plain dict: no step watches it.
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


class TrackedNodes(NodeTable):
    """The node table while a step is open: tells the step of the calling thread about each
    node it gives out, adds or removes (another thread's reads are not its changes)."""

    __slots__ = ()

    def _see(self, key: Any, node: Any) -> None:
        cap = self.steps.get(threading.get_ident())
        if cap is not None:
            cap.see(key, node)

    def __getitem__(self, key: Any) -> Any:
        node = dict.__getitem__(self, key)
        if self.steps:
            self._see(key, node)
        return node

    def get(self, key: Any, default: Any = None) -> Any:
        node = dict.get(self, key, default)
        if self.steps and node is not default:
            self._see(key, node)
        return node

    def __setitem__(self, key: Any, node: Any) -> None:
        if self.steps:
            old = dict.get(self, key)
            if old is not None:
                self._see(key, old)
            cap = self.steps.get(threading.get_ident())
            if cap is not None:
                cap.added(key)
        dict.__setitem__(self, key, node)

    def __delitem__(self, key: Any) -> None:
        if self.steps:
            self._see(key, dict.__getitem__(self, key))
        dict.__delitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        if self.steps and key in self:
            self._see(key, dict.__getitem__(self, key))
        return dict.pop(self, key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, node in dict(*args, **kwargs).items():
            self[key] = node

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self) -> tuple[Any, Any]:
        key = next(reversed(self))
        return key, self.pop(key)

    def clear(self) -> None:
        for key in list(self):
            del self[key]


def track(session: Session) -> NodeTable:
    """Make ``session.nodes`` a :class:`NodeTable` (once; the same dict after)."""
    if not isinstance(session.nodes, NodeTable):
        session.nodes = NodeTable(session.nodes)
    return session.nodes


# --------------------------------------------------------------------------- the history
class History:
    """The undo and redo stacks of one session, with an optional file beside it."""

    def __init__(self, session: Session, file: Any = None, max_steps: int = MAX_STEPS) -> None:
        self.session = session
        self.file = file  # a historyfile.HistoryFile, or None: in memory only
        self.max_steps = max_steps
        self.undo_stack: list[dict[str, Any]] = []
        self.redo_stack: list[dict[str, Any]] = []
        #: one-line notes for the user (a damaged history file, a step too big to keep)
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self.nodes = track(session)
        if file is not None:
            undo, redo, warning = file.load(max_steps)
            self.undo_stack, self.redo_stack = undo[-max_steps:], redo[-max_steps:]
            if warning:
                self.warnings.append(warning)

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Capture what the block changes as one step (nested blocks join the outer one)."""
        ident = threading.get_ident()
        nodes = self.nodes
        steps = nodes.steps
        cap = steps.get(ident)
        if cap is not None:
            cap.depth += 1
            try:
                yield
            finally:
                cap.depth -= 1
            return
        with self._lock:
            cap = steps[ident] = _Capture(self.session)
            cap.label = label
            nodes.__class__ = TrackedNodes
        try:
            yield
        finally:
            with self._lock:
                del steps[ident]
                if not steps:
                    nodes.__class__ = NodeTable  # reads at a dict's speed again
            self._commit(cap, label)

    def mark_pending(self) -> None:
        """Write the step open on this thread as it stands now, as *pending*: a generation
        about to stream (its split and empty nodes made). Its final form replaces it when it
        ends; a kill before that leaves the pending step, whose undo takes the cut nodes
        away (they may have grown since). Only where the history has a file."""
        cap = self.nodes.steps.get(threading.get_ident())
        if cap is None or self.file is None or cap.pending:
            return
        try:
            step = encode_step(cap, cap.label)
        except (HistoryError, ValueError):
            return
        if step is None:
            return
        step["pending"] = True
        with self._lock:
            cap.pending = self.file.write_pending(step)

    def _commit(self, cap: _Capture, label: str) -> None:
        try:
            step = encode_step(cap, label)
        except (HistoryError, ValueError) as exc:
            self.warnings.append(f"this change ({label}) cannot be undone ({exc})")
            step = None
        if cap.pending:
            if step is None:
                if self.file is not None:
                    self.file.mark("drop", self.undo_stack, self.redo_stack)
                return
            step["amends"] = True  # replaces the pending step written when it started
        if step is None:
            return
        with self._lock:
            self.undo_stack.append(step)
            del self.undo_stack[: -self.max_steps]
            self.redo_stack.clear()
            if self.file is not None:
                note = self.file.append(step, self.undo_stack, self.redo_stack)
                if note:
                    self.warnings.append(note)
                    if cap.pending and step.get("memory_only"):
                        self.file.mark("drop", self.undo_stack, self.redo_stack)

    def _idle(self, what: str) -> None:
        """Refuse to undo or redo while a change runs on another thread (an instrument's
        worker, a generation): it would change the tree under that change."""
        if self.nodes.steps:
            raise HistoryError(
                f"a change is under way (a generation or an instrument): {what} when it ends"
            )

    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def undo(self) -> str:
        """Undo the newest step; returns its label. HistoryError when there is none or it
        cannot be undone (then nothing changed)."""
        with self._lock:
            self._idle("undo")
            if not self.undo_stack:
                raise HistoryError("nothing to undo")
            step = self.undo_stack[-1]
            apply_step(self.session, step, undo=True)
            self.undo_stack.pop()
            if step.get("pending"):  # cut short by a kill: what it made is gone for good
                if self.file is not None:
                    self.file.mark("drop", self.undo_stack, self.redo_stack)
                return f"{step.get('label', '')} (cut short: it cannot be redone)"
            self.redo_stack.append(step)
            if self.file is not None:
                self.file.mark("undo", self.undo_stack, self.redo_stack, step)
            return str(step.get("label", ""))

    def redo(self) -> str:
        """Redo the newest undone step; returns its label (HistoryError as :meth:`undo`)."""
        with self._lock:
            self._idle("redo")
            if not self.redo_stack:
                raise HistoryError("nothing to redo")
            step = self.redo_stack[-1]
            apply_step(self.session, step, undo=False)
            self.undo_stack.append(self.redo_stack.pop())
            if self.file is not None:
                self.file.mark("redo", self.undo_stack, self.redo_stack, step)
            return str(step.get("label", ""))

    def labels(self) -> tuple[list[str], list[str]]:
        """The labels of the undo and redo stacks, newest first."""
        return (
            [str(s.get("label", "")) for s in reversed(self.undo_stack)],
            [str(s.get("label", "")) for s in reversed(self.redo_stack)],
        )
