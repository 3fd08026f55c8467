"""mikupad's whole-database export (``mikupad_db_export.json``): ``{"Sessions": [{key,
value}], "Names": [{key, value}], "Templates": [...], "Themes": [...]}``.

Chosen mapping: **one tree holding every session**, each session a child of an empty root,
labelled with its name (from ``Names``), its text the chain :mod:`.mikupad` builds. The
session mikupad had selected (``selectedSessionId``) is the current one. In the database the
session objects are plain (not JSON-encoded strings as in a one-session export), and hold
the API key and endpoint: only the properties the session importer reads are passed on
(prompt, model, API kind, template, chat mode, sampling numbers); the rest is never read.
``Templates`` and ``Themes`` are not imported.
"""

from __future__ import annotations

import json
from typing import Any

from ..sessioncheck import fail
from ..tree import Node, Session, new_id
from .mikupad import _MIKUPAD_SAMPLING, import_mikupad

_WHAT = "mikupad database export"
#: The session properties handed to the session importer: never the key or the endpoint.
_READ = ("prompt", "endpointModel", "endpointAPI", "template", "chatMode", *_MIKUPAD_SAMPLING)
_NOT_SESSIONS = ("nextSessionId", "selectedSessionId")


def is_mikupad_db(data: Any) -> bool:
    """An object whose ``Sessions`` is a list of ``{key, value}`` records."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("Sessions"), list)
        and all(isinstance(r, dict) and "key" in r for r in data["Sessions"][:5])
    )


def _records(data: dict[str, Any], store: str, source: str) -> list[tuple[Any, Any]]:
    records = data.get(store, [])
    if not isinstance(records, list):
        raise fail(source, f"{_WHAT}: {store} is not a list")
    out = []
    for record in records:
        if not isinstance(record, dict) or "key" not in record:
            raise fail(source, f"{_WHAT}: {store} holds a record without a key")
        key = record["key"]
        if type(key) not in (int, str):
            raise fail(source, f"{_WHAT}: a {store} key is not a number or a string")
        out.append((key, record.get("value")))
    return out


def _graft(session: Session, part: Session, parent_id: str) -> dict[str, str]:
    """Copy ``part``'s nodes under ``parent_id`` (fresh ids where taken); old -> new ids."""
    ids: dict[str, str] = {}
    for node in list(part.walk()):  # walked whole first: the loop rewrites ids and links
        nid = node.id if node.id not in session.nodes else new_id(session.nodes)
        ids[node.id] = nid
        new_parent = parent_id if node.parent is None else ids[node.parent]
        node.id, node.parent, node.children = nid, new_parent, []
        session.nodes[nid] = node
        session.nodes[new_parent].children.append(nid)
    return ids


def import_mikupad_db(data: dict[str, Any], source: str) -> Session:
    """Every session of the database as a branch of one tree (see the module docstring)."""
    names = {str(k): v for k, v in _records(data, "Names", source) if isinstance(v, str)}
    selected: str | None = None
    sessions: list[tuple[str, dict[str, Any]]] = []
    for key, value in _records(data, "Sessions", source):
        if key in _NOT_SESSIONS:
            if key == "selectedSessionId" and type(value) in (int, str):
                selected = str(value)
            continue
        if not isinstance(value, dict):
            raise fail(source, f"{_WHAT}: session {str(key)[:40]!r} is not an object")
        sessions.append((str(key), value))
    if not sessions:
        raise fail(source, f"{_WHAT}: no sessions")
    root = Node(id=new_id(), origin="import", created=0.0)
    session = Session(nodes={root.id: root}, root_id=root.id, current_id=root.id)
    current = None
    for key, value in sessions:
        # The session importer reads JSON-encoded values (a one-session export's shape).
        props = {k: json.dumps(value[k]) for k in _READ if k in value}
        if "prompt" not in props:
            props["prompt"] = "[]"
        part = import_mikupad(props, f"{source}: session {key[:40]!r}")
        name = names.get(key) or (value.get("name") if isinstance(value.get("name"), str) else None)
        part.root.label = (name or f"session {key}")[:200]
        part.root.meta["mikupad_session"] = key
        ids = _graft(session, part, root.id)
        if key == selected or current is None:
            current = ids[part.current_id]
    session.current_id = current or root.id
    session.meta = {"imported_from": "lmg-anon/mikupad (database)"}
    return session
