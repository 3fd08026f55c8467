"""lmg-anon/mikupad session exports: an object of JSON-encoded strings.

Its ``prompt`` is a linear list of chunks; it becomes one chain of prompt and model nodes
(origins ``"prompt"`` and ``"model"``: it records who wrote each chunk). Only the prompt, the
session name, model, API kind, template and sampling numbers are read: ``endpointAPIKey``,
``endpoint`` and every other property are never decoded.

lmg-anon/mikupad's Export button writes the session's properties with every value
JSON-encoded again (``JSON.stringify`` of each, "for compatibility with localStorage export
files"). ``prompt`` is the text as a list of chunks: ``{"type": "user", "content"}`` for
what a person typed, and for a model's token ``{"content", "prob", "completion_probabilities":
[{"content", "probs": [{"tok_str", "prob"}]}]}`` (no ``type``: mikupad treats every chunk
that is not "user" as the model's). Older versions stored llama.cpp's chunk as it came
(no ``prob``; ``prob`` -1, -1000 or 0 mean "not found"), or llama.cpp's newer
``{"token", "logprob", "top_logprobs": [{"token", "logprob", "bytes"}]}`` entries.
"""

from __future__ import annotations

import math
from typing import Any

from ..sessioncheck import fail, gc_paused
from ..strictjson import StrictJSONError, loads_strict
from ..tokens import Alt, Token, decode
from ..tree import Session
from ._common import api_token_bytes

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


def is_mikupad(data: Any) -> bool:
    """An object of scalars whose ``prompt`` is a string: a JSON list, or beside a key only
    mikupad writes."""
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        return False
    if not data["prompt"].lstrip().startswith("[") and not _MIKUPAD_KEYS.intersection(data):
        return False
    # mikupad JSON-encodes every value: an object or a list as a value is another format.
    return all(v is None or isinstance(v, (str, int, float)) for v in data.values())


def _mikupad_value(data: dict[str, Any], key: str, source: str) -> Any:
    """One property, decoded the way mikupad's Import does (``JSON.parse`` of the value)."""
    raw = data.get(key)
    if raw is None or isinstance(raw, (bool, int, float)):
        return raw  # JSON.parse(5) is 5: a hand-edited file may hold the number itself
    if not isinstance(raw, str):
        raise fail(source, f"mikupad session: {key[:40]} is not a JSON-encoded string")
    try:
        return loads_strict(raw)
    except StrictJSONError as exc:  # 1e999, NaN or a key twice: it could not be saved back
        raise fail(
            source, f"mikupad session: {key[:40]} is not valid JSON inside its string ({exc})"
        ) from None
    except (ValueError, RecursionError):
        raise fail(
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
        raise fail(source, f"mikupad session: {where}: an alternative is not an object")
    text = item.get("tok_str", item.get("token"))
    if not isinstance(text, str):
        raise fail(source, f"mikupad session: {where}: an alternative has no token text")
    is_prob = "prob" in item
    value = item.get("prob") if is_prob else item.get("logprob")
    if value is not None and type(value) not in (int, float):
        raise fail(
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
        data = api_token_bytes(text)
    return Alt(decode(data), data, None, lp)


def _mikupad_entry(
    entry: Any, where: str, source: str
) -> tuple[str | None, float | None, tuple[Alt, ...]]:
    """One ``completion_probabilities`` item: its token text, that token's own logprob (when
    the entry carries one) and the alternatives, most likely first."""
    if not isinstance(entry, dict):
        raise fail(source, f"mikupad session: {where}: completion_probabilities holds a non-object")
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
            raise fail(source, f"mikupad session: {where}: {key} is not a list")
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
        raise fail(source, f"mikupad session: {where}: completion_probabilities is not a list")
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
    with gc_paused():  # hundreds of thousands of alternatives: no GC rescans while building
        return _import_mikupad(data, source)


def _import_mikupad(data: dict[str, Any], source: str) -> Session:
    chunks = _mikupad_value(data, "prompt", source)
    if not isinstance(chunks, list):
        raise fail(source, "mikupad session: prompt is not a list of chunks")
    name = _mikupad_value(data, "name", source)
    model = _mikupad_value(data, "endpointModel", source)
    model = (model.strip()[:200] or None) if isinstance(model, str) else None
    runs: list[tuple[bool, list[Any]]] = []  # (a person's text?, its pieces)
    for i, chunk in enumerate(chunks):
        where = f"prompt chunk {i}"
        if not isinstance(chunk, dict):
            raise fail(source, f"mikupad session: {where} is not an object")
        content = chunk.get("content")
        if not isinstance(content, str):
            raise fail(source, f"mikupad session: {where} has no text content")
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
