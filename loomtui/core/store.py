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
save happened but the truncation did not) is already included and is dropped, but for the
records after a save mark naming the file (a background save, :mod:`compaction`, renamed its
file in while changes went on being journaled).

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
files, links), :mod:`journal` (the records and the journal file), :mod:`storejournal` (writing
it: the store's journal half), :mod:`compaction` (a big session's full save on a thread of its
own), :mod:`lock`,
:mod:`verbsave` (the verbs' locked saves) and :mod:`worktarget` (another loom's file).

Usage: ``SessionStore.open(path)`` (lock, load, replay the journal), ``Engine.over(store,
backend)`` (loomtui.engine: journal + autosave), ``store.close()`` (final save, drop the
journal, release the lock).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LoomError, SessionFileError
from .fsafe import move_aside as _move_aside
from .fsafe import os_problem as _os_problem
from .fsafe import refuse_not_regular, remove_stale_temps, session_target
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
from .lock import SessionLock, lock_path  # noqa: F401 - lock_path is public here too
from .resources import is_example
from .storejournal import JournalWriter, ProblemCallback, SaveFailed  # noqa: F401 - public here
from .tree import Session

if TYPE_CHECKING:
    from .compaction import BackgroundSave
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


class SessionStore(JournalWriter):
    """An open session: the tree in memory, its file, journal and lock on disk."""

    #: autosave writes the whole file when the last full save took less than this...
    full_save_budget_s = 0.25
    #: ...and otherwise only when the journal has grown past this many bytes
    journal_compact_bytes = 8 << 20
    #: the app's: a slow session's compacting save waits for compact_if_due (an idle moment)
    defer_compaction = False
    compaction_due = False
    #: seconds before a background save that failed is tried again
    compaction_retry_s = 30.0
    #: until when (monotonic) a person is typing: the app sets it at each key, and a
    #: background save then leaves the interpreter to the app's thread most of the time
    typing_until = 0.0

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
        self._init_journal()
        self._created_file = False
        #: what is not written right now (one line), None when everything is on disk
        self.problem: str | None = None
        #: called (from any thread) when a problem starts, with it, and with None when solved
        self.on_problem: ProblemCallback | None = None
        #: one-line notes about the opening for the user (a journal kept aside)
        self.warnings: list[str] = []
        self._compaction: BackgroundSave | None = None  # the full save on its own thread
        self._compact_after = 0.0  # a failed one is tried again from then (monotonic)

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
        self.wait_compaction()  # one writer of the file at a time
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
        if self._fd is not None:
            self.checkpoint()
            self._sync()
        message = self._failure_line(exc)
        self._set_problem(message)
        return SaveFailed(message)

    def _failure_line(self, exc: BaseException) -> str:
        """The one line that says a save failed, why, and where the work is kept."""
        why = _os_problem(exc) if isinstance(exc, OSError) else str(exc) or type(exc).__name__
        if self._fd is not None and not self._behind:
            where = f"the work is kept in the journal {self.journal.name}"
        else:
            where = "the latest changes are only in memory (keep loomtui open, free space, ctrl+s)"
        return f"could not save {self.path.name} ({why}); {where}"

    def _compaction_failed(self, exc: BaseException) -> str:
        """A background save failed (its thread): said in one line, tried again later."""
        self._compact_after = time.monotonic() + self.compaction_retry_s
        message = self._failure_line(exc)
        self._set_problem(message)
        return message

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
        """Start the full save autosave put off (``defer_compaction``) on a thread of its own
        (:mod:`compaction`); whether one started. Every change is journaled meanwhile;
        :meth:`save` and :meth:`close` wait for it, and a failure is said (``problem``) and
        tried again after ``compaction_retry_s``. A journal that cannot take records gets
        the full save here instead (which raises SaveFailed)."""
        if not self.compaction_due or self.readonly or self.compacting:
            return False
        if time.monotonic() < self._compact_after:
            return False
        if self._fd is None or self._needs_save:
            self.save()
            return True
        from .compaction import BackgroundSave

        self._compaction = BackgroundSave.start(self)
        return self._compaction is not None

    @property
    def compacting(self) -> bool:
        """Whether a background save (:meth:`compact_if_due`) is running."""
        return self._compaction is not None and self._compaction.running

    def wait_compaction(self, timeout: float | None = None) -> None:
        """Wait for a running background save to end (a full save, closing)."""
        if self._compaction is not None:
            self._compaction.wait(timeout)

    def _slowness(self) -> float:
        budget = self.full_save_budget_s
        return max(1.0, self.last_save_s / budget) if budget > 0 else 1.0

    def close(self) -> None:
        """Save (if writable), remove the journal, release the lock. Safe to call twice.

        A save that fails raises :class:`SaveFailed` and keeps the journal: the next open
        recovers from it."""
        try:
            self.wait_compaction()  # quitting during a background save: it finishes first
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
