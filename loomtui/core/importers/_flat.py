"""Building a Session from a flat list of nodes with parent links (most JSON looms' shape).

exoloom, MiniLoom, wool, basemode-loom, bonsai, tinyloom and loom's jsonl export all store
their trees as ``{id: {parent, ...}}`` maps or lists. :func:`link` checks the links (no
duplicate id, no missing parent, no cycle) and orders the nodes depth-first; :func:`assemble`
turns the ordered records into a :class:`Session`, under one empty root when the file holds
several trees. Both are iterative: a deep chain never hits the recursion limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..ratings import RATINGS
from ..sessioncheck import fail
from ..siblings import set_hidden
from ..tree import Node, Session, new_id

#: Timestamps loomtui's reader accepts (seconds since 1970, either side): see sessionread.
_TIME_LIMIT = 1e11


@dataclass(slots=True)
class Flat:
    """One node as a flat format stores it: its own text segment and what maps onto loomtui."""

    id: str
    parent: str | None
    text: str = ""
    origin: str = "import"
    model: str | None = None
    created: float = 0.0
    bookmark: bool = False
    label: str | None = None
    visited: bool = False
    error: str | None = None
    finish_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: The format's own list of this node's children (their order), where it keeps one.
    order: Sequence[str] | None = None


def node_id(value: Any, source: str, what: str) -> str:
    """A node id as a string: formats use strings or integers (never booleans or floats)."""
    if isinstance(value, str) and value:
        return value
    if type(value) is int:
        return str(value)
    raise fail(source, f"{what}: a node id is not a string or an integer")


def opt_id(value: Any, source: str, what: str) -> str | None:
    """A parent id, or None for a root."""
    return None if value is None else node_id(value, source, what)


def text_field(raw: dict[str, Any], key: str, source: str, what: str) -> str:
    """A node's text (missing or null: empty), refusing anything but a string."""
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fail(source, f"{what}: {key} is not a string")
    return value


def short(value: Any, limit: int = 200) -> str | None:
    """A short label or model name from a string field; None for anything else or blank."""
    if isinstance(value, str) and value.strip():
        return value[:limit]
    return None


def epoch(value: Any) -> float:
    """A timestamp as seconds since 1970: numbers in seconds or milliseconds (anything past
    year 5138 in seconds is read as milliseconds) or an ISO 8601 / RFC 3339 string; 0.0
    (unknown) for anything else or out of range."""
    seconds: float | None = None
    if type(value) in (int, float) and math.isfinite(value):
        seconds = float(value) / 1000.0 if abs(value) >= _TIME_LIMIT else float(value)
    elif isinstance(value, str) and 0 < len(value) <= 64:
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        try:
            seconds = stamp.timestamp()
        except (OverflowError, OSError, ValueError):
            return 0.0
    if seconds is None or not -_TIME_LIMIT < seconds < _TIME_LIMIT:
        return 0.0
    return seconds


def rating(value: Any) -> bool | float | None:
    """A rating as the format stores it (thumbs up/down or a number), or None."""
    if isinstance(value, bool):
        return value
    if type(value) in (int, float) and math.isfinite(value) and abs(value) <= 1e6:
        return value
    return None


def link(flats: Iterable[Flat], source: str, what: str) -> tuple[list[Flat], list[str]]:
    """The nodes depth-first (each after its parent, siblings in the format's order) and the
    roots; refuses a duplicate id, a missing parent and a cycle with one line each."""
    by_id: dict[str, Flat] = {}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for flat in flats:
        if flat.id in by_id:
            raise fail(source, f"{what}: duplicate node id {flat.id[:40]!r}")
        by_id[flat.id] = flat
    if not by_id:
        raise fail(source, f"{what}: no nodes")
    for flat in by_id.values():
        if flat.parent is None:
            roots.append(flat.id)
            continue
        if flat.parent not in by_id:
            raise fail(
                source, f"{what}: node {flat.id[:40]!r} has a missing parent {flat.parent[:40]!r}"
            )
        children.setdefault(flat.parent, []).append(flat.id)
    for pid, kids in children.items():
        order = by_id[pid].order
        if order:
            place = {cid: i for i, cid in enumerate(order)}
            kids.sort(key=lambda c: place.get(c, len(place)))
    if not roots:
        raise fail(source, f"{what}: no root node (every node has a parent: a cycle)")
    out: list[Flat] = []
    stack = list(reversed(roots))
    while stack:
        flat = by_id[stack.pop()]
        out.append(flat)
        stack.extend(reversed(children.get(flat.id, ())))
    if len(out) != len(by_id):
        raise fail(source, f"{what}: cycle in parent links (some nodes are unreachable)")
    return out, roots


def assemble(
    ordered: Sequence[Flat],
    roots: Sequence[str],
    meta: dict[str, Any],
    current: str | None = None,
) -> Session:
    """A Session from nodes ordered by :func:`link` (a parent before its children).

    Several roots hang under one new empty root. ``current`` is the format's active node;
    when it names none, the session opens on the most recently created leaf."""
    nodes: dict[str, Node] = {}
    hidden: list[str] = []
    for flat in ordered:
        own = dict(flat.meta)
        if own.pop("hidden", None) is True:
            hidden.append(flat.id)
        node = Node(
            id=flat.id,
            parent=flat.parent,
            origin=flat.origin,
            plain=flat.text,
            model=flat.model,
            created=flat.created,
            bookmark=flat.bookmark,
            label=flat.label,
            visited=flat.visited,
            error=flat.error,
            finish_reason=flat.finish_reason,
            rating=_own_rating(own),
            meta=own,
        )
        nodes[node.id] = node
        if node.parent is not None:
            nodes[node.parent].children.append(node.id)
    if len(roots) == 1:
        root_id = roots[0]
    else:
        root = Node(id=new_id(nodes), origin="import", created=0.0, children=list(roots))
        nodes[root.id] = root
        for rid in roots:
            nodes[rid].parent = root.id
        root_id = root.id
    session = Session(nodes=nodes, root_id=root_id, current_id=root_id, meta=meta)
    if current is not None and current in nodes:
        session.current_id = current
    else:
        session.current_id = session.descend(root_id).id
    # The format's pruned nodes are loomtui's soft-hidden ones (out of the views, kept in
    # the file, shown again with "show hidden"); the current node is never left on one.
    set_hidden(session, [nid for nid in hidden if nid != root_id], True)
    return session


def _own_rating(meta: dict[str, Any]) -> int | None:
    """A format's rating as loomtui's own (taken out of ``meta``) where it says the same
    thing: thumbs up/down (True/False) are +1/-1, and -1, 0, +1 are themselves. Other scales
    (a 4 of 5) stay in ``meta`` as the format wrote them: mapping them would invent a
    judgement."""
    value = meta.get("rating")
    if isinstance(value, bool):
        del meta["rating"]
        return 1 if value else -1
    if type(value) is int and value in RATINGS:
        del meta["rating"]
        return value
    return None


def object_of(data: Any, key: str, source: str, what: str) -> dict[str, Any]:
    """``data[key]`` as an object (refused with one line otherwise)."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise fail(source, f"{what}: {key} is not an object")
    return value


def list_of(data: Any, key: str, source: str, what: str) -> list[Any]:
    """``data[key]`` as a list (refused with one line otherwise)."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, list):
        raise fail(source, f"{what}: {key} is not a list")
    return value


def id_list(value: Any, source: str, what: str) -> list[str] | None:
    """A list of node ids (a format's children list), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise fail(source, f"{what}: a children/parents list is not a list")
    return [node_id(v, source, what) for v in value]


def keyed_nodes(
    store: dict[Any, Any], source: str, what: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(id, where, raw)`` for each node of a map keyed by node id (an ``id`` field, when
    the node has one, must be its key); ``where`` names the node in a refusal."""
    for key, raw in store.items():
        where = f"{what}: node {str(key)[:40]!r}"
        if not isinstance(raw, dict):
            raise fail(source, f"{where} is not an object")
        nid = node_id(raw.get("id", key), source, where)
        if nid != str(key):
            raise fail(source, f"{where}: its id {nid[:40]!r} is not its key")
        yield nid, where, raw


def listed_nodes(
    items: Sequence[Any], source: str, what: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(id, where, raw)`` for each node of a list of node objects carrying their ``id``."""
    for i, raw in enumerate(items):
        where = f"{what}: node #{i}"
        if not isinstance(raw, dict):
            raise fail(source, f"{where} is not an object")
        yield node_id(raw.get("id"), source, where), where, raw
