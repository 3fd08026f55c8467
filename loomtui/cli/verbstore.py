"""The session file a verb writes with ``-o`` (``loom``, ``score``, ``sweep``, ``replay``),
written the way the app writes: through the :class:`~loomtui.core.store.SessionStore` (lock,
journal, autosave) and an :meth:`Engine.over <loomtui.engine.Engine.over>` the store, so
every change the verb makes is an undo step in the file's history (``loomtui undo`` after
the verb takes it back, and the older steps stay undoable).

Two cases:

- The verb grows the output's own session (``score -o S``, ``loom --prompt P -o S``, or a
  ``--session S -o S`` that names the same file): the store opens it (created when
  missing; a journal a crashed process left is recovered, as the app recovers it).
- The verb writes another session into the output (``--session A -o B``, ``sweep --prompt P
  -o B``, ``replay A -o B``): ``B`` is replaced by that session when the verb's work
  begins, with a history beginning there (one left beside an older ``B`` described another
  tree: removed), and the verb's changes are steps after it.

The output's lock is held from the start (before any model work: a file open elsewhere,
with changes to recover, read-only, or not a regular file is refused at once, in one line)
until it is written. In the second case it passes to the store that replaces the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.display import safe_line
from ..core.fsafe import refuse_not_regular, refuse_read_only_file, remove_file, session_target
from ..core.historyfile import history_path
from ..core.verbsave import refuse_unrecovered

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..core.lock import SessionLock
    from ..core.store import SessionStore
    from ..core.tree import Session
    from ..engine import Engine

_READ_ONLY_HINT = "make it writable (chmod u+w), or write elsewhere"


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two session paths name one file (a link and its target, two spellings)."""
    ta, tb = session_target(Path(a)), session_target(Path(b))
    try:
        return os.path.samefile(ta, tb)
    except OSError:
        return ta.resolve() == tb.resolve()


class VerbOutput:
    """A verb's ``-o`` session: a context manager; :meth:`engine` gives the engine every
    change goes through. ``base``: the session the output is to hold (replacing it), None:
    the output's own."""

    def __init__(
        self, path: str | os.PathLike[str], base: Session | None = None, *, create: bool = True
    ) -> None:
        self.path = Path(path)
        self.base = base
        self.create = create  # the output's own session: made when missing
        self.store: SessionStore | None = None
        self._lock: SessionLock | None = None
        self._engine: Engine | None = None

    def __enter__(self) -> VerbOutput:
        from ..core.lock import SessionLock
        from ..core.store import SessionStore

        refuse_not_regular(self.path)
        target = session_target(self.path)
        refuse_read_only_file(target, _READ_ONLY_HINT)
        if self.base is None:
            # The lock; a crash's journal recovered, as the app recovers it.
            self.store = SessionStore.open(self.path, create=self.create)
            self._tell(self.store.warnings)
            return self
        lock = SessionLock(target)
        lock.acquire()
        try:
            refuse_unrecovered(target)  # replacing the file would bury a crash's changes
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        return self

    @property
    def session(self) -> Session:
        """The session the verb works on (the base until the store replaces the file)."""
        if self.store is not None:
            return self.store.session
        assert self.base is not None
        return self.base

    def engine(self, backend: Backend | None) -> Engine:
        """The engine over the output's store (the file replaced by the base first, when
        there is one): every change from here is journaled and an undo step. Asked for
        where the verb first changes the tree (a verb that fails before leaves the output
        as it was); the same engine each time."""
        from ..core.store import SessionStore
        from ..engine import Engine

        if self._engine is not None:
            return self._engine
        if self.store is None:
            assert self.base is not None and self._lock is not None
            # The lock passes to the store (one process: released, then taken again at
            # once; another process that took it between is refused by the store's).
            self._lock.release()
            self._lock = None
            self.store = SessionStore.create(self.path, self.base)
            remove_file(history_path(self.store.path))  # it described the tree replaced
        engine = self._engine = Engine.over(self.store, backend)
        self._tell(engine.history.warnings if engine.history is not None else [])
        return engine

    @staticmethod
    def _tell(warnings: list[str]) -> None:
        while warnings:
            click.echo(safe_line(warnings.pop(0)), err=True)

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.store is not None:
            self.store.close()


def pick_node(session: Session, path: str | os.PathLike[str], node_id: str | None) -> str:
    """A node of ``session`` (read from ``path``): an id or a unique prefix, the current
    one by default (:func:`loomtui.cli._instr.session_branch`'s words when there is none)."""
    from ..core.errors import LoomError
    from ..core.tree import TreeError

    try:
        return session.find(node_id).id
    except TreeError as exc:
        raise LoomError(f"{path}: {exc}") from None


def verb_output(
    output: str | None, source: str | None = None, fresh: Session | None = None
) -> VerbOutput | None:
    """The ``-o`` of a verb (None without one): the output's own session when ``source``
    (a ``--session`` read) is that same file, or when there is neither ``source`` nor
    ``fresh``; else the output is to hold ``source``'s session (or ``fresh``)."""
    if output is None:
        return None
    if source is not None and not same_file(source, output):
        from ..core.sessionfile import load_session

        return VerbOutput(output, load_session(source))
    if source is not None:  # the --session read is the output: it must be there
        return VerbOutput(output, create=False)
    return VerbOutput(output, fresh)
