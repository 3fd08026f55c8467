"""bonsai graphs (the tool's source is not public; the shape is the one damask and
basemode-loom read): ``{nodes: [{id, text, childrenIds, parentIds, group, visible, tags,
createdAt, lastVisited, lastUpdated (ms), logprobs, generationSettings, label}], edges:
[{from, to, relation}], name, pathNodes: [ids], focusedId}``.

bonsai allows several parents (a graph, not a tree): the first of ``parentIds`` is the tree
parent and the others are kept as links in the node's meta (``links``). A node's full text
is its ancestors' ``text`` joined. ``visible: false`` and ``hidden`` soft-hide the node
(``Node.hidden``); ``generationSettings`` (it may hold an endpoint or a key) is never read, nor
``logprobs`` (no writer is known to fill it).
"""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session
from ._flat import (
    Flat,
    assemble,
    epoch,
    id_list,
    link,
    listed_nodes,
    rating,
    short,
    text_field,
)

_WHAT = "bonsai graph"


def is_bonsai(data: Any) -> bool:
    """``nodes`` is a non-empty list of nodes with ``parentIds`` or ``childrenIds``."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not data["nodes"]:
        return False
    first = data["nodes"][0]
    return isinstance(first, dict) and ("parentIds" in first or "childrenIds" in first)


def import_bonsai(data: dict[str, Any], source: str) -> Session:
    """bonsai's ``nodes`` (first parent = tree parent); ``focusedId`` or the end of
    ``pathNodes`` is the current node."""
    flats: list[Flat] = []
    for nid, where, raw in listed_nodes(data["nodes"], source, _WHAT):
        parents = id_list(raw.get("parentIds"), source, where) or []
        meta: dict[str, Any] = {}
        if len(parents) > 1:
            meta["links"] = parents[1:]
        if raw.get("visible") is False or raw.get("hidden") is True:
            meta["hidden"] = True
        if rating(raw.get("rating")) is not None:
            meta["rating"] = rating(raw.get("rating"))
        tags = raw.get("tags")
        if isinstance(tags, list) and all(isinstance(t, str) for t in tags) and tags:
            meta["tags"] = [t[:100] for t in tags[:100]]
        model = short(raw.get("model"))
        flats.append(
            Flat(
                id=nid,
                parent=parents[0] if parents else None,
                text=text_field(raw, "text", source, where),
                origin="model" if model else "import",
                model=model,
                created=epoch(raw.get("createdAt")),
                bookmark=raw.get("bookmarked") is True or "bookmark" in (tags or ()),
                label=short(raw.get("label")),
                visited=type(raw.get("lastVisited")) in (int, float),
                meta=meta,
                order=id_list(raw.get("childrenIds"), source, where),
            )
        )
    ordered, roots = link(flats, source, _WHAT)
    known = {f.id for f in ordered}
    for flat in ordered:
        missing = [p for p in flat.meta.get("links", ()) if p not in known]
        if missing:
            raise fail(
                source, f"{_WHAT}: node {flat.id[:40]!r} has a missing parent {missing[0][:40]!r}"
            )
    current = data.get("focusedId")
    path = data.get("pathNodes")
    if not isinstance(current, (str, int)) and isinstance(path, list) and path:
        current = path[-1]
    meta: dict[str, Any] = {"imported_from": "bonsai"}
    name = short(data.get("name"))
    session = assemble(
        ordered, roots, meta, str(current) if isinstance(current, (str, int)) else None
    )
    if name and session.root.label is None:
        session.root.label = name
    return session
