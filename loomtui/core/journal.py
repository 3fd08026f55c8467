"""The session journal's records: tokens and nodes as JSON lines, and replaying them.

Records are absolute upserts (a node's fields, or token ``i`` of a node), so replaying a
journal over the file it was written against always gives the same tree. Bytes are base64'd
and text is ASCII-escaped: every record is one exact line.

A write of several records (a checkpoint) is framed: a ``{"op": "batch", "n": K}`` line, then
the K records. A batch cut short by a kill or a power cut is dropped whole on replay, so a
replay never sees half of a change (a split whose new node is missing, say). Records are
parsed strictly (:func:`loomtui.core.sessionfile.parse_json`: no NaN, no infinities); a bad
line anywhere but at the very end, or a record of the wrong shape, makes the journal
:class:`JournalDamage` (it does not apply; the store keeps it aside).
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import math
import os
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from .ratings import RATINGS
from .tokens import Alt, Token, VocabTable
from .tree import ROLES, Node, Session

JOURNAL_VERSION = 1

#: Logprobs are clamped to what the session file stores (-inf is "could not be picked").
_LP_FLOOR = -100_000.0


class JournalDamage(ValueError):
    """A journal whose records do not apply to its session (wrong shape, broken tree)."""


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``: ``os.write`` may write less than it was given (a
    nearly full disk, a signal); the rest is written until done. Raises OSError when the
    system refuses (the caller cuts the file back to the last whole record)."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        n = os.write(fd, view[done:])
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += n


def _finite(x: float | None) -> float | None:
    """A float JSON can hold (the session file's own clamping: -inf/NaN to the floor)."""
    if x is None or type(x) is int or math.isfinite(x):
        return x
    return -_LP_FLOOR if x > 0 else _LP_FLOOR


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_record(tok: Token) -> dict[str, Any]:
    """A token as plain JSON (bytes base64'd: the journal is byte-exact); ``s``, the sampled
    logprob, only where the token has one."""
    rec = {
        "x": tok.text,
        "b": _b64(tok.bytes),
        "id": tok.token_id,
        "lp": _finite(tok.logprob),
        "top": [[a.text, _b64(a.bytes), a.token_id, _finite(a.logprob)] for a in tok.top],
        "e": _finite(tok.entropy),
        "d": tok.dist,
    }
    if tok.sampling_logprob is not None:
        rec["s"] = _finite(tok.sampling_logprob)
    return rec


def _num(x: Any, *, none: bool = True) -> bool:
    return (x is None and none) or (type(x) in (int, float) and math.isfinite(x))


def _id(x: Any) -> bool:
    return x is None or type(x) is int


def _check_token(rec: Any) -> None:
    """Refuse a token record of the wrong shape (JournalDamage naming the field)."""
    if not isinstance(rec, dict):
        raise JournalDamage("a token is not an object")
    if not isinstance(rec.get("x"), str) or not isinstance(rec.get("b"), str):
        raise JournalDamage("a token's text or bytes is not a string")
    if not _id(rec.get("id")) or not _num(rec.get("lp")) or not _num(rec.get("e")):
        raise JournalDamage("a token's id, logprob or entropy is not a number")
    if not _num(rec.get("s")):
        raise JournalDamage("a token's sampled logprob is not a number")
    if not isinstance(rec.get("d", "raw"), str):
        raise JournalDamage("a token's dist is not a string")
    top = rec.get("top") or []
    if not isinstance(top, list):
        raise JournalDamage("a token's top-k is not a list")
    for alt in top:
        if not (
            isinstance(alt, list)
            and len(alt) == 4
            and isinstance(alt[0], str)
            and isinstance(alt[1], str)
            and _id(alt[2])
            and _num(alt[3], none=False)
        ):
            raise JournalDamage("a token's top-k holds a malformed alternative")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise JournalDamage("a token's bytes are not base64") from None


def token_from_record(rec: dict[str, Any], table: VocabTable | None = None) -> Token:
    """The token of a record; with ``table``, its top-k list comes back packed (as the
    backends hand them over: a replayed session saves as fast as a fresh one)."""
    _check_token(rec)
    alts = (Alt(t, _unb64(b), i, lp) for t, b, i, lp in rec.get("top") or ())
    top: Any = tuple(alts) if table is None or not rec.get("top") else table.pack(alts)
    return Token(
        text=rec["x"],
        bytes=_unb64(rec["b"]),
        token_id=rec.get("id"),
        logprob=rec.get("lp"),
        top=top,
        entropy=rec.get("e"),
        dist=rec.get("d", "raw"),
        sampling_logprob=rec.get("s"),
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
        node.role,
        node.hidden,
        node.count,
        node.checked,
        node.rating,
    )


# --------------------------------------------------------------------------- replay
def read_records(lines: list[bytes], source: str) -> tuple[list[dict[str, Any]], str | None]:
    """The records of a journal's lines (after its header), whole batches only, and the
    problem that stopped the reading (None when it read to the end).

    The last line may be cut short by a kill mid-write (it then has no newline), and the
    last batch may lack some of its records: both are dropped silently. A bad line that was
    written whole (before the end, or ending in its newline) is not a cut but damage:
    reading stops there and says so (the records before it are whole and apply).
    """
    from .errors import SessionFileError
    from .sessionfile import parse_json

    # Every record is written with its newline in one write: a cut line has none.
    cut_tail = bool(lines) and bool(lines[-1].strip())
    body = [raw for raw in lines if raw.strip()]
    records: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # the batch being read
    want = 0  # records the open batch still needs
    for k, raw in enumerate(body):
        where = f"{source} record line {k + 1}"
        try:
            rec = parse_json(raw, where)
        except SessionFileError as exc:
            if k == len(body) - 1 and cut_tail:
                break  # the tail a kill cut: nothing after it was written
            return records, str(exc)
        if not isinstance(rec, dict):
            return records, f"{where}: not an object"
        if want:
            pending.append(rec)
            want -= 1
            if not want:
                records.extend(pending)
                pending = []
            continue
        if rec.get("op") == "batch":
            n = rec.get("n")
            if type(n) is not int or n < 1:
                return records, f"{where}: a batch of no records"
            want = n
            continue
        records.append(rec)
    return records, None  # an unfinished batch (``pending``) is dropped whole


def apply_records(session: Session, records: Iterable[dict[str, Any]]) -> None:
    """Apply journal records to ``session`` in order (absolute upserts: replay is safe).

    A record of the wrong shape raises :class:`JournalDamage`; the caller validates the
    whole tree afterwards (a record can be well formed and still break it)."""
    table = VocabTable()
    for k, rec in enumerate(records):
        op = rec.get("op")
        try:
            if op == "tok":
                node = session.nodes.get(rec["n"])
                i = rec["i"]
                if type(i) is not int or i < 0:
                    raise JournalDamage("a token index is not a whole number")
                if node is None or node.tokens is None:
                    continue
                if i > len(node.tokens):
                    continue  # a gap: the record before it was lost; never invent order
                tok = token_from_record(rec["t"], table)
                del node.tokens[i:]
                node.tokens.append(tok)
            elif op == "node":
                _apply_node(session, rec, table)
            elif op == "del":
                ids = rec["ids"]
                if not isinstance(ids, list) or not all(isinstance(n, str) for n in ids):
                    raise JournalDamage("a deletion does not name node ids")
                for nid in ids:
                    session.nodes.pop(nid, None)
            elif op == "sess":
                root, current, meta = rec["root"], rec["current"], rec.get("meta") or {}
                if not (isinstance(root, str) and isinstance(current, str)):
                    raise JournalDamage("root and current are not node ids")
                if not isinstance(meta, dict):
                    raise JournalDamage("the session's meta is not an object")
                session.root_id, session.current_id, session.meta = root, current, dict(meta)
        except JournalDamage as exc:
            raise JournalDamage(f"record {k + 1} ({str(op)[:10]}): {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else type(exc).__name__
            raise JournalDamage(f"record {k + 1} ({str(op)[:10]}): malformed ({what})") from None
    _repair(session)


def _apply_node(session: Session, rec: dict[str, Any], table: VocabTable | None = None) -> None:
    nid = rec["id"]
    if not isinstance(nid, str) or not nid:
        raise JournalDamage("a node id is not a string")
    children = rec.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise JournalDamage(f"node {nid[:40]!r}: children is not a list of ids")
    meta = rec.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise JournalDamage(f"node {nid[:40]!r}: meta is not an object")
    tokens = rec.get("tokens")
    if tokens is not None and not isinstance(tokens, list):
        raise JournalDamage(f"node {nid[:40]!r}: tokens is not a list")
    keep = rec.get("keep") or 0
    if type(keep) is not int or keep < 0:
        raise JournalDamage(f"node {nid[:40]!r}: keep is not a whole number")
    node = session.nodes.get(nid)
    if node is None:
        node = Node(id=nid)
        session.nodes[nid] = node
    if rec.get("role") not in (None, *ROLES):
        raise JournalDamage(f"node {nid[:40]!r}: unknown role")
    if not isinstance(rec.get("hidden", False), bool):
        raise JournalDamage(f"node {nid[:40]!r}: hidden is not true/false")
    if "count" in rec and not (type(rec["count"]) is int and rec["count"] >= 1):
        raise JournalDamage(f"node {nid[:40]!r}: count is not a whole number >= 1")
    if rec.get("rating") not in (None, *RATINGS) or type(rec.get("rating")) is bool:
        raise JournalDamage(f"node {nid[:40]!r}: rating is not -1, 0 or 1")
    if not isinstance(rec.get("checked") or "", str):
        raise JournalDamage(f"node {nid[:40]!r}: checked is not a node id")
    for name in _NODE_FIELDS:
        if name in rec:
            setattr(node, name, rec[name])
    node.children = list(node.children or [])
    node.meta = dict(node.meta or {})
    if tokens is None:
        node.tokens = None
    else:
        base = node.tokens[:keep] if node.tokens is not None else []
        node.tokens = base + [token_from_record(t, table) for t in tokens]


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
    """Drop dangling child ids (a journal written before batches were framed may end in the
    middle of one) and point a lost current node at the root. A missing or moved root is
    not repaired: that is damage, which the store's validation refuses."""
    nodes = session.nodes
    for node in nodes.values():
        if any(c not in nodes for c in node.children):
            node.children = [c for c in node.children if c in nodes]
    if session.current_id not in nodes and session.root_id in nodes:
        session.current_id = session.root_id


def line(rec: dict[str, Any]) -> bytes:
    """One record as one line. ValueError for what JSON cannot hold (NaN in a node's
    meta, say): such a record could never be read back, so it is never written."""
    # ensure_ascii keeps lone surrogates and controls escaped: one record, one line, exact.
    data = json.dumps(rec, separators=(",", ":"), default=str, allow_nan=False)
    return data.encode("ascii") + b"\n"


def frame(records: list[dict[str, Any]]) -> bytes:
    """The bytes of one write: a single record as is, several as one batch."""
    body = b"".join(line(r) for r in records)
    if len(records) > 1:
        return line({"op": "batch", "n": len(records)}) + body
    return body


# --------------------------------------------------------------------------- the file
def journal_path(path: Path) -> Path:
    """Where the journal of the session file ``path`` lives: ``.NAME.journal`` beside it."""
    return path.with_name(f".{path.name}.journal")


def read_journal(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The records of ``path``'s journal if it applies to the file as it is now, else [],
    and the problem that stopped the reading of a damaged one (None if none). Never
    follows a link planted as the journal, never reads what is not a regular file."""
    from .errors import SessionFileError
    from .fsafe import digest, read_regular
    from .sessionfile import parse_json

    journal = journal_path(path)
    raw = read_regular(journal)
    if not raw:
        return [], None
    lines = raw.split(b"\n")
    try:
        header = parse_json(lines[0], journal.name)
    except SessionFileError:
        return [], None  # no header: the kill came before the first write finished
    if not isinstance(header, dict):
        return [], None
    if header.get("op") != "base" or header.get("v") != JOURNAL_VERSION:
        return [], None
    base = digest(path)
    if header.get("sha256") == base:
        records, problem = read_records(lines[1:], journal.name)
    elif (at := saved_at(raw, base)) is not None:
        # A background save renamed its file in but was stopped before it trimmed the
        # journal: the records after the point it saved apply to the new file.
        records, problem = read_records(raw[at:].split(b"\n"), journal.name)
    else:
        return [], None  # written before the last save: already in the file
    return [r for r in records if r.get("op") != "saved"], problem


#: how a save mark's line starts (``line`` keeps the keys in the order they were given)
_MARK = b'\n{"op":"saved",'


def saved_mark(sha256: str, at: int) -> bytes:
    """The record a background save appends, fsynced, before it renames its file in: the
    file whose digest is ``sha256`` holds everything the journal's first ``at`` bytes do."""
    return line({"op": "saved", "sha256": sha256, "at": at})


def saved_at(raw: bytes, base: str | None) -> int | None:
    """Where the records the file ``base`` does not hold yet begin in a journal ``raw`` (the
    last whole save mark naming ``base``, see :func:`saved_mark`), None when no mark names it."""
    from .errors import SessionFileError
    from .sessionfile import parse_json

    if base is None:
        return None
    end = len(raw)
    while (pos := raw.rfind(_MARK, 0, end)) >= 0:
        end = pos
        stop = raw.find(b"\n", pos + 1)
        if stop < 0:
            continue  # cut short by a kill: never a mark
        try:
            rec = parse_json(raw[pos + 1 : stop], "journal mark")
        except SessionFileError:
            continue
        if not isinstance(rec, dict):
            continue
        at = rec.get("at")
        if rec.get("sha256") == base and type(at) is int and 0 < at <= pos + 1:
            if raw[at - 1 : at] == b"\n":
                return at
    return None


def pending_journal_records(path: str | os.PathLike[str]) -> int:
    """How many records of ``path``'s journal are not in the file yet (0 if none apply)."""
    from .fsafe import session_target

    try:
        return len(read_journal(session_target(Path(path)))[0])
    except OSError:
        return 0
