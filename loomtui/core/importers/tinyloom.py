"""The "tinyloom" mapping (known from basemode-loom's importer and its tests):
``{root, nodes: {id: {id, parent, type, patches: [{diffs}], timestamp, children,
bookmarked, hidden}}}``.

Text is stored as diff-match-patch patches from the parent's text, as in MiniLoom
(:mod:`._patches`); a node that has ``text`` instead adds it to its parent's text. ``type``
names the model (``"root"`` names none); ``hidden`` soft-hides it.
"""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session
from ._flat import Flat, assemble, epoch, id_list, keyed_nodes, node_id, opt_id, rating, short
from ._patches import patched_tree

_WHAT = "tinyloom tree"
_NOT_MODELS = {"root", "user", "human", "prompt"}


def is_tinyloom(data: Any) -> bool:
    """``nodes`` is an object of nodes with a ``parent`` link, beside a ``root`` id."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        return False
    if not isinstance(data.get("root"), (str, int)) or not data["nodes"]:
        return False
    return all(isinstance(n, dict) and "parent" in n for n in list(data["nodes"].values())[:5])


def import_tinyloom(data: dict[str, Any], source: str) -> Session:
    """tinyloom's ``nodes`` map: patches applied from the root (``root``) down."""
    root_id = node_id(data["root"], source, f"{_WHAT}: root")
    flats: list[Flat] = []
    patches: dict[str, Any] = {}
    appended: dict[str, str] = {}
    for nid, where, raw in keyed_nodes(data["nodes"], source, _WHAT):
        if raw.get("text") is not None:
            if not isinstance(raw["text"], str):
                raise fail(source, f"{where}: text is not a string")
            appended[nid] = raw["text"]
        else:
            patches[nid] = raw.get("patches", raw.get("patch"))
        kind = raw.get("type")
        model = raw.get("model") if isinstance(raw.get("model"), str) else None
        if model is None and isinstance(kind, str) and kind not in _NOT_MODELS:
            model = kind
        meta: dict[str, Any] = {}
        if raw.get("hidden") is True:
            meta["hidden"] = True
        if rating(raw.get("rating")) is not None:
            meta["rating"] = rating(raw.get("rating"))
        flats.append(
            Flat(
                id=nid,
                parent=opt_id(raw.get("parent"), source, where),
                origin="model" if model else "import",
                model=short(model),
                created=epoch(raw.get("timestamp")),
                bookmark=raw.get("bookmarked") is True,
                meta=meta,
                order=id_list(raw.get("children"), source, where),
            )
        )
    ordered, roots = patched_tree(flats, patches, source, _WHAT, appended)
    if root_id not in {f.id for f in ordered}:
        raise fail(source, f"{_WHAT}: root {root_id[:40]!r} is not a node")
    return assemble(ordered, roots, {"imported_from": "tinyloom"})
