"""The session lock: ``.NAME.lock`` beside a session file, holding the pid of the loomtui process
that has the session open. One writer at a time; a lock left by a dead process is taken over.
Used by :mod:`store` (the app, ``generate -o``) and by the verbs that write a session.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from pathlib import Path

from .errors import LoomError, SessionLockedError

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    # A zombie (killed, not yet reaped by its parent) holds nothing: treat it as dead.
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


class SessionLock:
    """``.NAME.lock`` created with O_EXCL, holding ``pid host``. Stale locks are taken over."""

    def __init__(self, path: Path) -> None:
        self.path = lock_path(path)
        self.session_path = path
        self.held = False

    def holder(self) -> tuple[int, str] | None:
        """(pid, host) of the holder, None if there is no lock; ``(-1, "")`` for one that
        loomtui did not write (garbled, a link, a FIFO, a device): it is read without
        following a link, only if it is a regular file, and only its first bytes (a lock
        planted as a link to /dev/zero or as a FIFO must not fill memory or hang)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError:
            return -1, ""  # a link (ELOOP) or unreadable: not a lock loomtui wrote
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return -1, ""
            raw = os.read(fd, 256).decode("ascii", errors="replace").split()
        finally:
            os.close(fd)
        try:
            return int(raw[0]), raw[1] if len(raw) > 1 else ""
        except (ValueError, IndexError):
            return -1, ""

    def _stale(self) -> bool:
        holder = self.holder()
        if holder is None:
            return False  # vanished: just retry
        pid, host = holder
        if pid == -1:
            # Empty or garbled: its writer died between create and write, unless it is young.
            try:
                return time.time() - self.path.lstat().st_mtime > 5
            except FileNotFoundError:
                return False
        if host and host != socket.gethostname():
            return False  # another machine (shared disk): we cannot tell, so respect it
        return pid != os.getpid() and not _pid_alive(pid)

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._stale():
                    # Rename first so two processes taking over the same stale lock cannot
                    # both succeed: only one rename of this inode wins.
                    grave = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
                    try:
                        os.rename(self.path, grave)
                        os.unlink(grave)
                    except FileNotFoundError:
                        pass
                    continue
                holder = self.holder()
                if holder is None:
                    continue
                pid, host = holder
                where = f" on {host}" if host and host != socket.gethostname() else ""
                # The app's way to look meanwhile, spelled as a whole command: the verbs that
                # write a session have no --readonly of their own.
                raise SessionLockedError(
                    f"{self.session_path} is open in another loomtui process "
                    f"(pid {pid}{where}); wait for it to finish (to look at the session "
                    f"meanwhile: loomtui --readonly {self.session_path}), "
                    f"or delete {self.path} if that process is gone"
                ) from None
            self._write_holder(fd)
            self.held = True
            return
        raise SessionLockedError(f"could not take the lock {self.path}")

    def _write_holder(self, fd: int) -> None:
        """Write ``pid host`` into the new lock; if the disk refuses, remove the lock again
        (an empty lock would hold the session for nobody) and say so in one line."""
        data = f"{os.getpid()} {socket.gethostname()}\n".encode("ascii", "replace")
        try:
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    if n <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[n:]
            finally:
                os.close(fd)
        except OSError as exc:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            raise LoomError(
                f"cannot take the lock {self.path} ({exc.strerror or exc}); nothing was opened"
            ) from None

    def release(self) -> None:
        if not self.held:
            return
        holder = self.holder()
        if holder is not None and holder[0] == os.getpid():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self.held = False
