"""Import other looms' files into a :class:`Session` (auto-detected by ``load_session``).

- socketteer/loom JSON trees: nested ``root.children``; a node's full text is the join of its
  ancestors' ``text``. Template nodes are plain text, never evaluated. When
  ``model_responses`` holds per-token logprobs that line up with a node's text, the node gets
  tokens; otherwise it stays plain text.
- logitloom ``.ll.json`` (``isLogitLoomTreeVersion``): one token per node.
- Obsidian Loom ``data.json`` (``state`` of notes) or one note object. Its ``settings``
  (which hold API keys) are never read.

Every walk is iterative: deep trees never hit the recursion limit. Imported nodes have
origin ``"import"``; other tools' node ids are kept as strings.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from typing import Any

from .errors import SessionFileError
from .tokens import Alt, Token, decode
from .tree import Node, Session

Importer = Callable[[Any, str], Session]


def _fail(source: str, problem: str) -> SessionFileError:
    from .sessionfile import _fail as fail

    return fail(source, problem)


def import_foreign(data: Any, source: str) -> Session | None:
    """A Session from another loom's parsed JSON, or None if the shape is not recognised."""
    for detect, importer in _IMPORTERS:
        if detect(data):
            session = importer(data, source)
            from .sessionfile import check_tree

            check_tree(session.nodes, session.root_id, session.current_id, source)
            return session
    return None


# --------------------------------------------------------------------------- socketteer/loom
def _is_loom(data: Any) -> bool:
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


_BYTES_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _api_token_bytes(text: str) -> bytes:
    """OpenAI-style ``bytes:\\xe2\\x80`` tokens carry raw bytes; others are UTF-8 text."""
    if text.startswith("bytes:") and re.fullmatch(r"(?:\\x[0-9a-fA-F]{2})+", text[6:]):
        return bytes(int(h, 16) for h in _BYTES_ESCAPE.findall(text[6:]))
    return text.encode("utf-8", "surrogatepass")


def _finite(x: Any) -> float | None:
    if type(x) in (int, float) and -1e6 <= x <= 1e6:
        return float(x)
    return None


def _response_tokens(response: Any, index: Any, text: str) -> list[Token] | None:
    """Tokens of ``response.completions[index]`` that spell exactly the end of ``text``."""
    if not isinstance(response, dict) or not text:
        return None
    completions = response.get("completions")
    if not isinstance(completions, list) or type(index) is not int:
        return None
    if not 0 <= index < len(completions) or not isinstance(completions[index], dict):
        return None
    raw = completions[index].get("tokens")
    if not isinstance(raw, list):
        return None
    parts: list[tuple[bytes, float | None, Any]] = []
    for entry in raw:
        gen = entry.get("generatedToken") if isinstance(entry, dict) else None
        if not isinstance(gen, dict) or not isinstance(gen.get("token"), str):
            return None
        parts.append(
            (
                _api_token_bytes(gen["token"]),
                _finite(gen.get("logprob")),
                entry.get("counterfactuals"),
            )
        )
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
                lp = _finite(alt_lp)
                if isinstance(alt_text, str) and lp is not None and lp > -9999:
                    alt_bytes = _api_token_bytes(alt_text)
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
    stack: list[tuple[Any, str | None]] = [(data["root"], None)]
    while stack:
        raw, parent_id = stack.pop()
        if not isinstance(raw, dict):
            raise _fail(source, "loom tree: a node is not an object")
        nid = raw.get("id")
        if nid is None:
            counter += 1
            nid = f"loom-{counter}"
        nid = str(nid)
        if nid in nodes:
            raise _fail(source, f"loom tree: duplicate node id {nid[:40]!r}")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise _fail(source, f"loom tree: node {nid[:40]!r} text is not a string")
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
        tokens = _response_tokens(response, generation.get("index"), text) if generation else None
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
            raise _fail(source, f"loom tree: node {nid[:40]!r} children is not a list")
        stack.extend((child, nid) for child in reversed(children))
    selected = data.get("selected_node_id")
    current = str(selected) if selected is not None and str(selected) in nodes else root_id
    meta: dict[str, Any] = {"imported_from": "socketteer/loom"}
    if isinstance(data.get("chapters"), dict):
        meta["loom_chapters"] = data["chapters"]
    return Session(nodes=nodes, root_id=root_id, current_id=current, meta=meta)


# --------------------------------------------------------------------------- logitloom
def _is_logitloom(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("isLogitLoomTreeVersion"), str)


def import_logitloom(data: dict[str, Any], source: str) -> Session:
    """logitloom: ``roots[]`` of token nodes (``text``, ``logprob``/``prob``, ``children``).

    The prompt/prefill from ``modelSettings`` becomes the root's text; the API key, base URL
    and other settings are not imported.
    """
    version = data.get("isLogitLoomTreeVersion")
    if version != "logit-loom-tree-v1":
        raise _fail(source, f"logitloom tree version {str(version)[:30]!r} is not supported")
    settings = data.get("modelSettings") if isinstance(data.get("modelSettings"), dict) else {}
    prompt = "".join(
        v for k in ("systemPrompt", "prompt", "prefill") if isinstance(v := settings.get(k), str)
    )
    model = data.get("modelName") if isinstance(data.get("modelName"), str) else None
    session = Session.new()
    root = session.root
    root.plain, root.origin, root.created = prompt, "import", 0.0
    roots = data.get("roots")
    if not isinstance(roots, list):
        raise _fail(source, "logitloom tree: roots is not a list")
    stack: list[tuple[Any, str]] = [(r, root.id) for r in reversed(roots)]
    while stack:
        raw, parent_id = stack.pop()
        if not isinstance(raw, dict) or not isinstance(raw.get("text", ""), str):
            raise _fail(source, "logitloom tree: a node is not a token object")
        text = raw.get("text", "")
        logprob = _finite(raw.get("logprob"))
        data_bytes = text.encode("utf-8", "surrogatepass")
        node = session.add_child(
            parent_id,
            tokens=[Token(text, data_bytes, None, logprob)],
            origin="import",
            model=model,
            created=0.0,
        )
        if raw.get("id") is not None:
            node.meta["logitloom_id"] = str(raw["id"])
        children = raw.get("children", [])
        if not isinstance(children, list):
            raise _fail(source, "logitloom tree: children is not a list")
        stack.extend((c, node.id) for c in reversed(children))
    session.current_id = root.id
    session.meta = {"imported_from": "vgel/logitloom"}
    return session


# --------------------------------------------------------------------------- Obsidian Loom
def _is_obsidian_note(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("nodes"), dict)
        and all(isinstance(n, dict) and "parentId" in n for n in list(data["nodes"].values())[:5])
    )


def _is_obsidian(data: Any) -> bool:
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
                    raise _fail(source, f"Obsidian Loom: node {str(uid)[:40]!r} is not an object")
                parent = raw.get("parentId")
                if parent is not None and parent not in raw_nodes:
                    raise _fail(
                        source, f"Obsidian Loom: node {str(uid)[:40]!r} has a missing parent"
                    )
                if parent is not None and parent not in ids:
                    rest.append((uid, raw))
                    continue
                text = raw.get("text", "")
                if not isinstance(text, str):
                    raise _fail(
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
                raise _fail(source, "Obsidian Loom: cycle in parentId links")
            pending = rest
        if note.get("current") in ids:
            current = ids[note["current"]]
    session.current_id = current
    session.meta = {"imported_from": "cosmicoptima/loom"}
    return session


_IMPORTERS: list[tuple[Callable[[Any], bool], Importer]] = [
    (_is_loom, import_loom),
    (_is_logitloom, import_logitloom),
    (_is_obsidian, import_obsidian),
]
