"""Import other looms' files into a :class:`Session` (auto-detected by ``load_session``).

- socketteer/loom JSON trees: nested ``root.children``; a node's full text is the join of its
  ancestors' ``text``. Template nodes are plain text, never evaluated. When
  ``model_responses`` holds per-token logprobs that line up with a node's text, the node gets
  tokens; otherwise it stays plain text.
- logitloom ``.ll.json`` (``isLogitLoomTreeVersion``): one token per node.
- Obsidian Loom ``data.json`` (``state`` of notes) or one note object. Its ``settings``
  (which hold API keys) are never read.
- mikupad session exports: an object of JSON-encoded strings whose ``prompt`` is a linear list
  of chunks; it becomes one chain of prompt and model nodes. Only the prompt, the session
  name, model, API kind, template and sampling numbers are read: ``endpointAPIKey``,
  ``endpoint`` and every other property are never decoded.

Every walk is iterative: deep trees never hit the recursion limit. Imported nodes have
origin ``"import"`` (mikupad's ``"prompt"`` and ``"model"``: it records who wrote each chunk);
other tools' node ids are kept as strings.
"""

from __future__ import annotations

import calendar
import json
import math
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


# --------------------------------------------------------------------------- mikupad
# lmg-anon/mikupad's Export button writes the session's properties with every value
# JSON-encoded again (``JSON.stringify`` of each, "for compatibility with localStorage export
# files"). ``prompt`` is the text as a list of chunks: ``{"type": "user", "content"}`` for
# what a person typed, and for a model's token ``{"content", "prob", "completion_probabilities":
# [{"content", "probs": [{"tok_str", "prob"}]}]}`` (no ``type``: mikupad treats every chunk
# that is not "user" as the model's). Older versions stored llama.cpp's chunk as it came
# (no ``prob``; ``prob`` -1, -1000 or 0 mean "not found"), or llama.cpp's newer
# ``{"token", "logprob", "top_logprobs": [{"token", "logprob", "bytes"}]}`` entries.

#: Properties only mikupad writes: with a string ``prompt``, any one of them marks an export.
_MIKUPAD_KEYS = frozenset(
    {
        "endpointAPI",
        "endpointAPIKey",
        "endpointModel",
        "maxPredictTokens",
        "repeatLastN",
        "tfsZ",
        "mirostatTau",
        "memoryTokens",
        "authorNoteTokens",
        "worldInfo",
        "chatMode",
        "tokenStreaming",
        "enabledSamplers",
    }
)

#: The sampling properties copied into the session's meta (numbers and booleans only).
_MIKUPAD_SAMPLING = (
    "temperature",
    "topK",
    "topP",
    "minP",
    "typicalP",
    "tfsZ",
    "repeatPenalty",
    "repeatLastN",
    "penalizeNl",
    "presencePenalty",
    "frequencyPenalty",
    "mirostat",
    "mirostatTau",
    "mirostatEta",
    "dynaTempRange",
    "dynaTempExp",
    "xtcThreshold",
    "xtcProbability",
    "dryMultiplier",
    "dryBase",
    "dryAllowedLength",
    "dryPenaltyRange",
    "seed",
    "maxPredictTokens",
    "contextLength",
    "ignoreEos",
)

_MIKUPAD_APIS = {0: "llama.cpp", 2: "koboldcpp", 3: "openai-compatible", 4: "ai-horde"}


def _is_mikupad(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        return False
    if not data["prompt"].lstrip().startswith("[") and not _MIKUPAD_KEYS.intersection(data):
        return False
    # mikupad JSON-encodes every value: an object or a list as a value is another format.
    return all(v is None or isinstance(v, (str, int, float)) for v in data.values())


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


def _mikupad_value(data: dict[str, Any], key: str, source: str) -> Any:
    """One property, decoded the way mikupad's Import does (``JSON.parse`` of the value)."""
    raw = data.get(key)
    if raw is None or isinstance(raw, (bool, int, float)):
        return raw  # JSON.parse(5) is 5: a hand-edited file may hold the number itself
    if not isinstance(raw, str):
        raise _fail(source, f"mikupad session: {key[:40]} is not a JSON-encoded string")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _fail(
            source, f"mikupad session: {key[:40]} is not valid JSON inside its string"
        ) from None


def _mikupad_lp(value: Any, is_prob: bool) -> float | None:
    """A natural-log probability from a probability (0..1] or a logprob; None if unusable."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return None
    if is_prob:
        if not 0.0 < value <= 1.0 + 1e-9:
            return None
        value = math.log(value)
    elif not -1e6 <= value <= 1e-9:
        return None
    return float(value) if value < 0.0 else 0.0


def _mikupad_alt(item: Any, where: str, source: str) -> Alt | None:
    """One alternative: ``{tok_str, prob}`` (mikupad), ``{token, prob}`` or ``{token, logprob}``
    (llama.cpp). None for one with no usable probability (0, null, out of range)."""
    if not isinstance(item, dict):
        raise _fail(source, f"mikupad session: {where}: an alternative is not an object")
    text = item.get("tok_str", item.get("token"))
    if not isinstance(text, str):
        raise _fail(source, f"mikupad session: {where}: an alternative has no token text")
    is_prob = "prob" in item
    value = item.get("prob") if is_prob else item.get("logprob")
    if value is not None and type(value) not in (int, float):
        raise _fail(
            source, f"mikupad session: {where}: an alternative's probability is not a number"
        )
    lp = _mikupad_lp(value, is_prob)
    if lp is None:
        return None
    raw_bytes = item.get("bytes")
    if (
        isinstance(raw_bytes, list)
        and raw_bytes
        and all(type(b) is int and 0 <= b <= 255 for b in raw_bytes)
    ):
        data = bytes(raw_bytes)
    else:
        data = _api_token_bytes(text)
    return Alt(decode(data), data, None, lp)


def _mikupad_entry(
    entry: Any, where: str, source: str
) -> tuple[str | None, float | None, tuple[Alt, ...]]:
    """One ``completion_probabilities`` item: its token text, that token's own logprob (when
    the entry carries one) and the alternatives, most likely first."""
    if not isinstance(entry, dict):
        raise _fail(
            source, f"mikupad session: {where}: completion_probabilities holds a non-object"
        )
    text = entry.get("content", entry.get("token"))
    own = (
        _mikupad_lp(entry["prob"], True)
        if "prob" in entry
        else _mikupad_lp(entry.get("logprob"), False)
    )
    alts: list[Alt] = []
    for key in ("probs", "top_probs", "top_logprobs"):
        items = entry.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise _fail(source, f"mikupad session: {where}: {key} is not a list")
        for item in items:
            alt = _mikupad_alt(item, where, source)
            if alt is not None:
                alts.append(alt)
        break
    alts.sort(key=lambda a: -a.logprob)  # stable: equal probabilities keep mikupad's order
    return (text if isinstance(text, str) else None), own, tuple(alts)


def _mikupad_token(text: str, own: float | None, alts: tuple[Alt, ...]) -> Token:
    data = text.encode("utf-8", "surrogatepass")
    if own is None:
        own = next((a.logprob for a in alts if a.bytes == data), None)
    return Token(decode(data), data, None, own, alts)


def _mikupad_tokens(chunk: dict[str, Any], content: str, where: str, source: str) -> list[Token]:
    """A model chunk's tokens: one per chunk, or one per ``completion_probabilities`` entry
    when llama.cpp sent several tokens in one chunk and their texts spell the chunk's."""
    raw = chunk.get("completion_probabilities")
    if raw is not None and not isinstance(raw, list):
        raise _fail(source, f"mikupad session: {where}: completion_probabilities is not a list")
    entries = [_mikupad_entry(e, where, source) for e in raw or ()]
    texts = [t for t, _, _ in entries if t]
    if len(entries) > 1 and len(texts) == len(entries) and "".join(texts) == content:
        return [
            _mikupad_token(t, own, alts) for t, (_, own, alts) in zip(texts, entries, strict=True)
        ]
    own = _mikupad_lp(chunk.get("prob"), True)  # -1 (or -1000, 0): mikupad did not find it
    alts: tuple[Alt, ...] = ()
    if entries:
        text, entry_own, alts = entries[0]
        if own is None and text == content:
            own = entry_own
    return [_mikupad_token(content, own, alts)]


def import_mikupad(data: dict[str, Any], source: str) -> Session:
    """mikupad: the ``prompt`` chunks as one chain (consecutive chunks of a kind merged): a
    person's text as prompt nodes, the model's chunks as token nodes with their alternatives.

    Only ``prompt``, ``name``, ``endpointModel``, ``endpointAPI``, ``template``, ``chatMode``
    and the sampling numbers are decoded; ``endpointAPIKey``, the endpoint URL (which may carry
    credentials) and every other property are left as they are, unread.
    """
    from .sessionfile import _gc_paused

    with _gc_paused():  # hundreds of thousands of alternatives: no GC rescans while building
        return _import_mikupad(data, source)


def _import_mikupad(data: dict[str, Any], source: str) -> Session:
    chunks = _mikupad_value(data, "prompt", source)
    if not isinstance(chunks, list):
        raise _fail(source, "mikupad session: prompt is not a list of chunks")
    name = _mikupad_value(data, "name", source)
    model = _mikupad_value(data, "endpointModel", source)
    model = (model.strip()[:200] or None) if isinstance(model, str) else None
    runs: list[tuple[bool, list[Any]]] = []  # (a person's text?, its pieces)
    for i, chunk in enumerate(chunks):
        where = f"prompt chunk {i}"
        if not isinstance(chunk, dict):
            raise _fail(source, f"mikupad session: {where} is not an object")
        content = chunk.get("content")
        if not isinstance(content, str):
            raise _fail(source, f"mikupad session: {where} has no text content")
        user = chunk.get("type") == "user"
        pieces = [content] if user else _mikupad_tokens(chunk, content, where, source)
        if not content:
            continue  # adds nothing to the text (and would split a run in two)
        if runs and runs[-1][0] == user:
            runs[-1][1].extend(pieces)
        else:
            runs.append((user, pieces))
    session = Session.new()
    root = session.root
    root.created = 0.0
    if isinstance(name, str) and name:
        root.label = name[:200]
    parent = root.id
    for user, pieces in runs:
        if user:
            node = session.add_child(parent, plain="".join(pieces), origin="prompt", created=0.0)
        else:
            node = session.add_child(
                parent, tokens=pieces, origin="model", model=model, created=0.0
            )
        parent = node.id
    session.current_id = parent
    info: dict[str, Any] = {}
    if isinstance(name, str):
        info["name"] = name[:200]
    if model:
        info["model"] = model
    api = _mikupad_value(data, "endpointAPI", source)
    if type(api) is int and api in _MIKUPAD_APIS:
        info["api"] = _MIKUPAD_APIS[api]
    template = _mikupad_value(data, "template", source)
    if isinstance(template, str):
        info["template"] = template[:200]
    chat = _mikupad_value(data, "chatMode", source)
    if isinstance(chat, bool):
        info["chat_mode"] = chat
    sampling: dict[str, Any] = {}
    for key in _MIKUPAD_SAMPLING:
        value = _mikupad_value(data, key, source)
        if type(value) is bool or (type(value) in (int, float) and abs(value) <= 2.0**63):
            sampling[key] = value
    if sampling:
        info["sampling"] = sampling
    session.meta = {"imported_from": "lmg-anon/mikupad", "mikupad": info}
    return session


_IMPORTERS: list[tuple[Callable[[Any], bool], Importer]] = [
    (_is_loom, import_loom),
    (_is_logitloom, import_logitloom),
    (_is_obsidian, import_obsidian),
    (_is_mikupad, import_mikupad),
]
