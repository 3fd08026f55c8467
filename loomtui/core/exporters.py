"""Whole trees out to other looms: socketteer/loom's tree JSON and an Obsidian Loom note.

Both formats store each node's text as a string, so a character whose UTF-8 bytes are split
between two nodes (a model's byte tokens can split one) cannot sit in either node alone:
:func:`segment_texts` moves the unfinished bytes at the end of a node with children into
its children, so every exported branch spells the same text as in loomtui. Importing either
file back (``loomtui.core.importers``) gives every leaf's text byte for byte, bar bytes that
are not UTF-8 at all (shown as U+FFFD, which neither format can carry).
"""

from __future__ import annotations

import codecs
import json
import math
import time
from typing import Any

from .tree import Node, Session

#: Export formats that write the whole tree (``loomtui export --format``).
TREE_FORMATS = ("loom", "obsidian")


def _split_tail(data: bytes) -> tuple[str, bytes]:
    """``data`` as text up to its last whole character, and the unfinished bytes after it."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final=False)
    tail = decoder.getstate()[0]
    return text, tail


def _whole(data: bytes) -> str:
    """Bytes as text: UTF-8 as it is, lone surrogates (loomtui keeps them in plain text)
    kept, anything else as U+FFFD."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def segment_texts(session: Session) -> dict[str, str]:
    """Each node's text for a string-per-node format: its own bytes, with the unfinished
    UTF-8 bytes at the end of a node that has children carried into each child."""
    out: dict[str, str] = {}
    stack: list[tuple[str, bytes]] = [(session.root_id, b"")]
    while stack:
        nid, carry = stack.pop()
        node = session.nodes[nid]
        data = carry + node.data
        if node.children:
            try:
                text, tail = data.decode("utf-8", "surrogatepass"), b""
            except UnicodeDecodeError:
                text, tail = _split_tail(data)
                if tail:
                    text = _whole(data[: len(data) - len(tail)])
        else:
            text, tail = _whole(data), b""
        out[nid] = text
        stack.extend((cid, tail) for cid in reversed(node.children))
    return out


def _token_text(data: bytes) -> str:
    """A token as loom's model responses store it (OpenAI's ``bytes:\\xe2`` for bytes that
    are not whole UTF-8; loomtui's importer reads both forms)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in data)
    return (
        text if not text.startswith("bytes:") else "bytes:" + "".join(f"\\x{b:02x}" for b in data)
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _loom_time(created: float) -> str | None:
    if created <= 0:
        return None
    return time.strftime("%Y-%m-%d-%H.%M.%S", time.gmtime(created))


def _model_response(node: Node, text: str) -> dict[str, Any] | None:
    """loom's ``model_responses`` entry for a token node whose tokens spell ``text``."""
    tokens = node.tokens
    if not tokens or b"".join(t.bytes for t in tokens) != text.encode("utf-8", "surrogatepass"):
        return None
    entries = []
    for token in tokens:
        entry: dict[str, Any] = {
            "generatedToken": {"token": _token_text(token.bytes), "logprob": _finite(token.logprob)}
        }
        if token.top:
            counterfactuals: dict[str, float] = {}
            for alt in token.top:
                if _finite(alt.logprob) is not None:
                    counterfactuals.setdefault(_token_text(alt.bytes), alt.logprob)
            entry["counterfactuals"] = counterfactuals
        entries.append(entry)
    response: dict[str, Any] = {"completions": [{"text": text, "tokens": entries}]}
    if node.model:
        response["model"] = node.model
    return response


def export_loom(session: Session) -> bytes:
    """socketteer/loom's tree: ``{root: {id, text, children}, selected_node_id,
    model_responses}`` (what loom's ``load_tree_data`` reads). Bookmarks become loom's
    ``bookmark`` tag, creation times its ``meta.creation_timestamp``, a model's tokens and
    their alternatives a ``generation`` pointing into ``model_responses``.

    Written iteratively (the nested ``children`` of a deep tree would overflow a recursive
    encoder): each node's fields, then its children between brackets."""
    texts = segment_texts(session)
    responses: dict[str, Any] = {}
    parts: list[str] = ['{"root": ']
    # Stack items: a node id to open, or a literal closing string.
    stack: list[str | tuple[str]] = [session.root_id]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            parts.append(item[0])
            continue
        node = session.nodes[item]
        raw: dict[str, Any] = {"id": node.id, "text": texts[node.id]}
        if node.bookmark:
            raw["tags"] = ["bookmark"]
        stamp = _loom_time(node.created)
        if stamp:
            raw["meta"] = {"creation_timestamp": stamp}
        response = _model_response(node, texts[node.id])
        if response is not None:
            gen_id = f"loomtui-{node.id}"
            responses[gen_id] = response
            raw["generation"] = {"id": gen_id, "index": 0}
            if node.model:
                raw["generation"]["model"] = node.model
        parts.append(_json(raw)[:-1] + ', "children": [')
        stack.append(("]}",))
        for i, cid in enumerate(reversed(node.children)):
            stack.append(cid)
            if i < len(node.children) - 1:
                stack.append((", ",))
    parts.append(', "selected_node_id": ' + _json(session.current_id))
    if responses:
        parts.append(', "model_responses": ' + _json(responses))
    parts.append("}\n")
    return "".join(parts).encode("ascii")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


def _escape_obsidian(text: str) -> str:
    """Obsidian Loom's escapes: ``<`` as ``\\<`` and ``[`` as ``\\[`` (its importer and
    loomtui's undo them)."""
    return text.replace("<", "\\<").replace("[", "\\[")


def export_obsidian(session: Session) -> bytes:
    """An Obsidian Loom per-note state (what its "import" command reads): ``{current,
    hoisted, searchTerm, nodes: {id: {text, parentId, collapsed, unread, bookmarked,
    lastVisited, searchResultState}}, generating}``; nodes in depth-first order, so the key
    order (Obsidian Loom's sibling order) is loomtui's."""
    texts = segment_texts(session)
    nodes: dict[str, Any] = {}
    for node in session.walk():
        entry: dict[str, Any] = {
            "text": _escape_obsidian(texts[node.id]),
            "parentId": node.parent,
            "collapsed": False,
            "unread": False,
            "bookmarked": node.bookmark,
            "searchResultState": None,
        }
        if node.created > 0:
            entry["lastVisited"] = int(node.created * 1000)
        nodes[node.id] = entry
    note = {
        "current": session.current_id,
        "hoisted": [],
        "searchTerm": "",
        "nodes": nodes,
        "generating": None,
    }
    return _dump(note)


def _dump(value: Any) -> bytes:
    # ASCII with \u escapes: lone surrogates survive, and the file is valid JSON anywhere.
    return (json.dumps(value, ensure_ascii=True, indent=1, allow_nan=False) + "\n").encode("ascii")


def export_tree(session: Session, fmt: str) -> bytes:
    """The whole tree in ``fmt`` (one of :data:`TREE_FORMATS`)."""
    if fmt == "loom":
        return export_loom(session)
    if fmt == "obsidian":
        return export_obsidian(session)
    raise ValueError(f"unknown tree export format {fmt!r}")
