"""Replace a file's content atomically: readers see the old bytes or the new, never a part.

The new bytes go to a temp file in the same folder, created exclusively and never through a
link (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name), written in full (short writes are
completed), fsynced, then renamed over the file. Any failure (ENOSPC, EIO) removes the temp
file and leaves the old file as it was.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write only a part)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - a write that makes no progress
            raise OSError("write made no progress")
        view = view[n:]


def create_exclusive(folder: Path, name: str, mode: int = 0o666) -> tuple[int, Path]:
    """A new file ``.NAME.<random>.tmp`` in ``folder``, opened for writing: never an
    existing file, never through a planted link. Returns the descriptor and its path."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode)
        except FileExistsError:
            continue  # taken (or a link planted there): try another name
        return fd, tmp
    raise FileExistsError(f"no free temp file name in {folder}")


def replace_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Make ``path`` hold exactly ``data``, atomically (see the module's docstring).

    A symlink at ``path`` is kept and the file it points to is replaced. A path that is not
    a regular file (a terminal, ``/dev/stdout``, a FIFO) is written directly, as ``>`` in a
    shell would. The old file's permission bits are kept. Raises ``OSError``.
    """
    target = Path(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "is a directory", str(target))
    if st is not None and not stat.S_ISREG(st.st_mode):
        fd = os.open(target, os.O_WRONLY | _O_CLOEXEC)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        return
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    folder = real.parent if str(real.parent) else Path(".")
    fd, tmp = create_exclusive(folder, real.name)
    try:
        try:
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every system opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
