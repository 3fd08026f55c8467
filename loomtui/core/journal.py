"""The session journal's records: tokens and nodes as JSON lines, and replaying them.

Records are absolute upserts (a node's fields, or token ``i`` of a node), so replaying a
journal over the file it was written against always gives the same tree. Bytes are base64'd
and text is ASCII-escaped: every record is one exact line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from .tokens import Alt, Token, VocabTable
from .tree import Node, Session

JOURNAL_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_record(tok: Token) -> dict[str, Any]:
    """A token as plain JSON (bytes base64'd: the journal is byte-exact)."""
    return {
        "x": tok.text,
        "b": _b64(tok.bytes),
        "id": tok.token_id,
        "lp": tok.logprob,
        "top": [[a.text, _b64(a.bytes), a.token_id, a.logprob] for a in tok.top],
        "e": tok.entropy,
        "d": tok.dist,
    }


def token_from_record(rec: dict[str, Any], table: VocabTable | None = None) -> Token:
    """The token of a record; with ``table``, its top-k list comes back packed (as the
    backends hand them over: a replayed session saves as fast as a fresh one)."""
    alts = (Alt(t, base64.b64decode(b), i, lp) for t, b, i, lp in rec.get("top") or ())
    top: Any = tuple(alts) if table is None or not rec.get("top") else table.pack(alts)
    return Token(
        text=rec["x"],
        bytes=base64.b64decode(rec["b"]),
        token_id=rec.get("id"),
        logprob=rec.get("lp"),
        top=top,
        entropy=rec.get("e"),
        dist=rec.get("d", "raw"),
    )


# Everything a node holds but its id and tokens (tokens are journaled one by one).
_NODE_FIELDS = tuple(f.name for f in fields(Node) if f.name not in ("id", "tokens"))


def _dict_fp(d: dict[str, Any] | None) -> str | None:
    return json.dumps(d, sort_keys=True, default=str) if d else None


def _fingerprint(node: Node) -> tuple[Any, ...]:
    """Everything about a node except its tokens' contents (tokens only grow or get cut)."""
    return (
        node.parent,
        tuple(node.children),
        node.origin,
        hash(node.plain),
        node.tokens is None,
        node.settings and _dict_fp(node.settings),
        node.model,
        node.backend,
        node.created,
        node.modified,
        node.bookmark,
        node.label,
        node.visited,
        node.finish_reason,
        node.error,
        _dict_fp(node.meta),
    )


# --------------------------------------------------------------------------- replay
def apply_records(session: Session, records: Iterable[dict[str, Any]]) -> None:
    """Apply journal records to ``session`` in order (absolute upserts: replay is safe)."""
    table = VocabTable()
    for rec in records:
        op = rec.get("op")
        try:
            if op == "tok":
                node = session.nodes.get(rec["n"])
                if node is None or node.tokens is None:
                    continue
                i = int(rec["i"])
                if i > len(node.tokens):
                    continue  # a gap: the record before it was lost; never invent order
                del node.tokens[i:]
                node.tokens.append(token_from_record(rec["t"], table))
            elif op == "node":
                _apply_node(session, rec, table)
            elif op == "del":
                for nid in rec["ids"]:
                    session.nodes.pop(nid, None)
            elif op == "sess":
                session.root_id = rec["root"]
                session.current_id = rec["current"]
                session.meta = dict(rec.get("meta") or {})
        except (KeyError, TypeError, ValueError):
            continue  # a damaged record: skip it rather than refuse the whole session
    _repair(session)


def _apply_node(session: Session, rec: dict[str, Any], table: VocabTable | None = None) -> None:
    nid = rec["id"]
    node = session.nodes.get(nid)
    if node is None:
        node = Node(id=nid)
        session.nodes[nid] = node
    for name in _NODE_FIELDS:
        if name in rec:
            setattr(node, name, rec[name])
    node.children = list(node.children or [])
    node.meta = dict(node.meta or {})
    if rec.get("tokens") is None:
        node.tokens = None
    else:
        keep = int(rec.get("keep") or 0)
        base = node.tokens[:keep] if node.tokens is not None else []
        node.tokens = base + [token_from_record(t, table) for t in rec["tokens"]]


def mark_interrupted(session: Session) -> int:
    """Mark model leaves with no finish reason as interrupted; returns how many."""
    count = 0
    for node in session.nodes.values():
        if (
            node.origin == "model"
            and node.backend is not None  # made by the engine, not imported
            and node.tokens is not None
            and node.finish_reason is None
            and not node.children
        ):
            node.finish_reason = "error"
            node.error = (
                f"interrupted: loomtui stopped while generating ({len(node.tokens)} tokens kept)"
            )
            count += 1
    return count


def _repair(session: Session) -> None:
    """Keep the tree consistent after a replay cut short: drop dangling child ids, fix the
    current node."""
    nodes = session.nodes
    for node in nodes.values():
        if any(c not in nodes for c in node.children):
            node.children = [c for c in node.children if c in nodes]
    if session.root_id not in nodes:
        roots = [n.id for n in nodes.values() if n.parent is None or n.parent not in nodes]
        if roots:
            session.root_id = roots[0]
    if session.current_id not in nodes:
        session.current_id = session.root_id


def line(rec: dict[str, Any]) -> bytes:
    # ensure_ascii keeps lone surrogates and controls escaped: one record, one line, exact.
    return json.dumps(rec, separators=(",", ":"), default=str).encode("ascii") + b"\n"
