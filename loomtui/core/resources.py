"""The data that ships inside the package: colour themes and example sessions.

Both live under ``loomtui/data/`` and are found with :mod:`importlib.resources`, so a wheel
installed anywhere finds them (the checkout's top-level ``themes/`` and ``sessions/`` are links
to the same folders). Example sessions are read-only wherever they are installed: opening one
writes no lock, journal or temp file beside it (:func:`is_example`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

_DATA = "data"


def _folder(name: str) -> Path:
    return Path(str(resources.files("loomtui").joinpath(_DATA, name)))


def themes_dir() -> Path:
    """The folder of packaged ``*.toml`` colour themes."""
    return _folder("themes")


def examples_dir() -> Path:
    """The folder of packaged example sessions (``*.json``)."""
    return _folder("examples")


def list_examples() -> list[str]:
    """The packaged example sessions, by name (file name without ``.json``)."""
    folder = examples_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if p.is_file())


def example_path(name: str) -> Path | None:
    """The packaged example called ``name``, or None if there is none."""
    if name not in list_examples():
        return None
    return examples_dir() / f"{name}.json"


def is_example(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (after links) is inside the packaged examples folder: such a file is
    opened read-only, never written beside (it may sit in site-packages)."""
    try:
        resolved = Path(path).expanduser().resolve()
        folder = examples_dir().resolve()
    except (OSError, RuntimeError):
        return False
    return resolved.parent == folder or folder in resolved.parents
