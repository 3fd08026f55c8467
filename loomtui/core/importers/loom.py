"""socketteer/loom JSON trees: nested ``root.children``.

A node's full text is the join of its ancestors' ``text``. Template nodes are plain text, never
evaluated. When ``model_responses`` holds per-token logprobs that line up with a node's text,
the node gets tokens; otherwise it stays plain text. Other tools' node ids are kept as strings.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from ..metrics import is_known
from ..sessioncheck import fail
from ..tokens import Alt, Token, decode
from ..tree import Node, Session
from ._common import api_token_bytes, finite


def is_loom(data: Any) -> bool:
    """An object whose ``root`` is a node object (with ``children`` or ``text``)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("root"), dict)
        and ("children" in data["root"] or "text" in data["root"])
    )


def _loom_time(value: Any) -> float:
    """loom's ``creation_timestamp`` ("2021-09-16-22.12.20", local time unknown: read as UTC)."""
    if isinstance(value, str):
        try:
            return float(calendar.timegm(time.strptime(value, "%Y-%m-%d-%H.%M.%S")))
        except ValueError:
            return 0.0
    return 0.0


_Part = tuple[bytes, "float | None", Any]


def _completion_parts(response: Any, index: Any) -> list[_Part] | None:
    """``response.completions[index]``'s tokens as (bytes, logprob, counterfactuals)."""
    if not isinstance(response, dict):
        return None
    completions = response.get("completions")
    if not isinstance(completions, list) or type(index) is not int:
        return None
    if not 0 <= index < len(completions) or not isinstance(completions[index], dict):
        return None
    raw = completions[index].get("tokens")
    if not isinstance(raw, list):
        return None
    parts: list[_Part] = []
    for entry in raw:
        gen = entry.get("generatedToken") if isinstance(entry, dict) else None
        if not isinstance(gen, dict) or not isinstance(gen.get("token"), str):
            return None
        parts.append(
            (
                api_token_bytes(gen["token"]),
                finite(gen.get("logprob")),
                entry.get("counterfactuals"),
            )
        )
    return parts


def _response_tokens(
    response: Any, index: Any, text: str, cache: dict[tuple[int, Any], list[_Part] | None]
) -> list[Token] | None:
    """Tokens of ``response.completions[index]`` that spell exactly the end of ``text``.

    ``cache`` keeps each completion's parts: many nodes may name one long completion, and
    reading it again for each would make the import quadratic."""
    if not isinstance(response, dict) or not text:
        return None
    key = (id(response), index if type(index) is int else None)
    if key not in cache:
        cache[key] = _completion_parts(response, index)
    parts = cache[key]
    if parts is None:
        return None
    want = text.encode("utf-8", "surrogatepass")
    # The completion may echo the prompt: find the token boundary where the node text begins.
    total = 0
    start = len(parts)
    while start > 0 and total < len(want):
        start -= 1
        total += len(parts[start][0])
    if total != len(want) or b"".join(p[0] for p in parts[start:]) != want:
        return None
    tokens = []
    for data, logprob, counterfactuals in parts[start:]:
        alts: list[Alt] = []
        if isinstance(counterfactuals, dict):
            for alt_text, alt_lp in counterfactuals.items():
                lp = finite(alt_lp)
                if isinstance(alt_text, str) and is_known(lp):
                    alt_bytes = api_token_bytes(alt_text)
                    alts.append(Alt(decode(alt_bytes), alt_bytes, None, lp))
            alts.sort(key=lambda a: -a.logprob)
        tokens.append(Token(decode(data), data, None, logprob, tuple(alts)))
    return tokens


def import_loom(data: dict[str, Any], source: str) -> Session:
    """socketteer/loom's tree: ``root`` with nested ``children``; ``selected_node_id``."""
    responses = data.get("model_responses")
    responses = responses if isinstance(responses, dict) else {}
    nodes: dict[str, Node] = {}
    counter = 0
    root_id = ""
    parts_cache: dict[tuple[int, Any], list[_Part] | None] = {}
    stack: list[tuple[Any, str | None]] = [(data["root"], None)]
    while stack:
        raw, parent_id = stack.pop()
        if not isinstance(raw, dict):
            raise fail(source, "loom tree: a node is not an object")
        nid = raw.get("id")
        if nid is None:
            counter += 1
            nid = f"loom-{counter}"
        nid = str(nid)
        if nid in nodes:
            raise fail(source, f"loom tree: duplicate node id {nid[:40]!r}")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise fail(source, f"loom tree: node {nid[:40]!r} text is not a string")
        meta_in = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
        tags = raw.get("tags") if isinstance(raw.get("tags"), list) else []
        generation = raw.get("generation") if isinstance(raw.get("generation"), dict) else {}
        loom_meta: dict[str, Any] = {}
        for key in ("meta", "tags", "generation", "chapter_id", "text_attributes"):
            if key in raw:
                loom_meta[key] = raw[key]
        response = responses.get(generation.get("id")) if generation else None
        model = generation.get("model")
        if not isinstance(model, str):
            model = response.get("model") if isinstance(response, dict) else None
        tokens = (
            _response_tokens(response, generation.get("index"), text, parts_cache)
            if generation
            else None
        )
        node = Node(
            id=nid,
            parent=parent_id,
            origin="import",
            tokens=tokens,
            plain="" if tokens is not None else text,
            model=model if isinstance(model, str) else None,
            created=_loom_time(meta_in.get("creation_timestamp")),
            bookmark="bookmark" in tags or raw.get("bookmark") is True,
            visited=bool(raw.get("visited", False)),
            meta={"loom": loom_meta} if loom_meta else {},
        )
        nodes[nid] = node
        if parent_id is None:
            root_id = nid
        else:
            nodes[parent_id].children.append(nid)
        children = raw.get("children", [])
        if not isinstance(children, list):
            raise fail(source, f"loom tree: node {nid[:40]!r} children is not a list")
        stack.extend((child, nid) for child in reversed(children))
    selected = data.get("selected_node_id")
    current = str(selected) if selected is not None and str(selected) in nodes else root_id
    meta: dict[str, Any] = {"imported_from": "socketteer/loom"}
    if isinstance(data.get("chapters"), dict):
        meta["loom_chapters"] = data["chapters"]
    return Session(nodes=nodes, root_id=root_id, current_id=current, meta=meta)
