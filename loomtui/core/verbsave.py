"""Saving a session a verb built outside a store (``score -o``, ``sweep -o``, ``replay -o``):
under the session's lock, and never over a journal a crashed process left.

The app and ``generate -o`` keep their session open in a :class:`loomtui.core.store.
SessionStore`; the verbs that compute a whole new session and write it once use these two.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import SessionFileError
from .fsafe import refuse_not_regular, refuse_read_only_file, remove_file, session_target
from .journal import journal_path, read_journal
from .lock import SessionLock
from .tree import Session


def refuse_unrecovered(path: Path) -> None:
    """Refuse to write over a file whose journal holds a crashed process's changes."""
    if read_journal(path)[0]:
        raise SessionFileError(
            f"{path} has unsaved changes from a loomtui process that stopped "
            f"({journal_path(path).name}); open it once with loomtui to recover them"
        )


@contextmanager
def output_lock(path: str | os.PathLike[str] | None) -> Iterator[SessionLock | None]:
    """Hold the lock of a verb's output session for the whole verb (``score -o``,
    ``sweep -o``, ``replay -o``): taken before the file is read, released after
    :func:`save_locked` wrote it, so no other process can change the file in between
    (its changes would otherwise be overwritten). Nothing to do for ``None``.

    Refused at once (before any model work) when the file is open elsewhere, has changes
    to recover, or is read-only.
    """
    if path is None:
        yield None
        return
    refuse_not_regular(Path(path))
    target = session_target(Path(path))
    lock = SessionLock(target)
    lock.acquire()
    try:
        refuse_unrecovered(target)
        refuse_read_only_file(target, "make it writable (chmod u+w), or write elsewhere")
        yield lock
    finally:
        lock.release()


def save_locked(
    session: Session, path: str | os.PathLike[str], lock: SessionLock | None = None
) -> None:
    """Save a session a verb built outside a store (``score -o``, ``sweep -o``...).

    Writes under the session's lock (``lock``, held by :func:`output_lock`, or taken for the
    write), so a session open in the app (or another verb) is never overwritten under it:
    :class:`SessionLockedError` names the holder. A file with a journal left by a crashed
    process is refused (writing would lose the journal's changes): the user is told to open
    the session once, which recovers them. A path that is a link writes the file it names.
    """
    from .sessionfile import save_session

    refuse_not_regular(Path(path))
    target = session_target(Path(path))
    own = lock is None or not lock.held
    if own:
        lock = SessionLock(target)
        lock.acquire()
    try:
        refuse_unrecovered(target)
        save_session(session, target)
        remove_file(journal_path(target))
    finally:
        if own:
            lock.release()  # type: ignore[union-attr]
