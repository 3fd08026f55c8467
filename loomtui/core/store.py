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

Nothing finished is lost to a full disk either. A journal write the system refuses (or cuts
short) is cut back to the last whole record, and what it held is written again with the next
change; a save that fails leaves the old file and journals the changes instead. Either way the
store says so at once (:attr:`SessionStore.problem`, :attr:`SessionStore.on_problem`) and
:class:`SaveFailed` names where the work is kept. A journal that does not apply to its file
(records of the wrong shape, a tree they would break) is never replayed: it is moved aside
(``.NAME.journal.rejected-TIME``), said in :attr:`SessionStore.warnings`, and the session
opens as the file has it.

Its helpers live beside it, one job each: :mod:`fsafe` (reading only regular files, temp
files, links), :mod:`journal` (the records and the journal file), :mod:`lock`,
:mod:`verbsave` (the verbs' locked saves) and :mod:`worktarget` (another loom's file).

Usage: ``SessionStore.open(path)`` (lock, load, replay the journal), ``Engine.over(store,
backend)`` (loomtui.engine: journal + autosave), ``store.close()`` (final save, drop the
journal, release the lock).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import LoomError, SessionFileError
from .fsafe import digest as _digest
from .fsafe import move_aside as _move_aside
from .fsafe import os_problem as _os_problem
from .fsafe import refuse_not_regular, remove_stale_temps, replace_sidecar, session_target
from .fsafe import refuse_read_only_file as _refuse_read_only_file
from .fsafe import remove_file as _remove
from .journal import (  # noqa: F401 - re-exported: the journal's codec is part of the store
    _NODE_FIELDS,
    JOURNAL_VERSION,
    JournalDamage,
    _dict_fp,
    _fingerprint,
    apply_records,
    frame,
    journal_path,
    mark_interrupted,
    pending_journal_records,
    read_journal,
    token_from_record,
    token_record,
    write_all,
)
from .journal import (
    line as record_line,
)
from .lock import SessionLock, lock_path  # noqa: F401 - lock_path is public here too
from .resources import is_example
from .tokens import Token
from .tree import Node, Session
from .verbsave import output_lock, save_locked  # noqa: F401 - the verbs import them from here
from .worktarget import IMPORTED_SUFFIX, _work_target, work_path_for  # noqa: F401 - public here


# --------------------------------------------------------------------------- file format hooks
def _load(path: Path) -> Session:
    from .sessionfile import load_session

    return load_session(path)


def _save(session: Session, path: Path) -> None:
    from .sessionfile import save_session

    save_session(session, path)


def _write_file(data: bytes, path: Path) -> None:
    from .sessionfile import write_atomic

    write_atomic(data, path)


# --------------------------------------------------------------------------- the store
class ReadOnlyError(LoomError):
    """A write to a session opened read-only."""


class SaveFailed(LoomError):
    """A save the system refused (disk full, a read-only file...); the message says where
    the work is kept."""


#: what ``SessionStore.on_problem`` is called with: a one-line problem, or None when solved
ProblemCallback = Callable[[str | None], None]


class SessionStore:
    """An open session: the tree in memory, its file, journal and lock on disk."""

    #: seconds between fsyncs of the journal while tokens stream (writes are immediate)
    fsync_interval = 0.05
    #: autosave writes the whole file when the last full save took less than this...
    full_save_budget_s = 0.25
    #: ...and otherwise only when the journal has grown past this many bytes
    journal_compact_bytes = 8 << 20
    #: seconds between attempts to restart a journal that could not be written
    retry_interval = 1.0
    #: the app's: a slow session's compacting save waits for compact_if_due (an idle moment)
    defer_compaction = False
    compaction_due = False

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
        #: what is not written right now (one line), None when everything is on disk
        self.problem: str | None = None
        #: called (from any thread) when a problem starts, with it, and with None when solved
        self.on_problem: ProblemCallback | None = None
        #: one-line notes about the opening for the user (a journal kept aside)
        self.warnings: list[str] = []
        self._journal_end = 0  # bytes of whole records in the journal
        self._behind = False  # changes a failed journal write did not record yet
        self._needs_save = False  # the journal cannot take records: a full save restarts it
        self._last_retry = 0.0

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
        # A link is followed: the lock and the journal belong to the file it names (which
        # must be a file: a FIFO or a device is refused before a lock is made beside it).
        refuse_not_regular(Path(path))
        path = session_target(Path(path))
        path, imported = (path, None) if readonly else _work_target(path)
        store = cls(path, Session.new(), readonly=readonly)
        store.example = example
        if not readonly:
            store.lock.acquire()
        try:
            if not readonly:
                remove_stale_temps(path)  # a kill during a save leaves them; we hold the lock
                _refuse_read_only_file(path)
            store._load_and_replay(create, imported)
        except BaseException:
            store.lock.release()
            raise
        return store

    @classmethod
    def create(cls, path: str | os.PathLike[str], session: Session) -> SessionStore:
        """Take the lock on ``path`` and save ``session`` there (replacing any file)."""
        path = session_target(Path(path))
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
        records, problem = self._read_journal()
        data: bytes | None = None
        if records:
            data = self._replay(records, problem)
        elif problem:
            self._keep_aside(problem, applied=False)
        if not self.readonly:
            # We hold the lock, so no generation is running: an unfinished leaf is one a
            # crash cut short. Say so (a visible failed node, never a silent one).
            cut = mark_interrupted(self.session)
            if data is not None and not cut:
                self._save_bytes(data)  # the validated bytes: no second encoding
            elif data is not None or cut:
                self.save()
            else:
                self._new_journal()  # nothing to apply: the file stays byte for byte
        self._remember_all()

    def _replay(self, records: list[dict[str, Any]], problem: str | None) -> bytes | None:
        """Apply the journal's records and validate the result, before anything is written.
        A journal that does not apply is kept aside and the session stays as the file has it.
        Returns the validated session's file bytes (None when the journal was refused)."""
        try:
            apply_records(self.session, records)
            from .sessionfile import validated_bytes

            data, checked = validated_bytes(self.session, self.journal.name)
        except (JournalDamage, SessionFileError) as exc:
            self._keep_aside(str(exc), applied=False)
            self.session = _load(self.path)  # as it was: the file was not touched
            return None
        self.session = checked
        self.replayed = len(records)
        if problem:
            self._keep_aside(problem, applied=True)
        return data

    def _keep_aside(self, problem: str, *, applied: bool) -> None:
        """Say that the journal (or its end) does not apply; a writable store moves it aside
        first (created exclusively, never over another file), a read-only one leaves it."""
        what = (
            "the journal's end does not apply (the records before it were recovered)"
            if applied
            else "the journal does not apply to the session file, which opens as saved"
        )
        where = ""
        if not self.readonly:
            aside = _move_aside(self.journal)
            where = f"; it is kept as {aside.name}" if aside is not None else ""
        self.warnings.append(f"{self.path.name}: {what} ({problem}){where}")

    def _read_journal(self) -> tuple[list[dict[str, Any]], str | None]:
        """The journal's records if it applies to the file as it is now, else [], and the
        problem that stopped the reading of a damaged one (None if none)."""
        return read_journal(self.path)

    # ------------------------------------------------------------------ saving
    def save(self) -> None:
        """Write the whole session atomically and start an empty journal.

        Raises :class:`SaveFailed` when the system refuses the write: the old file stays, and
        what changed since is journaled (the message says whether that worked)."""
        self._check_writable()
        start = time.perf_counter()
        try:
            _save(self.session, self.path)
        except (OSError, SessionFileError) as exc:
            raise self._save_failed(exc) from None
        self._saved(time.perf_counter() - start)

    def _save_bytes(self, data: bytes) -> None:
        start = time.perf_counter()
        try:
            _write_file(data, self.path)
        except (OSError, SessionFileError) as exc:
            raise self._save_failed(exc) from None
        self._saved(time.perf_counter() - start)

    def _saved(self, elapsed: float) -> None:
        self.last_save_s, self.compaction_due = elapsed, False
        self._remember_all()  # the file holds everything now
        self._behind = False
        self._dirty = True  # the file now differs from what open() created
        try:
            self._new_journal()
        except OSError as exc:
            # The file is whole; only the journal for what comes next could not start.
            self._needs_save = True
            self._set_problem(
                f"{self.path.name} was saved, but its journal could not be started "
                f"({_os_problem(exc)}): new changes are kept in memory until it can be"
            )
            return
        self._needs_save = False
        self._set_problem(None)

    def _save_failed(self, exc: OSError | SessionFileError) -> SaveFailed:
        """Journal what the failed save held; the one line that says so."""
        why = _os_problem(exc) if isinstance(exc, OSError) else str(exc)
        if self._fd is not None:
            self.checkpoint()
            self._sync()
        if self._fd is not None and not self._behind:
            where = f"the work is kept in the journal {self.journal.name}"
        else:
            where = "the latest changes are only in memory (keep loomtui open, free space, ctrl+s)"
        message = f"could not save {self.path.name} ({why}); {where}"
        self._set_problem(message)
        return SaveFailed(message)

    def autosave(self, session: Session | None = None) -> None:
        """Make every change so far survive a crash, cheaply (what :meth:`Engine.over
        <loomtui.engine.Engine.over>` calls after every change). Small sessions are written
        whole; large ones (a save slower than ``full_save_budget_s``) get a journal
        checkpoint, and a full save once the journal is big (with ``defer_compaction``: at
        :meth:`compact_if_due`). Raises :class:`SaveFailed` when the change could not be
        written anywhere but memory, or the file could not be saved."""
        if self.readonly:
            return
        # A slow save compacts the journal proportionally less often (4 s: every 128 MB).
        big = self._journal_bytes > self.journal_compact_bytes * self._slowness()
        fast = self.last_save_s < self.full_save_budget_s
        if fast or self._needs_save or (big and not self.defer_compaction):
            self.save()
            return
        self.compaction_due = big
        self.checkpoint()
        self._sync()
        if self._behind and self.problem:
            raise SaveFailed(self.problem)

    def compact_if_due(self) -> bool:
        """Run the save autosave put off (``defer_compaction``); whether it ran. SaveFailed."""
        if not self.compaction_due or self.readonly:
            return False
        self.save()
        return True

    def _slowness(self) -> float:
        budget = self.full_save_budget_s
        return max(1.0, self.last_save_s / budget) if budget > 0 else 1.0

    def close(self) -> None:
        """Save (if writable), remove the journal, release the lock. Safe to call twice.

        A save that fails raises :class:`SaveFailed` and keeps the journal: the next open
        recovers from it."""
        try:
            if not self.readonly and self.lock.held:
                if self._created_file and not self._dirty and self._is_blank():
                    _remove(self.path)  # opened a new path and did nothing: leave no file
                elif self.checkpoint() or self._journal_bytes or self._behind or self._needs_save:
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
        """Truncate the journal to one header naming the file it applies to.

        The header goes to a temporary file created exclusively (never through a link
        planted at its name), which then replaces the journal."""
        self._close_fd()
        header = {"op": "base", "v": JOURNAL_VERSION, "sha256": _digest(self.path)}
        data = record_line(header)
        replace_sidecar(self.journal, data)
        self._fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        self._journal_end = len(data)
        self._journal_bytes = 0

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def _set_problem(self, problem: str | None) -> None:
        """Record what is not written (None: everything is) and tell ``on_problem`` when it
        changes, once per change (a full disk does not make a message per token)."""
        if problem == self.problem:
            return
        self.problem = problem
        if self.on_problem is not None:
            try:
                self.on_problem(problem)
            except Exception:  # noqa: BLE001 - telling must never stop the writing
                pass

    def _retry_journal(self) -> bool:
        """Restart a journal that could not be started (with a full save, which it needs to
        name its base), at most every ``retry_interval`` seconds. True when it works again."""
        now = time.monotonic()
        if now - self._last_retry < self.retry_interval:
            return False
        self._last_retry = now
        try:
            self.save()
        except SaveFailed:
            return False
        return self._fd is not None

    def _write(self, records: list[dict[str, Any]]) -> bool:
        """Append ``records`` to the journal in one write; True when they are on disk.

        A write the system refuses or cuts short is cut back to the last whole record (no
        half record ever stays for later ones to be appended to) and reported; the caller
        keeps the changes as not yet written, so the next write carries them."""
        if self.readonly or not records:
            return False
        if self._fd is None:
            # A full save wrote everything, these records included.
            return self._needs_save and self._retry_journal()
        try:
            data = frame(records)
        except ValueError as exc:  # e.g. NaN in a node's meta: never written, said once
            self._behind = True
            self._set_problem(f"a change to {self.path.name} cannot be written ({exc})")
            return False
        try:
            write_all(self._fd, data)
        except OSError as exc:
            self._behind = True
            self._cut_back()
            self._set_problem(
                f"could not write the journal of {self.path.name} ({_os_problem(exc)}); "
                "the latest changes are only in memory until it can be (retried with each change)"
            )
            return False
        self._journal_end += len(data)
        self._journal_bytes += len(data)
        self._dirty = True
        return True

    def _cut_back(self) -> None:
        """Cut the journal back to its last whole record after a failed write."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._journal_end)
        except OSError:
            # A half record may stay: no record may follow it. Only a full save (which
            # starts a new journal) goes on from here.
            try:
                os.close(self._fd)
            finally:
                self._fd = None
                self._needs_save = True

    def _sync(self, force: bool = True) -> None:
        if self._fd is None:
            return
        now = time.monotonic()
        if force or now - self._last_fsync >= self.fsync_interval:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._set_problem(
                    f"could not flush the journal of {self.path.name} to disk ({_os_problem(exc)})"
                )
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
        if self.readonly or (self._fd is None and not self._needs_save):
            return 0
        s = self.session
        records: list[dict[str, Any]] = []
        # What the records say is remembered only once they are on disk: a failed write
        # leaves them to be written again by the next checkpoint.
        gone = [nid for nid in self._fps if nid not in s.nodes]
        if gone:
            records.append({"op": "del", "ids": gone})
        fps: dict[str, tuple[Any, ...]] = {}
        ntoks: dict[str, int | None] = {}
        for nid, node in s.nodes.items():
            fp = _fingerprint(node)
            ntok = len(node.tokens) if node.tokens is not None else None
            if self._fps.get(nid) == fp and self._ntok.get(nid, -1) == ntok:
                continue
            records.append(self._node_record(node, known=nid in self._fps))
            fps[nid] = fp
            ntoks[nid] = ntok
        sfp = self._session_fp()
        if sfp != self._sess_fp:
            records.append(
                {"op": "sess", "root": s.root_id, "current": s.current_id, "meta": s.meta}
            )
        if not records:
            return 0
        if self._fd is None:  # a journal to restart: the full save writes it all
            self._write(records)
            return len(records)
        if not self._write(records):
            return 0
        for nid in gone:
            self._fps.pop(nid, None)
            self._ntok.pop(nid, None)
        self._fps.update(fps)
        self._ntok.update(ntoks)
        self._sess_fp = sfp
        if self._behind:
            self._behind = False
            self._set_problem(None)  # everything in memory is in the journal again
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
        if self.readonly or (self._fd is None and not self._needs_save):
            return
        if node.id not in self._fps or self._behind or self._fd is None:
            self.checkpoint()  # the node (and the split that made room for it) first
            self._sync(force=False)
            return
        assert node.tokens is not None
        index = len(node.tokens) - 1
        if self._ntok.get(node.id) != index:
            self.checkpoint()
            return
        if self._write([{"op": "tok", "n": node.id, "i": index, "t": token_record(token)}]):
            self._ntok[node.id] = index + 1
        self._sync(force=False)

    def on_finish(self, node: Node) -> None:
        """Journal a finished continuation and fsync."""
        if self.readonly:
            return
        self.checkpoint()
        self._sync()
