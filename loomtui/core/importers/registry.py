"""The ordered registry of foreign formats, detected by content (never by file name).

:func:`import_foreign` tries each :data:`FORMATS` entry's ``detect`` in order and hands the
parsed JSON to the first that says yes. The order matters where shapes could overlap, and
is, with why:

1. ``socketteer/loom``: an object whose ``root`` is a node object. Checked first: it is the
   most specific key, and no other format has a ``root`` object (tinyloom's ``root`` is an id).
2. ``logitloom``: an object with a string ``isLogitLoomTreeVersion`` (an explicit marker).
3. ``exoloom``: ``loomType == "Exoloom"`` (an explicit marker).
4. ``miniloom``: a ``loomTree`` object holding a ``nodeStore`` object (an explicit key pair).
5. ``mikupad-db``: a ``Sessions`` list of ``{key, value}`` records (mikupad's database).
6. ``obsidian-loom``: a ``state`` of notes or one note (``nodes`` with ``parentId``).
7. ``wool``: ``nodes`` an object of nodes with ``parent_id``.
8. ``tinyloom``: ``nodes`` an object of nodes with ``parent``, beside a ``root`` id. The three
   ``nodes``-object formats differ in their link key, so their order only keeps the oldest first.
9. ``basemode-loom``: ``nodes`` a list whose first node has ``parent_id`` and ``root_id``.
10. ``bonsai``: ``nodes`` a list whose first node has ``parentIds`` or ``childrenIds``. After
   basemode-loom: its test is the looser of the two ``nodes``-list formats.
11. ``mikupad``: an object of scalars with a string ``prompt``. Late: its test is loose
   (any scalar-valued object with a prompt and one mikupad key), so every format with an
   explicit marker is tried before it.
12. ``socketteer/loom-node``: a bare loom node or ``save_simple_tree``'s ``{text, children}``:
   any object with a string ``text`` and none of the keys above. Next to last: the loosest
   object test.
13. ``socketteer/loom-list``: a non-empty list of objects with ``text`` or ``children``. The
   only list format.

loom's JSON-lines export (``save_jsonl``) is not one JSON document: :func:`import_raw` reads
it from the file's bytes before JSON parsing (``socketteer/loom-jsonl``), as Tapestry's binary
weaves are refused there.

A new format is one module in this package plus one entry here; ``tests/core/
test_importer_registry.py`` checks each entry is detected from its content alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import SessionFileError
from ..sessioncheck import check_tree, fail
from ..tree import Session
from .basemode import import_basemode, is_basemode
from .bonsai import import_bonsai, is_bonsai
from .exoloom import import_exoloom, is_exoloom
from .logitloom import import_logitloom, is_logitloom
from .loom import import_loom, is_loom
from .loom_shapes import (
    import_lines,
    import_loom_list,
    import_loom_node,
    is_loom_list,
    is_loom_node,
)
from .mikupad import import_mikupad, is_mikupad
from .mikupad_db import import_mikupad_db, is_mikupad_db
from .miniloom import import_miniloom, is_miniloom
from .obsidian import import_obsidian, is_obsidian
from .tinyloom import import_tinyloom, is_tinyloom
from .wool import import_wool, is_wool


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
    Format("exoloom", is_exoloom, import_exoloom),
    Format("miniloom", is_miniloom, import_miniloom),
    Format("mikupad-db", is_mikupad_db, import_mikupad_db),
    Format("obsidian-loom", is_obsidian, import_obsidian),
    Format("wool", is_wool, import_wool),
    Format("tinyloom", is_tinyloom, import_tinyloom),
    Format("basemode-loom", is_basemode, import_basemode),
    Format("bonsai", is_bonsai, import_bonsai),
    Format("mikupad", is_mikupad, import_mikupad),
    Format("socketteer/loom-node", is_loom_node, import_loom_node),
    Format("socketteer/loom-list", is_loom_list, import_loom_list),
)

#: The name :func:`import_raw` gives loom's JSON-lines export (``--format`` accepts it).
LINES_FORMAT = "socketteer/loom-jsonl"


def detect_format(data: Any) -> Format | None:
    """The first registered format that recognises ``data``, or None."""
    for fmt in FORMATS:
        if fmt.detect(data):
            return fmt
    return None


def format_named(name: str) -> Format | None:
    """The registered format called ``name``, or None."""
    return next((f for f in FORMATS if f.name == name), None)


def format_names() -> list[str]:
    """Every format name ``--format`` accepts, in detection order."""
    return [f.name for f in FORMATS] + [LINES_FORMAT]


def import_foreign(data: Any, source: str, name: str | None = None) -> Session | None:
    """A Session from another loom's parsed JSON, or None if no format recognises it.

    ``name`` forces one format (its detection is skipped; a file of another shape is refused
    with one line). The importer's tree is checked as a loaded file's is (links agree, no
    cycles); its meta says where it came from (``imported_from``, which ``loomtui info`` shows)."""
    fmt = detect_format(data) if name is None else format_named(name)
    if fmt is None:
        return None
    if name is not None and not fmt.detect(data):
        raise fail(source, f"not a {name} file (its shape is not that format's)")
    session = _guarded(lambda: fmt.load(data, source), source)
    check_tree(session.nodes, session.root_id, session.current_id, source)
    return session


def import_raw(raw: bytes, source: str, name: str | None = None) -> Session | None:
    """A Session from a file that is not one JSON document (loom's JSON lines), or None.

    Runs on the file's bytes before JSON parsing; None when they are not JSON lines (or when
    ``name`` asks for another format)."""
    if name is not None and name != LINES_FORMAT:
        return None
    session = _guarded(lambda: import_lines(raw, source), source)
    if session is None:
        if name == LINES_FORMAT:
            raise fail(source, "not loom JSON lines (one {id, text, parent_id} object a line)")
        return None
    check_tree(session.nodes, session.root_id, session.current_id, source)
    return session


def _guarded(load: Callable[[], Session | None], source: str) -> Session | None:
    """Run an importer: another tool's odd file is refused in one line (SessionFileError),
    never a traceback."""
    try:
        return load()
    except SessionFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - another tool's odd file: one line, no traceback
        raise fail(source, f"cannot import ({type(exc).__name__}: {exc})"[:200]) from None
