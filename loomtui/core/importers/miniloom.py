"""MiniLoom (JD-P/miniloom) and MiniHF's loom: ``{loomTree: {nodeStore}, focus}``.

Each node of ``nodeStore`` (``{id, timestamp (ms), type: "root"|"user"|"gen"|"rewrite"|
"import", patch, summary, rating: true|false|null, read, parent, children, model, error,
finishReason}``) stores its text as diff-match-patch patches from its parent's full text
(:mod:`._patches`): applied from the root down, never by joining inserts. A rewrite is
placed where its text still extends an ancestor's (its MiniLoom parent kept in meta).
``focus`` (a copy of the focused node) gives the current node; its derived fields
(``cachedRenderText``, ``treeStats``) are not read.
"""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session
from ._flat import Flat, assemble, epoch, id_list, keyed_nodes, opt_id, short
from ._patches import patched_tree

_WHAT = "MiniLoom tree"
_ORIGINS = {
    "user": "prompt",
    "gen": "model",
    "rewrite": "edit",
    "import": "import",
    "root": "import",
}


def is_miniloom(data: Any) -> bool:
    """An object whose ``loomTree`` holds a ``nodeStore`` object."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("loomTree"), dict)
        and isinstance(data["loomTree"].get("nodeStore"), dict)
    )


def _opt_str(raw: dict[str, Any], key: str, where: str, source: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(source, f"{where}: {key} is not a string")
    return value[:2000] if value else None


def import_miniloom(data: dict[str, Any], source: str) -> Session:
    """MiniLoom's ``loomTree.nodeStore``, patches applied from the root."""
    store = data["loomTree"]["nodeStore"]
    flats: list[Flat] = []
    patches: dict[str, Any] = {}
    for nid, where, raw in keyed_nodes(store, source, _WHAT):
        kind = raw.get("type")
        if kind is not None and not isinstance(kind, str):
            raise fail(source, f"{where}: type is not a string")
        rating = raw.get("rating")
        if rating is not None and not isinstance(rating, bool):
            raise fail(source, f"{where}: rating is not true, false or null")
        meta: dict[str, Any] = {}
        if rating is not None:
            meta["rating"] = rating
        if kind:
            meta["miniloom_type"] = kind[:40]
        patches[nid] = raw.get("patch")
        flats.append(
            Flat(
                id=nid,
                parent=opt_id(raw.get("parent"), source, where),
                origin=_ORIGINS.get(kind or "", "import"),
                model=short(raw.get("model")),
                created=epoch(raw.get("timestamp")),
                label=short(raw.get("summary")),
                visited=raw.get("read") is True,
                error=_opt_str(raw, "error", where, source),
                finish_reason=_opt_str(raw, "finishReason", where, source),
                meta=meta,
                order=id_list(raw.get("children"), source, where),
            )
        )
    ordered, roots = patched_tree(flats, patches, source, _WHAT)
    focus = data.get("focus")
    current = None
    if isinstance(focus, dict) and isinstance(focus.get("id"), (str, int)):
        current = str(focus["id"])
    return assemble(ordered, roots, {"imported_from": "JD-P/miniloom"}, current)
