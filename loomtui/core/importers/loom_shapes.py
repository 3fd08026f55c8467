"""socketteer/loom's other shapes: the ones ``load_tree_data`` accepts besides the full tree
(a bare root node, a bare list of children), ``save_simple_tree``'s ``{text, children}`` with
no ids, and ``save_jsonl``'s export (one ``{id, text, parent_id}`` object per line).

``export_subtree`` writes ``{root, tags?, chapters?}``: that is the full tree's shape and
:mod:`.loom` reads it. The tree shapes are read by :func:`.loom.import_loom` once wrapped as
loom wraps them (a bare list becomes the children of an empty root, as loom's
``EMPTY_TREE`` does). The JSON-lines export is not one JSON document, so it is recognised
from the file's bytes before JSON parsing (:func:`import_lines`).
"""

from __future__ import annotations

import re
from typing import Any

from ..sessioncheck import fail
from ..strictjson import StrictJSONError, loads_strict
from ..tree import Session
from ._flat import Flat, assemble, link, node_id, opt_id, text_field
from .loom import import_loom

#: Keys that mark another format: an object with one of them is not a bare loom node.
_OTHER_KEYS = frozenset({"root", "nodes", "loomTree", "Sessions", "prompt", "state", "loomType"})
_NODE_KEYS = ("text", "children")


def is_loom_node(data: Any) -> bool:
    """A bare loom node or a simple tree: an object with a string ``text`` (and a list of
    ``children``, if any) and none of another format's keys."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("text"), str)
        and isinstance(data.get("children", []), list)
        and not _OTHER_KEYS.intersection(data)
    )


def is_loom_list(data: Any) -> bool:
    """A bare list of loom nodes: objects with ``text`` or ``children``."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(n, dict) and any(k in n for k in _NODE_KEYS) for n in data[:20])
    )


def _has_ids(node: Any) -> bool:
    stack = [node]
    while stack:
        raw = stack.pop()
        if isinstance(raw, dict):
            if "id" in raw:
                return True
            kids = raw.get("children")
            if isinstance(kids, list):
                stack.extend(kids)
    return False


def _select_as_loom(session: Session) -> None:
    """These shapes record no selected node: loom then selects the root's first child."""
    if session.root.children:
        session.current_id = session.root.children[0]


def import_loom_node(data: dict[str, Any], source: str) -> Session:
    """A bare root node (``load_tree_data``) or ``save_simple_tree``'s export."""
    session = import_loom({"root": data}, source)
    _select_as_loom(session)
    shape = "bare node" if _has_ids(data) else "simple tree"
    session.meta["imported_from"] = f"socketteer/loom ({shape})"
    return session


def import_loom_list(data: list[Any], source: str) -> Session:
    """A bare list of nodes: the children of an empty root, as loom loads it."""
    session = import_loom({"root": {"text": "", "children": data}}, source)
    _select_as_loom(session)
    session.meta["imported_from"] = "socketteer/loom (node list)"
    return session


def _first_line(raw: bytes) -> bytes:
    end = raw.find(b"\n")
    return raw if end < 0 else raw[:end]


def looks_like_lines(raw: bytes) -> bool:
    """Two or more lines, the first a whole JSON object with an ``"id"`` (a JSON document
    spread over lines never has a whole object on its first line, bar a one-line file)."""
    # No copy of the whole file (a session can be 200 MB): lstrip returns the same bytes
    # when there is nothing to strip, and the rest is searched in place.
    body = raw.lstrip(b"\xef\xbb\xbf").lstrip()
    first = _first_line(body)
    line = first.strip()
    return (
        line.startswith(b"{")
        and line.endswith(b"}")
        and b'"id"' in line
        and _NON_SPACE.search(body, len(first)) is not None
    )


_NON_SPACE = re.compile(rb"\S")


def import_lines(raw: bytes, source: str) -> Session | None:
    """loom's JSON-lines export, or None when the bytes are not JSON lines (one object per
    line with an ``id``; the first line decides, so a JSON document is never mistaken)."""
    if not looks_like_lines(raw):
        return None
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise fail(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    flats: list[Flat] = []
    what = "loom JSON lines"
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{what}: line {number}"
        try:
            obj = loads_strict(line)
        except StrictJSONError as exc:
            raise fail(source, f"{where}: {exc}") from None
        except (ValueError, RecursionError):
            if number == 1:
                return None
            raise fail(source, f"{where} is not a JSON object") from None
        if not isinstance(obj, dict) or "id" not in obj:
            if number == 1:
                return None
            raise fail(source, f"{where} is not an object with an id")
        flats.append(
            Flat(
                id=node_id(obj["id"], source, where),
                parent=opt_id(obj.get("parent_id"), source, where),
                text=text_field(obj, "text", source, where),
            )
        )
    ordered, roots = link(flats, source, what)
    return assemble(ordered, roots, {"imported_from": "socketteer/loom (JSON lines)"})
