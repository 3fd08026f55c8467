"""Obsidian Loom (cosmicoptima/loom): the plugin's ``data.json`` (``state`` of notes) or one
note object. Its ``settings`` (which hold API keys) are never read."""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tree import Session


def _is_obsidian_note(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("nodes"), dict)
        and all(isinstance(n, dict) and "parentId" in n for n in list(data["nodes"].values())[:5])
    )


def is_obsidian(data: Any) -> bool:
    """A plugin ``data.json`` (a ``state`` of notes) or one note: ``nodes`` with ``parentId``."""
    if not isinstance(data, dict):
        return False
    state = data.get("state")
    if isinstance(state, dict) and state and all(_is_obsidian_note(v) for v in state.values()):
        return True
    return _is_obsidian_note(data)


def _unescape_obsidian(text: str) -> str:
    return text.replace("\\<", "<").replace("\\[", "[")


def import_obsidian(data: dict[str, Any], source: str) -> Session:
    """Obsidian Loom: each note's ``nodes`` (``parentId`` links, order = key order) under one
    synthetic root per note; ``settings`` (API keys) are ignored."""
    notes = data["state"] if isinstance(data.get("state"), dict) else {"note": data}
    session = Session.new()
    top = session.root
    top.origin, top.created = "import", 0.0
    current = top.id
    for note_name, note in notes.items():
        raw_nodes = note["nodes"]
        note_root = session.add_child(top.id, plain="", origin="import", created=0.0)
        note_root.label = str(note_name)[:200]
        ids = _add_note_nodes(session, note_root.id, raw_nodes, source)
        if isinstance(note.get("current"), str) and note["current"] in ids:
            current = ids[note["current"]]
    session.current_id = current
    session.meta = {"imported_from": "cosmicoptima/loom"}
    return session


def _add_note_nodes(
    session: Session, note_root: str, raw_nodes: dict[str, Any], source: str
) -> dict[str, str]:
    """Add one note's nodes under ``note_root``; their Obsidian ids -> the new node ids.

    Linear in the number of nodes whatever their order (children may come before their
    parents): the children of each node are listed in one pass, then the tree is walked
    from the note's top nodes (iteratively). Siblings keep their key order."""
    children: dict[str | None, list[str]] = {}
    for uid, raw in raw_nodes.items():
        if not isinstance(raw, dict):
            raise fail(source, f"Obsidian Loom: node {str(uid)[:40]!r} is not an object")
        parent = raw.get("parentId")
        if parent is not None and (not isinstance(parent, str) or parent not in raw_nodes):
            raise fail(source, f"Obsidian Loom: node {str(uid)[:40]!r} has a missing parent")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise fail(source, f"Obsidian Loom: node {str(uid)[:40]!r} text is not a string")
        children.setdefault(parent, []).append(uid)
    ids: dict[str, str] = {}
    stack: list[tuple[str, str]] = [(uid, note_root) for uid in reversed(children.get(None, []))]
    while stack:
        uid, parent_id = stack.pop()
        raw = raw_nodes[uid]
        node = session.add_child(
            parent_id,
            plain=_unescape_obsidian(raw.get("text", "")),
            origin="import",
            created=0.0,
        )
        node.bookmark = raw.get("bookmarked") is True
        node.meta["obsidian_id"] = str(uid)
        ids[uid] = node.id
        stack.extend((c, node.id) for c in reversed(children.get(uid, ())))
    if len(ids) != len(raw_nodes):
        raise fail(source, "Obsidian Loom: cycle in parentId links")
    return ids
