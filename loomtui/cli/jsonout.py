"""The stable JSON shapes of ``loomtui generate --json`` and ``loomtui score --json``.

Both the local and the API backends' verbs print these shapes (other tools and our tests
read them), so the shaping lives here once. ``bytes`` is lowercase hex; a completion's
``text`` is its tokens' bytes joined and then decoded (a character split across two tokens
comes out whole; an unfinished UTF-8 run at the end becomes U+FFFD).

generate::

    {"model", "backend", "prompt", "prompt_token_ids",
     "completions": [{"text", "finish_reason",
                      "tokens": [{"text", "bytes", "token_id", "logprob", "entropy",
                                  "top": [{"text", "bytes", "token_id", "logprob"}]}]}],
     "timing": {"load_s", "prefill_s", "decode_s", "tokens_per_s"}}

score::

    {"model", "prefix_token_ids", "tokens": [...same token objects...]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from ..core.tokens import Alt, Token, decode, join_bytes


def alt_json(alt: Alt | Token) -> dict[str, Any]:
    """One alternative (or a token's own four fields): ``{"text", "bytes", "token_id",
    "logprob"}``."""
    return {
        "text": alt.text,
        "bytes": alt.bytes.hex(),
        "token_id": alt.token_id,
        "logprob": alt.logprob,
    }


def token_json(token: Token) -> dict[str, Any]:
    """One token: ``{"text", "bytes", "token_id", "logprob", "entropy", "top"}``."""
    return {
        **alt_json(token),
        "entropy": token.entropy,
        "top": [alt_json(a) for a in token.top],
    }


def completion_json(tokens: Sequence[Token], finish_reason: str | None) -> dict[str, Any]:
    """One completion: its text (tokens' bytes joined, then decoded) and its tokens."""
    return {
        "text": decode(join_bytes(tokens)),
        "finish_reason": finish_reason,
        "tokens": [token_json(t) for t in tokens],
    }


def timing_json(
    load_s: float | None,
    prefill_s: float | None,
    decode_s: float | None,
    tokens: int,
) -> dict[str, Any]:
    """``{"load_s", "prefill_s", "decode_s", "tokens_per_s"}``; tokens_per_s is decode speed
    (generated tokens over decode time, None when nothing was timed)."""
    tps = tokens / decode_s if decode_s and decode_s > 0 else None
    return {
        "load_s": _round(load_s),
        "prefill_s": _round(prefill_s),
        "decode_s": _round(decode_s),
        "tokens_per_s": _round(tps),
    }


def generate_json(
    *,
    model: str,
    backend: str,
    prompt: str,
    prompt_token_ids: Sequence[int] | None,
    completions: Sequence[tuple[Sequence[Token], str | None]],
    timing: dict[str, Any],
) -> dict[str, Any]:
    """The whole ``generate --json`` object. ``completions`` holds (tokens, finish_reason)."""
    return {
        "model": model,
        "backend": backend,
        "prompt": prompt,
        "prompt_token_ids": None if prompt_token_ids is None else list(prompt_token_ids),
        "completions": [completion_json(toks, reason) for toks, reason in completions],
        "timing": timing,
    }


def score_json(
    *, model: str, prefix_token_ids: Sequence[int], tokens: Sequence[Token]
) -> dict[str, Any]:
    """The whole ``score --json`` object."""
    return {
        "model": model,
        "prefix_token_ids": list(prefix_token_ids),
        "tokens": [token_json(t) for t in tokens],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def clean(value: Any) -> Any:
    """The value with NaN/Infinity (which strict JSON parsers refuse) turned into null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(data: dict[str, Any]) -> str:
    """Strict JSON text (UTF-8 kept as is, no NaN) for printing."""
    return json.dumps(clean(data), ensure_ascii=False, allow_nan=False)
