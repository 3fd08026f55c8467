"""A big session's compacting full save, on a thread of its own: autosave never blocks typing.

A store journals every change at once; now and then it writes the whole file and empties the
journal (a compaction: ~2 s for a million tokens with 20 alternatives each). In the app that
runs here, off the app's thread, while the person goes on working:

1. On the caller's thread, holding the store's journal lock (no record can slip in between):
   a checkpoint (everything so far is in the journal), ``at`` = the journal's length, and a
   :func:`snapshot` of the tree: each node copied with its own lists and dicts, its tokens
   shared (a token is never changed once it is in the tree; only lists of them are). Cheap:
   references, not data.
2. On the thread: the snapshot is encoded, the pieces written one by one to a temp file
   created exclusively beside the session (never through a link), fsynced. Nothing joins the
   200 MB into one string, so the interpreter changes threads every few milliseconds; each
   node goes to its line at once (nothing for the cyclic GC to walk), and while keys come
   (``store.typing_until``) the thread sleeps most of the time (:class:`Pacer`).
3. A *save mark* is appended to the journal and fsynced: "the file with digest D holds the
   journal's first ``at`` bytes" (:func:`~loomtui.core.journal.saved_mark`).
4. The temp file is renamed over the session (then the folder is fsynced).
5. The journal is trimmed: a new journal (a header naming D, then the records written after
   ``at``, copied under the lock) replaces it atomically.

Meanwhile every change is journaled as usual, after ``at``. A kill at any point reopens to
the latest state: before 4 the file is the old one and the whole journal applies to it (the
mark is skipped); between 4 and 5 the file is D, the journal's header names the old file, and
the mark naming D says where its records begin; after 5 the new journal applies as always.
A save that fails (a full disk) removes its temp file, leaves the old file and the whole
journal, and says so in one line (``store.problem``); the store tries again later.

``SessionStore.compact_if_due`` starts one, ``save``/``close`` wait for it (quitting during a
compaction waits for it, then saves what came after it).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

from .atomicfile import _fsync_dir, create_exclusive
from .errors import SessionFileError
from .journal import write_all
from .tokens import Token
from .tree import Node, Session


class CompactingStore(Protocol):
    """What a background save uses of its store (a :class:`~loomtui.core.store.SessionStore`;
    typed here so that this module does not import the store that imports it)."""

    path: Path
    session: Session
    typing_until: float
    compaction_retry_s: float
    _compact_after: float
    _io: threading.RLock
    _fd: int | None
    _behind: bool
    _journal_end: int

    def checkpoint(self) -> int: ...

    def _mark_saved(self, sha256: str, at: int) -> None: ...

    def _trim_journal(
        self, sha256: str, at: int, elapsed: float, before_rename: Callable[[], None]
    ) -> bool: ...

    def _compaction_failed(self, exc: BaseException) -> str: ...


#: called with the name of each step a background save reaches ("snapshot", "written",
#: "marked", "renamed", "trim-written", "trimmed"): the kill tests stop there
on_step: Callable[[str], None] | None = None

_FIELDS = tuple(f.name for f in fields(Node))

#: While the person types (``store.typing_until``), the save's thread sleeps ``YIELD_S``
#: after each ``WORK_S`` of its work: the interpreter runs one thread at a time, and a key's
#: few milliseconds of handling would otherwise wait for the save's turn again and again.
WORK_S = 0.002
YIELD_S = 0.008


def step(name: str) -> None:
    """Tell :data:`on_step` (tests) that a background save reached ``name``."""
    hook = on_step
    if hook is not None:
        hook(name)


_ALL = attrgetter(*_FIELDS)


def _copy_node(node: Node) -> Node:
    copy = Node(*_ALL(node))
    copy.children = list(node.children)
    copy.meta = dict(node.meta) if node.meta else {}
    if node.settings is not None:
        copy.settings = dict(node.settings)
    return copy


class Pacer:
    """Called between two small pieces of the save's work (a node encoded, a piece written):
    gives the interpreter to the app's thread while keys come (see :data:`YIELD_S`)."""

    def __init__(self, store: CompactingStore) -> None:
        self.store = store
        self.mark = time.perf_counter()
        self.slept = 0.0  # seconds spent waiting for the person (reported by the benchmark)

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self.mark < WORK_S:
            return
        if time.monotonic() < self.store.typing_until:
            time.sleep(YIELD_S)
            self.slept += YIELD_S
        self.mark = time.perf_counter()


class _First(Sequence[Token]):
    """The first ``n`` tokens of a token list in the tree, read only when the save encodes
    their node: no list of a million references is made for the cyclic GC to walk (on
    whichever thread it runs, the app's included) while the save runs."""

    __slots__ = ("tokens", "n")

    def __init__(self, tokens: list[Token], n: int) -> None:
        self.tokens, self.n = tokens, n

    def __len__(self) -> int:
        return min(self.n, len(self.tokens))

    def __iter__(self) -> Iterator[Token]:
        return islice(self.tokens, self.n)

    def __getitem__(self, index: Any) -> Any:
        return self.tokens[: self.n][index]


class Snapshot:
    """The tree as it is at one moment, taken cheaply on the caller's thread: each node
    copied with its own children list and dicts, and the number of tokens it holds. The
    token lists themselves (a million references) are read later, on the save's thread, as
    each node is encoded (:meth:`settle`): a list in the tree only grows at its end or is
    replaced, or cut at a split, and its first tokens never change (what the journal's
    records build on too), so its first N tokens then are its first N now."""

    def __init__(self, session: Session) -> None:
        self.nodes = {nid: _copy_node(node) for nid, node in session.nodes.items()}
        self.counts = {
            nid: len(node.tokens) for nid, node in self.nodes.items() if node.tokens is not None
        }
        self.root_id, self.current_id = session.root_id, session.current_id
        self.meta = dict(session.meta)

    def settle(self) -> Session:
        """The snapshot as a session of its own: each node's tokens, its first N then."""
        for nid, count in self.counts.items():
            node = self.nodes[nid]
            node.tokens = _First(node.tokens, count)  # type: ignore[arg-type]
        return Session(self.nodes, self.root_id, self.current_id, self.meta)


def snapshot(session: Session) -> Snapshot:
    """:class:`Snapshot` of ``session``; later changes to it do not reach the snapshot's
    :meth:`~Snapshot.settle`-d session."""
    return Snapshot(session)


def write_pieces(
    pieces: list[bytes], path: Path, between: Callable[[], None] | None = None
) -> tuple[Path, str]:
    """Write ``pieces`` to a new temp file beside ``path`` (exclusive, never through a link,
    the mode of the file it will replace), fsynced; returns it and the sha256 of the bytes.
    Each ``os.write`` and the hashing of a piece let other threads run. OSError (the temp
    file removed); SessionFileError for a file its owner made read-only."""
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        mode = stat.S_IMODE(st.st_mode)
        raise SessionFileError(f"{path}: read-only file (mode {mode:o}); not replaced")
    fd, tmp = create_exclusive(path.parent if str(path.parent) else Path("."), path.name)
    sha = hashlib.sha256()
    try:
        try:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) if st is not None else 0o644)
            for piece in pieces:
                sha.update(piece)
                write_all(fd, piece)
                if between is not None:
                    between()
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove(tmp)
        raise
    return tmp, sha.hexdigest()


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class BackgroundSave:
    """One compacting save of a store's session, running on its own thread."""

    def __init__(self, store: CompactingStore, snap: Snapshot, at: int) -> None:
        self.store = store
        self.snap: Snapshot | None = snap
        self.at = at
        self.error: str | None = None  # why it failed (None: it worked, or still runs)
        self.pacer = Pacer(store)
        self.thread = threading.Thread(target=self._run, name="loomtui-compaction", daemon=True)

    @classmethod
    def start(cls, store: CompactingStore) -> BackgroundSave | None:
        """Checkpoint, snapshot and start; None when the journal could not take the
        checkpoint (a failing disk: the store has said so; nothing is started)."""
        with store._io:
            store.checkpoint()
            if store._behind or store._fd is None:
                return None
            save = cls(store, snapshot(store.session), store._journal_end)
        save.thread.start()
        return save

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def _run(self) -> None:
        from .sessionfile import session_parts

        store, path = self.store, self.store.path
        start = time.perf_counter()
        tmp: Path | None = None
        try:
            step("snapshot")
            assert self.snap is not None
            pace = self.pacer
            pieces = session_parts(self.snap.settle(), pace)
            self.snap = None  # the copy's lists can go as soon as they are encoded
            tmp, sha = write_pieces(pieces, path, pace)
            del pieces
            step("written")
            store._mark_saved(sha, self.at)
            step("marked")
            os.replace(tmp, path)
            tmp = None
            _fsync_dir(path.parent if str(path.parent) else Path("."))
            step("renamed")
            elapsed = time.perf_counter() - start
            if not store._trim_journal(sha, self.at, elapsed, lambda: step("trim-written")):
                store._compact_after = time.monotonic() + store.compaction_retry_s
            step("trimmed")
        except Exception as exc:  # noqa: BLE001 - any failure: said once, nothing lost
            if tmp is not None:
                _remove(tmp)
            self.error = store._compaction_failed(exc)
