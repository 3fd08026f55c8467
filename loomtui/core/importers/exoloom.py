"""exoloom exports (``loomType: "Exoloom"``, ``schemaVersion: 1``).

exoloom is closed source; the schema is the one Tapestry-Loom's migration assistant reads::

    {loomType, version?, schemaVersion: 1,
     tree: {title?, description?, createdAt?, rootNodeId,
            nodes: {"<int>": {content, authorType: "USER"|"LLM", authorName?, parentId?,
                              childrenIds: [int], createdAt?}}},
     lens: {bookmarks: [{nodeId}], prunedNodes: [{nodeId}]}}

A node's full text is its ancestors' ``content`` joined. Who wrote each node is recorded
(``USER`` -> a prompt node, ``LLM`` -> a model node named by ``authorName``). exoloom records
no active node: the session opens on the most recently created leaf. Pruned nodes are kept,
soft-hidden (``Node.hidden``: out of the views until shown again).
"""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session
from ._flat import Flat, assemble, epoch, id_list, link, node_id, object_of, opt_id, short

_WHAT = "exoloom export"


def is_exoloom(data: Any) -> bool:
    """``loomType`` is ``"Exoloom"``."""
    return isinstance(data, dict) and data.get("loomType") == "Exoloom"


def _lens_ids(lens: Any, key: str, source: str) -> set[str]:
    entries = lens.get(key) if isinstance(lens, dict) else None
    if entries is None:
        return set()
    if not isinstance(entries, list):
        raise fail(source, f"{_WHAT}: lens.{key} is not a list")
    out = set()
    for entry in entries:
        if not isinstance(entry, dict) or "nodeId" not in entry:
            raise fail(source, f"{_WHAT}: lens.{key} holds an entry without a nodeId")
        out.add(node_id(entry["nodeId"], source, f"{_WHAT}: lens.{key}"))
    return out


def import_exoloom(data: dict[str, Any], source: str) -> Session:
    """An exoloom export: ``tree.nodes`` linked by ``parentId``, ``lens`` bookmarks and
    prunes; the root is ``tree.rootNodeId``."""
    version = data.get("schemaVersion")
    if version != 1:
        raise fail(source, f"{_WHAT}: schemaVersion {str(version)[:20]!r} is not supported (1 is)")
    tree = object_of(data, "tree", source, _WHAT)
    raw_nodes = object_of(tree, "nodes", source, _WHAT)
    lens = data.get("lens")
    if lens is not None and not isinstance(lens, dict):
        raise fail(source, f"{_WHAT}: lens is not an object")
    bookmarks = _lens_ids(lens, "bookmarks", source)
    pruned = _lens_ids(lens, "prunedNodes", source)
    root_id = opt_id(tree.get("rootNodeId"), source, f"{_WHAT}: tree.rootNodeId")
    flats: list[Flat] = []
    for key, raw in raw_nodes.items():
        where = f"{_WHAT}: node {str(key)[:40]!r}"
        if not isinstance(raw, dict):
            raise fail(source, f"{where} is not an object")
        nid = node_id(key, source, where)
        content = raw.get("content", "")
        if not isinstance(content, str):
            raise fail(source, f"{where}: content is not a string")
        parent = opt_id(raw.get("parentId"), source, where)
        if nid == root_id and parent is not None:
            raise fail(source, f"{where}: the root node has a parent")
        author = raw.get("authorType")
        if author is not None and author not in ("USER", "LLM"):
            raise fail(source, f"{where}: authorType {str(author)[:20]!r} is not USER or LLM")
        meta: dict[str, Any] = {}
        if nid in pruned:
            meta["hidden"] = True
        flats.append(
            Flat(
                id=nid,
                parent=parent,
                text=content,
                origin={"USER": "prompt", "LLM": "model"}.get(author or "", "import"),
                model=short(raw.get("authorName")) if author == "LLM" else None,
                created=epoch(raw.get("createdAt")),
                bookmark=nid in bookmarks,
                meta=meta,
                order=id_list(raw.get("childrenIds"), source, where),
            )
        )
    ordered, roots = link(flats, source, _WHAT)
    if root_id is not None and roots != [root_id]:
        raise fail(source, f"{_WHAT}: tree.rootNodeId {root_id[:40]!r} is not the one root")
    info: dict[str, Any] = {}
    for key in ("title", "description"):
        if isinstance(tree.get(key), str):
            info[key] = tree[key][:2000]
    meta = {"imported_from": "exoloom"}
    if info:
        meta["exoloom"] = info
    session = assemble(ordered, roots, meta)
    title = short(tree.get("title"))
    if title:
        session.root.label = title
    return session
