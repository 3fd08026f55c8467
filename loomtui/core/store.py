"""The session store: one open session on disk, kept safe from crashes and from a second process.

Three files live side by side::

    notes.json            the session, written atomically (old or new, never half)
    .notes.json.journal   append-only JSON lines: what changed since notes.json was written
    .notes.json.lock      the pid of the loomtui process that holds the session

Every token a model emits is appended to the journal with one ``os.write`` as it arrives, so a
SIGKILL loses at most the token in flight (the OS keeps what was written even if the process
dies); ``fsync`` runs at most every ``fsync_interval`` seconds and at every finish, which guards
the rest against a power cut. Opening a session replays its journal over the last saved file,
saves, and truncates the journal. A journal whose first line names a different base file (the
save happened but the truncation did not) is already included and is dropped.

A second process is refused with :class:`SessionLockedError` (naming the pid) and may open the
session read-only: it sees the journal too, and never writes. A lock left by a dead process is
taken over.

Usage::

    store = SessionStore.open(path)               # lock, load, replay journal
    engine = Engine.over(store, backend)           # (loomtui.engine) journal + autosave
    engine.generate(store.session.current_id, None, settings)
    store.close()                                  # final save, drop journal, release lock
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import LoomError, SessionFileError
from .journal import (  # noqa: F401 - re-exported: the journal's codec is part of the store
    _NODE_FIELDS,
    JOURNAL_VERSION,
    _dict_fp,
    _fingerprint,
    apply_records,
    mark_interrupted,
    token_from_record,
    token_record,
)
from .journal import (
    line as record_line,
)
from .lock import SessionLock, lock_path  # noqa: F401 - lock_path is public here too
from .resources import is_example
from .tokens import Token
from .tree import Node, Session


def journal_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.journal")


# --------------------------------------------------------------------------- file format hooks
def _load(path: Path) -> Session:
    from .sessionfile import load_session

    return load_session(path)


def _save(session: Session, path: Path) -> None:
    from .sessionfile import save_session

    save_session(session, path)


def _digest(path: Path) -> str | None:
    """sha256 of the file, None if absent: names the base a journal applies to."""
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- the store
class ReadOnlyError(LoomError):
    """A write to a session opened read-only."""


class SessionStore:
    """An open session: the tree in memory, its file, journal and lock on disk."""

    #: seconds between fsyncs of the journal while tokens stream (writes are immediate)
    fsync_interval = 0.05
    #: autosave writes the whole file when the last full save took less than this...
    full_save_budget_s = 0.25
    #: ...and otherwise only when the journal has grown past this many bytes
    journal_compact_bytes = 8 << 20

    def __init__(self, path: Path, session: Session, *, readonly: bool) -> None:
        self.path = path
        self.session = session
        self.readonly = readonly
        #: opened from the packaged examples (hence read-only)
        self.example = False
        self.lock = SessionLock(path)
        self.journal = journal_path(path)
        self.replayed = 0  # journal records applied when opening
        self.last_save_s = 0.0
        self._fd: int | None = None
        self._journal_bytes = 0
        self._last_fsync = 0.0
        self._fps: dict[str, tuple[Any, ...]] = {}
        self._ntok: dict[str, int | None] = {}
        self._sess_fp: tuple[Any, ...] = ()
        self._created_file = False
        self._dirty = False

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls, path: str | os.PathLike[str], readonly: bool = False, *, create: bool = True
    ) -> SessionStore:
        """Open ``path``: take the lock (unless ``readonly``), load, replay the journal.

        A missing file is created with a new empty session when ``create`` (not read-only).
        Raises :class:`SessionLockedError` if another live process holds the session, and
        :class:`SessionFileError` if the file cannot be read (it is left untouched).
        """
        example = is_example(path)
        # A packaged example is never written beside (it may sit in site-packages).
        readonly = readonly or example
        path, imported = (Path(path), None) if readonly else _work_target(Path(path))
        store = cls(path, Session.new(), readonly=readonly)
        store.example = example
        if not readonly:
            store.lock.acquire()
        try:
            store._load_and_replay(create, imported)
        except BaseException:
            store.lock.release()
            raise
        return store

    @classmethod
    def create(cls, path: str | os.PathLike[str], session: Session) -> SessionStore:
        """Take the lock on ``path`` and save ``session`` there (replacing any file)."""
        path = Path(path)
        store = cls(path, session, readonly=False)
        store.lock.acquire()
        try:
            _remove(store.journal)
            store.save()
        except BaseException:
            store.lock.release()
            raise
        return store

    def _load_and_replay(self, create: bool, imported: Session | None = None) -> None:
        path = self.path
        if path.exists():
            start = time.perf_counter()
            self.session = _load(path)
            # Saving costs at least what loading did: a big session gets journal
            # checkpoints from its first autosave, not a long full save.
            self.last_save_s = time.perf_counter() - start
        elif imported is not None:
            # First open of another loom's file: its import, kept in the work file beside it.
            self.session = imported
            start = time.perf_counter()
            _save(self.session, path)
            self.last_save_s = time.perf_counter() - start
            self._created_file = True
        elif self.readonly or not create:
            raise SessionFileError(f"no session file at {path}")
        else:
            _save(self.session, path)
            self._created_file = True
        records = self._read_journal()
        if records:
            apply_records(self.session, records)
            self.replayed = len(records)
        if not self.readonly:
            # We hold the lock, so no generation is running: an unfinished leaf is one a
            # crash cut short. Say so (a visible failed node, never a silent one).
            cut = mark_interrupted(self.session)
            if records or cut or self.journal.exists():
                self.save()
            self._new_journal()
        self._remember_all()

    def _read_journal(self) -> list[dict[str, Any]]:
        """The journal's records if it applies to the file as it is now, else []."""
        try:
            raw = self.journal.read_bytes()
        except FileNotFoundError:
            return []
        lines = raw.split(b"\n")
        if not lines or not lines[0]:
            return []
        try:
            header = json.loads(lines[0])
        except ValueError:
            return []
        if header.get("op") != "base" or header.get("v") != JOURNAL_VERSION:
            return []
        if header.get("sha256") != _digest(self.path):
            return []  # written before the last save: already in the file
        records: list[dict[str, Any]] = []
        # The last line may be cut short by a kill mid-write: stop at the first bad line.
        for raw_line in lines[1:]:
            if not raw_line:
                continue
            try:
                rec = json.loads(raw_line)
            except ValueError:
                break
            if not isinstance(rec, dict):
                break
            records.append(rec)
        return records

    # ------------------------------------------------------------------ saving
    def save(self) -> None:
        """Write the whole session atomically and start an empty journal."""
        self._check_writable()
        start = time.perf_counter()
        _save(self.session, self.path)
        self.last_save_s = time.perf_counter() - start
        self._new_journal()
        self._remember_all()
        self._dirty = True  # the file now differs from what open() created

    def autosave(self, session: Session | None = None) -> None:
        """Make every change so far survive a crash, cheaply.

        Small sessions are written whole; large ones (a save slower than
        ``full_save_budget_s``) get a journal checkpoint, and a full save once the journal
        is big. What :meth:`loomtui.engine.Engine.over` calls after every change.
        """
        if self.readonly:
            return
        if (
            self.last_save_s < self.full_save_budget_s
            or self._journal_bytes > self.journal_compact_bytes
        ):
            self.save()
        else:
            self.checkpoint()
            self._sync()

    def close(self) -> None:
        """Save (if writable), remove the journal, release the lock. Safe to call twice."""
        try:
            if not self.readonly and self.lock.held:
                if self._created_file and not self._dirty and self._is_blank():
                    _remove(self.path)  # opened a new path and did nothing: leave no file
                elif self.checkpoint() or self._journal_bytes:
                    self.save()  # something changed since the last save
                self._close_fd()
                _remove(self.journal)
        finally:
            self._close_fd()
            self.lock.release()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _is_blank(self) -> bool:
        return len(self.session.nodes) == 1 and not self.session.root.data

    def _check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyError(f"{self.path} is open read-only; nothing was written")

    # ------------------------------------------------------------------ journal
    def _new_journal(self) -> None:
        """Truncate the journal to one header naming the file it applies to."""
        self._close_fd()
        header = {"op": "base", "v": JOURNAL_VERSION, "sha256": _digest(self.path)}
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, record_line(header))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.journal)
        self._fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND)
        self._journal_bytes = 0

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def _write(self, records: Iterable[dict[str, Any]]) -> None:
        if self.readonly or self._fd is None:
            return
        data = b"".join(record_line(r) for r in records)
        if data:
            os.write(self._fd, data)  # one write per batch: a kill cuts at most its tail
            self._journal_bytes += len(data)
            self._dirty = True

    def _sync(self, force: bool = True) -> None:
        if self._fd is None:
            return
        now = time.monotonic()
        if force or now - self._last_fsync >= self.fsync_interval:
            os.fsync(self._fd)
            self._last_fsync = now

    def _remember_all(self) -> None:
        self._fps = {nid: _fingerprint(n) for nid, n in self.session.nodes.items()}
        self._ntok = {
            nid: (len(n.tokens) if n.tokens is not None else None)
            for nid, n in self.session.nodes.items()
        }
        self._sess_fp = self._session_fp()

    def _session_fp(self) -> tuple[Any, ...]:
        s = self.session
        return (s.root_id, s.current_id, _dict_fp(s.meta))

    def checkpoint(self) -> int:
        """Journal every node that changed since the last save or checkpoint.

        Returns the number of records written. O(nodes); tokens already journaled are not
        written again.
        """
        if self.readonly or self._fd is None:
            return 0
        s = self.session
        records: list[dict[str, Any]] = []
        gone = [nid for nid in self._fps if nid not in s.nodes]
        if gone:
            records.append({"op": "del", "ids": gone})
            for nid in gone:
                self._fps.pop(nid, None)
                self._ntok.pop(nid, None)
        for nid, node in s.nodes.items():
            fp = _fingerprint(node)
            ntok = len(node.tokens) if node.tokens is not None else None
            if self._fps.get(nid) == fp and self._ntok.get(nid, -1) == ntok:
                continue
            records.append(self._node_record(node, known=nid in self._fps))
            self._fps[nid] = fp
            self._ntok[nid] = ntok
        sfp = self._session_fp()
        if sfp != self._sess_fp:
            records.append(
                {"op": "sess", "root": s.root_id, "current": s.current_id, "meta": s.meta}
            )
            self._sess_fp = sfp
        self._write(records)
        return len(records)

    def _node_record(self, node: Node, known: bool) -> dict[str, Any]:
        rec: dict[str, Any] = {"op": "node", "id": node.id}
        for name in _NODE_FIELDS:
            rec[name] = getattr(node, name)
        if node.tokens is None:
            rec["tokens"] = None
        else:
            # Tokens only grow or get cut at a split: keep the prefix both sides agree on.
            old = self._ntok.get(node.id) if known else None
            keep = min(old or 0, len(node.tokens))
            rec["keep"] = keep
            rec["tokens"] = [token_record(t) for t in node.tokens[keep:]]
        return rec

    # ------------------------------------------------------------------ engine hooks
    def on_token(self, node: Node, token: Token) -> None:
        """Journal one token just appended to ``node`` (one write, fsync batched)."""
        if self.readonly or self._fd is None:
            return
        if node.id not in self._fps:
            self.checkpoint()  # the node (and the split that made room for it) first
            self._sync(force=False)
            return
        assert node.tokens is not None
        index = len(node.tokens) - 1
        if self._ntok.get(node.id) != index:
            self.checkpoint()
            return
        self._write([{"op": "tok", "n": node.id, "i": index, "t": token_record(token)}])
        self._ntok[node.id] = index + 1
        self._sync(force=False)

    def on_finish(self, node: Node) -> None:
        """Journal a finished continuation and fsync."""
        if self.readonly:
            return
        self.checkpoint()
        self._sync()


IMPORTED_SUFFIX = ".loomtui.json"


def work_path_for(path: Path) -> Path:
    """Where the work on ``path`` is saved.

    A file another loom wrote (socketteer/loom, logitloom, Obsidian Loom, mikupad) is never
    overwritten: the work goes to ``NAME.loomtui.json`` beside it, which is opened instead
    when it already exists. loomtui's own files, damaged ones included, stay where they are
    (a damaged file is refused by the loader, never replaced).
    """
    return _work_target(path)[0]


def _work_target(path: Path) -> tuple[Path, Session | None]:
    """:func:`work_path_for`, plus the imported session when ``path`` is another loom's file
    (it had to be read to tell), so the first open does not read it twice."""
    if not path.is_file():
        return path, None
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return path, None
    if b'"loomtui-session"' in head:
        return path, None
    try:
        session = _load(path)
    except LoomError:
        return path, None
    if not session.meta.get("imported_from"):
        return path, None
    return path.with_name(path.stem + IMPORTED_SUFFIX), session


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _refuse_unrecovered(path: Path) -> None:
    """Refuse to write over a file whose journal holds a crashed process's changes."""
    probe = SessionStore(path, Session.new(), readonly=True)
    if probe._read_journal():
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

    Refused at once (before any model work) when the file is open elsewhere or has
    changes to recover.
    """
    if path is None:
        yield None
        return
    lock = SessionLock(Path(path))
    lock.acquire()
    try:
        _refuse_unrecovered(Path(path))
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
    the session once, which recovers them.
    """
    path = Path(path)
    own = lock is None or not lock.held
    if own:
        lock = SessionLock(path)
        lock.acquire()
    try:
        _refuse_unrecovered(path)
        _save(session, path)
        _remove(journal_path(path))
    finally:
        if own:
            lock.release()  # type: ignore[union-attr]
