"""The ordered registry of foreign formats, detected by content (never by file name).

:func:`import_foreign` tries each :data:`FORMATS` entry's ``detect`` in order and hands the
parsed JSON to the first that says yes. The order matters where shapes could overlap, and
is, with why:

1. ``socketteer/loom``: an object whose ``root`` is a node object. Checked first: it is the
   most specific key, and no other format has a ``root`` object.
2. ``logitloom``: an object with a string ``isLogitLoomTreeVersion`` (an explicit marker).
3. ``obsidian-loom``: a ``state`` of notes or one note (``nodes`` with ``parentId``).
4. ``mikupad``: an object of scalars with a string ``prompt``. Last: its test is the
   loosest (any scalar-valued object with a prompt and one mikupad key), so every format with
   an explicit marker is tried before it.

A new format is one module in this package plus one entry here; ``tests/core/
test_importer_registry.py`` checks each entry is detected from its content alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..sessioncheck import check_tree
from ..tree import Session
from .logitloom import import_logitloom, is_logitloom
from .loom import import_loom, is_loom
from .mikupad import import_mikupad, is_mikupad
from .obsidian import import_obsidian, is_obsidian


@dataclass(frozen=True, slots=True)
class Format:
    """One foreign format: its name, a test on parsed JSON, and the importer."""

    name: str
    detect: Callable[[Any], bool]
    load: Callable[[Any, str], Session]


#: Every importable format, in detection order (see the module docstring for why).
FORMATS: tuple[Format, ...] = (
    Format("socketteer/loom", is_loom, import_loom),
    Format("logitloom", is_logitloom, import_logitloom),
    Format("obsidian-loom", is_obsidian, import_obsidian),
    Format("mikupad", is_mikupad, import_mikupad),
)


def detect_format(data: Any) -> Format | None:
    """The first registered format that recognises ``data``, or None."""
    for fmt in FORMATS:
        if fmt.detect(data):
            return fmt
    return None


def import_foreign(data: Any, source: str) -> Session | None:
    """A Session from another loom's parsed JSON, or None if no format recognises it.

    The importer's tree is checked as a loaded file's is (links agree, no cycles)."""
    fmt = detect_format(data)
    if fmt is None:
        return None
    session = fmt.load(data, source)
    check_tree(session.nodes, session.root_id, session.current_id, source)
    return session
