"""wool (lyramakesmusic/wool): the server's ``tree_state.json`` or the UI's "download as
json": ``{nodes: {uuid: {id, parent_id, type, text, position, loading, error}},
focused_node_id}``.

A node's full text is its ancestors' ``text`` joined (``build_context``). A failed
generation keeps its ``error``; ``position`` (canvas layout) is not kept.
"""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session
from ._flat import Flat, assemble, keyed_nodes, link, opt_id, text_field

_WHAT = "wool tree"


def is_wool(data: Any) -> bool:
    """``nodes`` is an object of nodes with a ``parent_id`` link."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict) or not data["nodes"]:
        return False
    return all(isinstance(n, dict) and "parent_id" in n for n in list(data["nodes"].values())[:5])


def import_wool(data: dict[str, Any], source: str) -> Session:
    """wool's ``nodes`` map; ``focused_node_id`` is the current node."""
    flats: list[Flat] = []
    for nid, where, raw in keyed_nodes(data["nodes"], source, _WHAT):
        error = raw.get("error")
        if error is not None and not isinstance(error, str):
            raise fail(source, f"{where}: error is not a string")
        kind = raw.get("type")
        flats.append(
            Flat(
                id=nid,
                parent=opt_id(raw.get("parent_id"), source, where),
                text=text_field(raw, "text", source, where),
                origin="model" if kind == "ai" and raw.get("parent_id") is not None else "import",
                error=error[:2000] if error else None,
            )
        )
    ordered, roots = link(flats, source, _WHAT)
    focused = data.get("focused_node_id")
    current = str(focused) if isinstance(focused, (str, int)) else None
    return assemble(ordered, roots, {"imported_from": "lyramakesmusic/wool"}, current)
