"""Where the work on a session path is saved: another loom's file is never written over.

Opening ``story.json`` that socketteer/loom, logitloom, Obsidian Loom or mikupad wrote
imports it, and the work goes to ``story.loomtui.json`` beside it (opened instead from then
on). Used by :class:`loomtui.core.store.SessionStore` when it opens a path for writing.
"""

from __future__ import annotations

from pathlib import Path

from .errors import LoomError
from .tree import Session

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
    from .sessionfile import load_session

    try:
        session = load_session(path)
    except LoomError:
        return path, None
    if not session.meta.get("imported_from"):
        return path, None
    return path.with_name(path.stem + IMPORTED_SUFFIX), session
