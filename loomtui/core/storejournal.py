"""The session store's journal writing: every change journaled as it happens (a token in one
``os.write``, a checkpoint of the nodes that changed in one framed batch), fsync batched, a
failed write cut back to the last whole record and said once (:attr:`problem`).

Split from :mod:`store` (which opens, saves and closes); :class:`JournalWriter` is the half of
:class:`~loomtui.core.store.SessionStore` that talks to the journal file. Writes hold
``_io`` (a lock): a generation's thread journals tokens while the app's thread journals its
edits, and the background compaction (:mod:`compaction`) swaps the journal under them.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import LoomError
from .fsafe import digest as _digest
from .fsafe import os_problem as _os_problem
from .fsafe import replace_sidecar
from .journal import (
    _NODE_FIELDS,
    JOURNAL_VERSION,
    _dict_fp,
    _fingerprint,
    frame,
    saved_mark,
    token_record,
    write_all,
)
from .journal import line as record_line
from .tokens import Token
from .tree import Node, Session


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


class SaveFailed(LoomError):
    """A save the system refused (disk full, a read-only file...); the message says where
    the work is kept."""


#: what ``SessionStore.on_problem`` is called with: a one-line problem, or None when solved
ProblemCallback = Callable[[str | None], None]


class JournalWriter:
    """The journal half of a session store (see the module docstring)."""

    #: seconds between fsyncs of the journal while tokens stream (writes are immediate)
    fsync_interval = 0.05
    #: seconds between attempts to restart a journal that could not be written
    retry_interval = 1.0

    path: Path
    journal: Path
    session: Session
    readonly: bool
    problem: str | None
    on_problem: ProblemCallback | None
    last_save_s: float
    compaction_due: bool

    def _init_journal(self) -> None:
        self._fd: int | None = None
        self._io = threading.RLock()  # held by every write and by the journal's swaps
        self._journal_bytes = 0  # bytes of records since the file was last saved whole
        self._journal_end = 0  # bytes of whole records in the journal
        self._last_fsync = 0.0
        self._fps: dict[str, tuple[Any, ...]] = {}
        self._ntok: dict[str, int | None] = {}
        self._sess_fp: tuple[Any, ...] = ()
        self._dirty = False
        self._behind = False  # changes a failed journal write did not record yet
        self._needs_save = False  # the journal cannot take records: a full save restarts it
        self._last_retry = 0.0

    def save(self) -> None:  # pragma: no cover - the store's
        raise NotImplementedError

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

    def _mark_saved(self, sha256: str, at: int) -> None:
        """Append and fsync a save mark (:func:`~loomtui.core.journal.saved_mark`): before a
        background save renames its file in. OSError (the journal cut back as it was)."""
        data = saved_mark(sha256, at)
        with self._io:
            if self._fd is None:
                raise OSError(errno.EIO, "the journal is closed")
            try:
                write_all(self._fd, data)
                os.fsync(self._fd)
            except OSError:
                self._cut_back()
                raise
            self._journal_end += len(data)

    def _trim_journal(
        self,
        sha256: str,
        at: int,
        elapsed: float,
        before_rename: Callable[[], None] | None = None,
    ) -> bool:
        """After a background save renamed the file ``sha256`` in: the journal becomes a
        header naming it and the records written since ``at`` (atomically; the records are
        copied under the lock, so none is lost). A trim that fails leaves the journal as it
        is, still whole: its save mark says where the new file's records begin (False)."""
        with self._io:
            if self._fd is not None:
                try:
                    with open(self.journal, "rb", opener=_no_follow) as fh:
                        fh.seek(at)
                        tail = fh.read(self._journal_end - at)
                    header = record_line({"op": "base", "v": JOURNAL_VERSION, "sha256": sha256})
                    data = header + tail
                    replace_sidecar(self.journal, data, before_rename)
                    fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
                except OSError:
                    return False  # the file is saved; the next compaction trims the journal
                old, self._fd = self._fd, fd
                os.close(old)
                self._journal_end = len(data)
                self._journal_bytes = len(tail)
            else:
                return False
        self.last_save_s, self.compaction_due = elapsed, False
        self._dirty = True
        if not self._behind and not self._needs_save:
            self._set_problem(None)  # a full disk earlier: everything is on disk again
        return True

    def _close_fd(self) -> None:
        with self._io:
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
        with self._io:  # the background save swaps the journal under the lock
            try:
                if self._fd is None:  # a failed cut-back closed it meanwhile
                    raise OSError(errno.EIO, "the journal is closed")
                write_all(self._fd, data)
            except OSError as exc:
                self._behind = True
                if self._fd is not None:
                    self._cut_back()
                self._set_problem(
                    f"could not write the journal of {self.path.name} ({_os_problem(exc)}); "
                    "the latest changes are only in memory until it can be "
                    "(retried with each change)"
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
                with self._io:
                    if self._fd is not None:
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
