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
        ids: dict[str, str] = {}
        pending = list(raw_nodes.items())
        # Parents may come after children in key order: resolve repeatedly (iterative).
        while pending:
            progress = False
            rest = []
            for uid, raw in pending:
                if not isinstance(raw, dict):
                    raise fail(source, f"Obsidian Loom: node {str(uid)[:40]!r} is not an object")
                parent = raw.get("parentId")
                if parent is not None and parent not in raw_nodes:
                    raise fail(
                        source, f"Obsidian Loom: node {str(uid)[:40]!r} has a missing parent"
                    )
                if parent is not None and parent not in ids:
                    rest.append((uid, raw))
                    continue
                text = raw.get("text", "")
                if not isinstance(text, str):
                    raise fail(
                        source, f"Obsidian Loom: node {str(uid)[:40]!r} text is not a string"
                    )
                node = session.add_child(
                    ids[parent] if parent is not None else note_root.id,
                    plain=_unescape_obsidian(text),
                    origin="import",
                    created=0.0,
                )
                node.bookmark = raw.get("bookmarked") is True
                node.meta["obsidian_id"] = str(uid)
                ids[uid] = node.id
                progress = True
            if not progress:
                raise fail(source, "Obsidian Loom: cycle in parentId links")
            pending = rest
        if note.get("current") in ids:
            current = ids[note["current"]]
    session.current_id = current
    session.meta = {"imported_from": "cosmicoptima/loom"}
    return session
