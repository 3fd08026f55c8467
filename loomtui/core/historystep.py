"""An undo step: before- and after-images of the nodes a change touched, encoded as JSON,
and applying one (undo) or the other (redo) after checking the tree is as the step left it.

A step's tokens are a *pool* of the tokens only one side has, and *runs* referring to the
other side's lists (a split's head and tail are runs of the node's old list), so a change to
a node with a million tokens writes none of them. :mod:`loomtui.core.history` captures the
steps; :mod:`loomtui.core.historyfile` keeps them beside the session file.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import fields
from operator import attrgetter
from typing import Any

from .errors import LoomError
from .tokens import Token
from .tree import Node, Session

#: Everything a node holds but its id and tokens (new Node fields are included by themselves).
NODE_FIELDS = tuple(f.name for f in fields(Node) if f.name not in ("id", "tokens"))
#: What moving around changes (the view, not the tree): never a step, never checked.
VIEW_FIELDS = frozenset({"visited", "modified", "checked"})
_COMPARED = tuple(f for f in NODE_FIELDS if f not in VIEW_FIELDS)
#: The session meta keys that are view state (hoist): not part of any step.
VIEW_META = frozenset({"hoist"})


class HistoryError(LoomError):
    """An undo or redo that cannot be done (one line: nothing was changed)."""


# --------------------------------------------------------------------------- images
#: The fields that hold a list or a dict (copied into an image; the rest are values).
_CONTAINERS = tuple(
    f.name
    for f in fields(Node)
    if f.name in NODE_FIELDS and ("list" in str(f.type) or "dict" in str(f.type))
)
_GET = attrgetter(*NODE_FIELDS)


def _values(node: Node) -> dict[str, Any]:
    """A node's fields but id and tokens, its lists and dicts copied (never shared)."""
    values = dict(zip(NODE_FIELDS, _GET(node), strict=True))
    for f in _CONTAINERS:
        v = values[f]
        if type(v) is list:
            values[f] = list(v)
        elif type(v) is dict:
            values[f] = copy.deepcopy(v) if v else {}
        elif v is not None:
            values[f] = copy.deepcopy(v)
    return values


def _copy_value(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return copy.deepcopy(value) if value else {}
    return value


class _Before:
    """A node as it was when a step first saw it."""

    __slots__ = ("values", "tokens", "ntok", "first", "last")

    def __init__(self, node: Node) -> None:
        self.values = _values(node)
        toks = node.tokens
        self.tokens = toks
        self.ntok = len(toks) if toks is not None else None
        self.first = toks[0] if toks else None
        self.last = toks[-1] if toks else None

    def changed(self, node: Node) -> int:
        """2: the tree changed at this node; 1: only its view state (visited, checked); 0."""
        values = self.values
        if any(getattr(node, f) != values[f] for f in _COMPARED):
            return 2
        toks = node.tokens
        if toks is None or self.tokens is None:
            if toks is not self.tokens:
                return 2
        elif toks is not self.tokens or len(toks) != self.ntok:
            return 2
        return 1 if any(getattr(node, f) != values[f] for f in VIEW_FIELDS if f in values) else 0

    def token_list(self) -> list[Token] | None:
        """The tokens as they were (the list is grown in place only, or replaced)."""
        if self.tokens is None:
            return None
        n = self.ntok or 0
        # Read while the step is encoded, never kept: the list itself when it is as it was
        # (a million tokens are not copied), a slice when it grew since.
        out = self.tokens if len(self.tokens) == n else self.tokens[:n]
        if n and (out[0] is not self.first or out[n - 1] is not self.last):
            raise HistoryError("a node's tokens were rewritten in place")
        return out


class _Capture:
    """What one open step has seen so far."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.before: dict[str, _Before] = {}
        self.new: set[str] = set()
        self.root = session.root_id
        self.current = session.current_id
        self.meta = copy.deepcopy({k: v for k, v in session.meta.items() if k not in VIEW_META})
        self.depth = 1
        self.label = ""
        self.pending = False  # written as a pending step (a generation under way)

    def see(self, key: str, node: Node) -> None:
        if key not in self.before and key not in self.new:
            self.before[key] = _Before(node)

    def added(self, key: str) -> None:
        if key not in self.before:
            self.new.add(key)


# --------------------------------------------------------------------------- encoding
def _sig(tokens: list[Token] | None) -> list[Any] | None:
    """What an undo checks of a node's tokens: count and the bytes at both ends (logprobs
    are stored rounded in the file, so they are not compared)."""
    if tokens is None:
        return None
    if not tokens:
        return [0]
    return [len(tokens), tokens[0].bytes.hex(), tokens[-1].bytes.hex()]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, allow_nan=False))


class _Pool:
    def __init__(self) -> None:
        self.tokens: list[Token] = []
        self.index: dict[int, int] = {}

    def add(self, tok: Token) -> int:
        key = id(tok)
        at = self.index.get(key)
        if at is None:
            at = self.index[key] = len(self.tokens)
            self.tokens.append(tok)
        return at


def _runs(
    nid: str,
    toks: list[Token],
    other: dict[str, list[Token]],
    firsts: dict[int, str],
    inverse: dict[tuple[str, int], tuple[str, int, int]],
    pool: _Pool,
    made: dict[tuple[str, int], tuple[str, int, int]],
    hint: list[tuple[str, int] | None],
) -> list[list[Any]]:
    """``toks`` as runs: ``["r", node, offset, n]`` (the same tokens in the other side's list
    of ``node``) or ``["p", start, n]`` (tokens of the step's pool). ``hint[0]``: where the
    last run ended (a merged child's tokens follow its parent's)."""
    runs: list[list[Any]] = []
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        hit = inverse.get((nid, i))
        cand: tuple[str, int] | None = None
        if hit is not None and other.get(hit[0]) is not None:
            cand = (hit[0], hit[1])
        elif (h := hint[0]) is not None and h[1] < len(other[h[0]]) and other[h[0]][h[1]] is tok:
            cand = h
        elif id(tok) in firsts:
            cand = (firsts[id(tok)], 0)
        if cand is not None:
            onid, opos = cand
            olist = other[onid]
            m = min(len(olist) - opos, n - i)
            if not (m and toks[i + m - 1] is olist[opos + m - 1]):
                m = 0
                while i + m < n and opos + m < len(olist) and toks[i + m] is olist[opos + m]:
                    m += 1
            if m:
                runs.append(["r", onid, opos, m])
                made[(onid, opos)] = (nid, i, m)
                hint[0] = (onid, opos + m)
                i += m
                continue
        at = pool.add(tok)
        last = runs[-1] if runs else None
        if last is not None and last[0] == "p" and last[1] + last[2] == at:
            last[2] += 1
        else:
            runs.append(["p", at, 1])
        hint[0] = None
        i += 1
    return runs


def _side(
    lists: dict[str, list[Token] | None],
    other: dict[str, list[Token]],
    firsts: dict[int, str],
    inverse: dict[tuple[str, int], tuple[str, int, int]],
    pool: _Pool,
    made: dict[tuple[str, int], tuple[str, int, int]],
) -> dict[str, Any]:
    """Runs for each list of one side; lists that start like one of the other side's go
    first, so the ones that continue them (a merged child) follow on."""
    order = sorted(lists, key=lambda k: 0 if lists[k] and id(lists[k][0]) in firsts else 1)
    hint: list[tuple[str, int] | None] = [None]
    out: dict[str, Any] = {}
    for nid in order:
        toks = lists[nid]
        out[nid] = (
            None if toks is None else _runs(nid, toks, other, firsts, inverse, pool, made, hint)
        )
    return out


def _image(nid: str, values: dict[str, Any], toks: list[Token] | None, runs: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": nid}
    for f in NODE_FIELDS:
        rec[f] = values[f]
    rec["tokens"] = runs
    rec["sig"] = _sig(toks)
    return rec


def encode_step(cap: _Capture, label: str) -> dict[str, Any] | None:
    """The step ``cap`` saw, as a JSON-ready object; None when nothing changed."""
    from .journal import token_record

    session = cap.session
    nodes = session.nodes
    before_lists: dict[str, list[Token] | None] = {}
    before_vals: dict[str, dict[str, Any]] = {}
    after_lists: dict[str, list[Token] | None] = {}
    after_vals: dict[str, dict[str, Any]] = {}
    real = False  # view state alone (a goto's visited and checked) makes no step
    # Nodes the change read and left as they were: a copy's tokens are theirs (runs may refer
    # to them; an undo or redo checks first that they are still as they were).
    anchors: dict[str, list[Token]] = {}
    for nid, img in cap.before.items():
        live = dict.get(nodes, nid)
        how = img.changed(live) if live is not None else 2
        if not how:
            if live is not None and live.tokens:
                anchors[nid] = live.tokens
            continue
        real = real or how == 2
        before_lists[nid] = img.token_list()
        before_vals[nid] = img.values
        if live is not None:
            after_lists[nid] = live.tokens  # read while encoding, never kept
            after_vals[nid] = _values(live)
    for nid in cap.new:
        live = dict.get(nodes, nid)
        if live is None:
            continue  # added and removed within the step
        after_lists[nid] = live.tokens
        after_vals[nid] = _values(live)
    meta_now = {k: v for k, v in session.meta.items() if k not in VIEW_META}
    keys = sorted(k for k in set(meta_now) | set(cap.meta) if meta_now.get(k) != cap.meta.get(k))
    real = real or any(dict.get(nodes, nid) is not None for nid in cap.new)
    if not real and not keys and session.root_id == cap.root:
        return None
    pool = _Pool()
    b_other = {**anchors, **{k: v for k, v in after_lists.items() if v}}
    a_other = {**anchors, **{k: v for k, v in before_lists.items() if v}}
    made: dict[tuple[str, int], tuple[str, int, int]] = {}
    b_firsts = {id(v[0]): k for k, v in b_other.items()}
    a_firsts = {id(v[0]): k for k, v in a_other.items()}
    b_runs = _side(before_lists, b_other, b_firsts, {}, pool, made)
    a_runs = _side(after_lists, a_other, a_firsts, made, pool, {})
    before = [_image(nid, v, before_lists[nid], b_runs[nid]) for nid, v in before_vals.items()]
    after = [_image(nid, v, after_lists[nid], a_runs[nid]) for nid, v in after_vals.items()]
    used = {
        run[1]
        for runs in (*b_runs.values(), *a_runs.values())
        for run in runs or ()
        if run[0] == "r" and run[1] in anchors
    }
    step = {
        "op": "step",
        "label": label,
        "time": time.time(),
        "root": [cap.root, session.root_id],
        "current": [cap.current, session.current_id],
        "meta": {
            "keys": keys,
            "b": {k: cap.meta[k] for k in keys if k in cap.meta},
            "a": {k: meta_now[k] for k in keys if k in meta_now},
        },
        "pool": [token_record(t) for t in pool.tokens],
        "before": before,
        "after": after,
        "anchors": [{"id": nid, "sig": _sig(anchors[nid])} for nid in sorted(used)],
    }
    return step  # JSON-ready (the file writes it as one line); copies, never shared


# --------------------------------------------------------------------------- applying
def _matches(node: Node | None, rec: dict[str, Any]) -> bool:
    if node is None:
        return False
    for f in _COMPARED:
        if f not in rec:
            continue
        value = getattr(node, f)
        # Most fields are JSON already; the others (tuples, odd meta) compare as JSON.
        if value != rec[f] and _jsonable(value) != rec[f]:
            return False
    return _sig(node.tokens) == rec.get("sig")


def _resolve(session: Session, runs: Any, pool: list[Token]) -> list[Token] | None:
    if runs is None:
        return None
    out: list[Token] = []
    for run in runs:
        if run[0] == "p":
            out.extend(pool[run[1] : run[1] + run[2]])
        else:
            other = dict.get(session.nodes, run[1])
            toks = other.tokens if other is not None else None
            if toks is None or len(toks) < run[2] + run[3]:
                raise HistoryError("a token run refers to a node that is not there")
            out.extend(toks[run[2] : run[2] + run[3]])
    return out


def _check_links(nodes: dict[str, Node], built: list[Node], gone: list[str], root: str) -> None:
    """The tree as it would be after applying: every link of the nodes put back (and of
    those taken away) agrees, checked around them only (no pass over the tree). ValueError
    for a step whose images do not fit together (a damaged history)."""
    new = {n.id: n for n in built}
    away = set(gone) - set(new)

    def get(nid: Any) -> Node | None:
        if not isinstance(nid, str) or nid in away:
            return None
        return new[nid] if nid in new else dict.get(nodes, nid)

    for node in built:
        if not isinstance(node.plain, str) or not all(isinstance(c, str) for c in node.children):
            raise ValueError(f"node {node.id[:20]}: fields of the wrong type")
        if node.parent is None:
            if node.id != root:
                raise ValueError(f"node {node.id[:20]} has no parent but is not the root")
        else:
            parent = get(node.parent)
            if parent is None or node.id not in parent.children:
                raise ValueError(f"node {node.id[:20]} is not among its parent's children")
        for cid in node.children:
            child = get(cid)
            if child is None or child.parent != node.id:
                raise ValueError(f"node {node.id[:20]} lists a child that is not its own")
    for nid in away:
        old = dict.get(nodes, nid)
        parent = get(old.parent) if old is not None else None
        if parent is not None and nid in parent.children:
            raise ValueError(f"node {nid[:20]} goes but its parent still lists it")
        for cid in old.children if old is not None else ():
            child = get(cid)  # gone too, or put back under another parent (a split's tail)
            if child is not None and child.parent == nid:
                raise ValueError(f"node {nid[:20]} goes but a child of it would stay")
    top = get(root)
    if top is None or top.parent is not None:
        raise ValueError("no root")


def apply_step(session: Session, step: dict[str, Any], *, undo: bool) -> None:
    """Undo (or redo) ``step`` on ``session``: check, then apply. HistoryError (one line,
    nothing changed) when the tree is not as the step left it, or the step is damaged."""
    from .journal import token_from_record

    here, there = ("after", "before") if undo else ("before", "after")
    side = 1 if undo else 0  # index of the state the tree should be in now
    label = str(step.get("label", "a change"))
    try:
        nodes = session.nodes
        # A generation a kill cut short (its step written when it started): its new nodes
        # hold what streamed in before the kill, and were marked interrupted.
        grown = (
            {r["id"] for r in step["after"]} - {r["id"] for r in step["before"]}
            if undo and step.get("pending")
            else set()
        )
        for rec in step[here]:
            if rec["id"] in grown and rec["id"] in nodes:
                continue
            if not _matches(dict.get(nodes, rec["id"]), rec):
                raise HistoryError(
                    f"cannot {'undo' if undo else 'redo'} {label}: node {rec['id']} changed "
                    "since (the tree is not as that step left it)"
                )
        here_ids = {rec["id"] for rec in step[here]}
        there_ids = {rec["id"] for rec in step[there]}
        gone = [nid for nid in here_ids if nid not in there_ids]
        for nid in there_ids - here_ids:
            if nid in nodes:
                raise HistoryError(
                    f"cannot {'undo' if undo else 'redo'} {label}: node {nid} exists "
                    "again (the tree is not as that step left it)"
                )
        for anchor in step.get("anchors", ()):
            node = dict.get(nodes, anchor["id"])
            if node is None or _sig(node.tokens) != anchor["sig"]:
                raise HistoryError(
                    f"cannot {'undo' if undo else 'redo'} {label}: node {anchor['id']} "
                    "changed since (the tree is not as that step left it)"
                )
        if step["root"][side] != session.root_id:
            raise HistoryError(
                f"cannot {'undo' if undo else 'redo'} {label}: the tree's root changed since"
            )
        pool = [token_from_record(t) for t in step["pool"]]
        built: list[Node] = []
        for rec in step[there]:
            node = Node(id=rec["id"])
            for f in NODE_FIELDS:
                if f in rec:
                    setattr(node, f, _copy_value(rec[f]))
            node.children = list(node.children or [])
            node.meta = dict(node.meta or {})
            node.tokens = _resolve(session, rec["tokens"], pool)
            built.append(node)
        target = step["root"][1 - side]
        meta = step["meta"]
        values = meta["a" if not undo else "b"]
        keys = list(meta["keys"])
        current = step["current"][1 - side]
        _check_links(nodes, built, gone, target)
    except HistoryError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise HistoryError(f"the undo history's step {label!r} is damaged ({exc!r})") from None
    # Checked: apply (plain dict calls, no step is watching).
    for nid in gone:
        dict.pop(nodes, nid, None)
    for node in built:
        dict.__setitem__(nodes, node.id, node)
    session.root_id = target
    for k in keys:
        if k in values:
            session.meta[k] = copy.deepcopy(values[k])
        else:
            session.meta.pop(k, None)
    if current in nodes:
        session.current_id = current
    elif session.current_id not in nodes:
        session.current_id = session.root_id
