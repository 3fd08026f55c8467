"""The undo history's file: ``.NAME.history`` beside the session file ``NAME``.

JSON lines, appended with one ``os.write`` each (no fsync: a kill keeps what was written):
a header ``{"op": "base", "v": 1}``, then ``step`` records
(:func:`loomtui.core.historystep.encode_step`) and ``undo``/``redo`` marks. A generation's
step is first written *pending* when its tokens start to stream, then again (``amends``)
when it ends; ``drop`` takes a pending step away. Reading replays them into the two stacks,
so what was undoable when loomtui stopped (a SIGKILL included: the last line a kill cut
short is dropped) is undoable after reopening.

Bounded: the newest :data:`~loomtui.core.history.MAX_STEPS` steps, and :data:`MAX_BYTES` of
file. Past that the file is rewritten with what is kept (a temp file created exclusively,
then renamed over it); a single step over :data:`MAX_STEP_BYTES` is kept in memory only
(undoable until loomtui closes; said once) and gets no marks here.

The file is created exclusively and never followed through a link. One that is damaged (a
bad line that is not a kill's cut tail, a newer version, a link or not a regular file) is
refused in one line and left as it is: the history is kept in memory for this run and
nothing is written over it. The session file never depends on it.

The session's lock covers it: only the process holding the session writes here.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

from .fsafe import os_problem, read_regular, replace_sidecar
from .journal import line, write_all

HISTORY_VERSION = 1
#: the file is compacted (oldest steps dropped) past this size
MAX_BYTES = 64 << 20
#: a step whose record is larger than this is not kept (a huge delete, say)
MAX_STEP_BYTES = 32 << 20


def history_path(path: Path) -> Path:
    """Where the undo history of session file ``path`` lives."""
    return path.with_name(f".{path.name}.history")


class HistoryFile:
    """The history of one session file; ``readonly`` reads but never writes."""

    def __init__(self, session_path: Path, *, readonly: bool = False) -> None:
        self.path = history_path(session_path)
        self.readonly = readonly
        self.broken = False  # refused on reading: never written for this run
        self.size = 0

    # ------------------------------------------------------------------ reading
    def load(
        self, max_steps: int = 1 << 30
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
        """The undo and redo stacks the file holds (the undo stack bounded to ``max_steps``
        as it was in memory), and a one-line warning when it was refused (then both stacks
        are empty and the file is left alone)."""
        from .errors import SessionFileError
        from .sessionfile import parse_json

        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return [], [], None
        except OSError as exc:
            return self._refuse(f"cannot be read ({os_problem(exc)})")
        if not stat.S_ISREG(st.st_mode):
            return self._refuse("is not a regular file")
        try:
            raw = read_regular(self.path)
        except OSError as exc:
            return self._refuse(f"cannot be read ({os_problem(exc)})")
        if raw is None:
            return self._refuse("is not a regular file")
        self.size = len(raw)
        lines = raw.split(b"\n")
        cut_tail = bool(lines[-1].strip())  # a kill mid-write: the last line has no newline
        body = [(k, raw_line) for k, raw_line in enumerate(lines) if raw_line.strip()]
        undo: list[dict[str, Any]] = []
        redo: list[dict[str, Any]] = []
        for pos, (k, raw_line) in enumerate(body):
            try:
                rec = parse_json(raw_line, f"{self.path.name} line {k + 1}")
            except SessionFileError as exc:
                if pos == len(body) - 1 and cut_tail:
                    break
                return self._refuse(f"is damaged ({exc})")
            if not isinstance(rec, dict):
                return self._refuse(f"is damaged (line {k + 1} is not an object)")
            op = rec.get("op")
            if pos == 0:
                if op != "base" or rec.get("v") != HISTORY_VERSION:
                    return self._refuse("is not an undo history this loomtui can read")
                continue
            if op == "step":
                if not all(isinstance(rec.get(f), list) for f in ("before", "after", "pool")):
                    return self._refuse(f"is damaged (line {k + 1}: a step of the wrong shape)")
                if rec.get("amends") and undo and undo[-1].get("pending"):
                    undo.pop()  # the step of a generation, written again when it ended
                undo.append(rec)
                del undo[:-max_steps]
                redo.clear()
            elif op == "undo" and undo:
                redo.append(undo.pop())
            elif op == "redo" and redo:
                undo.append(redo.pop())
                del undo[:-max_steps]
            elif op == "drop":
                if undo and undo[-1].get("pending"):
                    undo.pop()  # a pending step that came to nothing, or was undone
            elif op not in ("undo", "redo"):
                return self._refuse(f"is damaged (line {k + 1}: unknown record {str(op)[:20]!r})")
        return undo, redo, None

    def _refuse(self, why: str) -> tuple[list[Any], list[Any], str]:
        self.broken = True
        return (
            [],
            [],
            (
                f"{self.path.name} {why}: undo history from earlier runs is off, and the file "
                "is left as it is"
            ),
        )

    # ------------------------------------------------------------------ writing
    def _writable(self) -> bool:
        return not (self.readonly or self.broken)

    def _open(self) -> int:
        """The file for appending: created exclusively with its header, never a link."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        except FileNotFoundError:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            header = line({"op": "base", "v": HISTORY_VERSION})
            write_all(fd, header)
            self.size = len(header)
            return fd
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
        return fd

    def _write(self, data: bytes) -> str | None:
        # No fsync: the system keeps a finished write through a kill of loomtui (what undo
        # must survive), and a change's save must not wait on the disk for its undo step.
        fd = self._open()
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        self.size += len(data)
        return None

    def append(
        self, step: dict[str, Any], undo: list[dict[str, Any]], redo: list[dict[str, Any]]
    ) -> str | None:
        """Write a new step (the stacks as they are after it, for a compaction); a one-line
        note when it could not be kept on disk."""
        if not self._writable():
            return None
        try:
            data = line(step)
        except ValueError as exc:
            step["memory_only"] = True
            return f"this change can be undone only until loomtui closes ({exc})"
        if len(data) > MAX_STEP_BYTES:
            # Undoable in memory (the accidental delete of a big subtree, say), not on disk:
            # it never gets an undo/redo mark, so the file's stacks stay the memory's less it.
            step["memory_only"] = True
            return (
                f"this change ({len(data) >> 20} MiB) is too large to keep on disk: it can be "
                f"undone only until loomtui closes (the limit is {MAX_STEP_BYTES >> 20} MiB)"
            )
        return self._guarded(lambda: self._append_or_compact(data, undo, redo))

    def write_pending(self, step: dict[str, Any]) -> bool:
        """Write a pending step (see :meth:`History.mark_pending`); True when written."""
        if not self._writable():
            return False
        try:
            data = line(step)
        except ValueError:
            return False
        if len(data) > MAX_STEP_BYTES or self.size + len(data) > MAX_BYTES:
            return False  # the final step says it all (compacting) when the change ends
        return self._guarded(lambda: self._write(data)) is None

    def mark(
        self,
        op: str,
        undo: list[dict[str, Any]],
        redo: list[dict[str, Any]],
        step: dict[str, Any] | None = None,
    ) -> str | None:
        """Write an ``undo``, ``redo`` or ``drop`` mark (a pending step gone); nothing for a
        ``step`` kept in memory only."""
        if not self._writable() or (step is not None and step.get("memory_only")):
            return None
        return self._guarded(lambda: self._append_or_compact(line({"op": op}), undo, redo))

    def _guarded(self, write: Any) -> str | None:
        try:
            return write()  # type: ignore[no-any-return]
        except OSError as exc:
            return f"could not write the undo history {self.path.name} ({os_problem(exc)})"

    def _append_or_compact(
        self, data: bytes, undo: list[dict[str, Any]], redo: list[dict[str, Any]]
    ) -> str | None:
        if self.size + len(data) <= MAX_BYTES:
            return self._write(data)
        self.compact(undo, redo)
        return None

    def compact(self, undo: list[dict[str, Any]], redo: list[dict[str, Any]]) -> None:
        """Rewrite the file with the stacks as they are, dropping the oldest steps until it
        is half of :data:`MAX_BYTES` (the stacks lose them too)."""
        steps = [line(s) for s in undo if not s.get("memory_only")]
        redos = [line(s) for s in redo if not s.get("memory_only")]
        total = sum(map(len, steps)) + sum(map(len, redos))
        while steps and total > MAX_BYTES // 2:
            total -= len(steps.pop(0))
            while undo and undo[0].get("memory_only"):
                undo.pop(0)
            undo.pop(0)
        # Redo steps are written as steps undone again, the most recently undone last.
        body = [line({"op": "base", "v": HISTORY_VERSION}), *steps, *redos[::-1]]
        body += [line({"op": "undo"})] * len(redos)
        data = b"".join(body)
        replace_sidecar(self.path, data)
        self.size = len(data)
