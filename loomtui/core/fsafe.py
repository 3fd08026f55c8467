"""The file-system care the session store takes around its files: what a session path names
(a link is followed to the file it names), reading only regular files and never through a
link, keeping a journal aside under a new name, cleaning the temp files a kill left behind,
and refusing a file its owner made read-only.

Pure ``os`` calls, no knowledge of the session format: :mod:`store` and :mod:`journalfile`
build on them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .atomicfile import write_all
from .errors import SessionFileError


def session_target(path: Path) -> Path:
    """The file a session path names. A symbolic link is followed to its target, so the
    lock, the journal and the temp files sit beside the file that is written: the link
    stays a link, and two processes that open the link and the target share one lock."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def refuse_not_regular(path: Path) -> None:
    """Refuse, in one line naming ``path`` as given, a session path that names something
    other than a regular file (a FIFO, a device, a folder; a link to one): checked before
    its lock is taken, which would otherwise be created beside the link's target (in
    ``/dev`` for a link to ``/dev/zero``). Nothing to do for a path that does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return  # absent (created later) or unreadable (the loader says why)
    if not stat.S_ISREG(st.st_mode):
        from .sessioncheck import fail
        from .sessionfile import _not_regular  # the loader's words for what it refuses

        raise fail(os.fspath(path), _not_regular(st.st_mode) or "is not a regular file")


def digest(path: Path) -> str | None:
    """sha256 of the file, None if absent: names the base a journal applies to."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a FIFO or a device: no base a journal could name (never read)
        h = hashlib.sha256()
        while chunk := fh.read(1 << 20):
            h.update(chunk)
        return h.hexdigest()


def read_regular(path: Path, limit: int = 1 << 31) -> bytes | None:
    """A file's bytes, never through a link and only if it is a regular file (a FIFO or a
    link to a device planted as a journal would hang or fill memory); None when absent,
    a link or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)


def os_problem(exc: OSError) -> str:
    """What the system said, in a few words ("No space left on device")."""
    return exc.strerror or type(exc).__name__


def remove_file(path: Path) -> None:
    """Remove ``path`` if it is there."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def move_aside(journal: Path) -> Path | None:
    """Rename a journal that does not apply to ``.NAME.journal.rejected-TIME`` (a new name,
    taken exclusively: an existing file there is never replaced). None if it cannot be."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        aside = journal.with_name(f"{journal.name}.rejected-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(journal, aside, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError:
            return None
        remove_file(journal)
        return aside
    return None


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files a kill during a save left beside ``path``: only loomtui's
    own temp names (``.NAME.XXXXXXXX.tmp``, ``.NAME.journal.XXXXXXXX.tmp`` and the undo
    history's ``.NAME.history.XXXXXXXX.tmp``, the random
    part as :mod:`tempfile` and :mod:`atomicfile` make it), only regular files this user
    owns, never a link (nor what it points to). Call with the session's lock held (another
    process's save in flight would lose its file). Returns what was removed."""
    ours = re.compile(r"\." + re.escape(path.name) + r"\.(?:journal\.|history\.)?[a-z0-9_]{8}\.tmp")
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent if str(path.parent) else ".")
    except OSError:
        return removed
    for name in names:
        if not ours.fullmatch(name):
            continue
        tmp = path.with_name(name)
        try:
            st = os.lstat(tmp)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid():
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


def refuse_read_only_file(
    path: Path, hint: str = "open it with loomtui --readonly, or make it writable (chmod u+w)"
) -> None:
    """A session file nobody may write is not opened for writing (each save would fail, or
    replace a file its owner protected): one line that says what to do instead (``hint``)."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise SessionFileError(f"{path} is read-only (mode {stat.S_IMODE(st.st_mode):o}): {hint}")


def replace_sidecar(
    path: Path, data: bytes, before_rename: Callable[[], None] | None = None
) -> None:
    """Make a file loomtui keeps beside a session (its journal, its undo history) hold
    exactly ``data``: written to a temp file ``NAME.XXXXXXXX.tmp`` created exclusively
    (never through a link planted at its name), fsynced, then renamed over ``path`` (whatever
    is there, a planted link included, is replaced, never followed). On any failure the temp
    file is removed and ``path`` is as it was. Raises ``OSError``. ``before_rename``: called
    between the two (the kill tests stop there)."""
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        remove_file(Path(tmp))
        raise
