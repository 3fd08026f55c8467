"""basemode-loom's JSON export: ``{version: 1, nodes: [{id, parent_id, root_id, text, model,
strategy, max_tokens, temperature, branch_index, created_at, metadata: {bookmarked, hidden,
rating, generation_id}}]}``.

A node's full text is its ancestors' ``text`` joined. Several roots (one per ``root_id``)
hang under one empty root. The sampling fields (``strategy``, ``max_tokens``,
``temperature``) become the node's settings; ``hidden`` hides it (soft); ``rating`` is
its rating where it is thumbs or -1/0/+1, else kept in meta.
"""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session
from ._flat import (
    Flat,
    assemble,
    epoch,
    link,
    listed_nodes,
    opt_id,
    rating,
    short,
    text_field,
)

_WHAT = "basemode-loom export"


def is_basemode(data: Any) -> bool:
    """``nodes`` is a list whose first node has both ``parent_id`` and ``root_id``."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not data["nodes"]:
        return False
    first = data["nodes"][0]
    return isinstance(first, dict) and "parent_id" in first and "root_id" in first


def import_basemode(data: dict[str, Any], source: str) -> Session:
    """basemode-loom's ``nodes`` list, linked by ``parent_id``."""
    flats: list[Flat] = []
    for nid, where, raw in listed_nodes(data["nodes"], source, _WHAT):
        metadata = raw.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise fail(source, f"{where}: metadata is not an object")
        meta: dict[str, Any] = {}
        if metadata.get("hidden") is True:
            meta["hidden"] = True
        if rating(metadata.get("rating")) is not None:
            meta["rating"] = rating(metadata.get("rating"))
        settings = {
            key: raw[key]
            for key in ("strategy", "max_tokens", "temperature")
            if type(raw.get(key)) in (int, float) or (key == "strategy" and short(raw.get(key)))
        }
        model = short(raw.get("model"))
        flat = Flat(
            id=nid,
            parent=opt_id(raw.get("parent_id"), source, where),
            text=text_field(raw, "text", source, where),
            origin="model" if model else "import",
            model=model,
            created=epoch(raw.get("created_at")),
            bookmark=metadata.get("bookmarked") is True,
            meta=meta,
        )
        if settings:
            flat.meta["settings"] = settings
        flats.append(flat)
    ordered, roots = link(flats, source, _WHAT)
    return assemble(ordered, roots, {"imported_from": "FergusFettes/basemode-loom"})
