"""The stable JSON shapes of ``loomtui generate --json`` and ``loomtui score --json``.

Both the local and the API backends' verbs print these shapes (other tools and our tests
read them), so the shaping lives here once. ``bytes`` is lowercase hex; a completion's
``text`` is its tokens' bytes joined and then decoded (a character split across two tokens
comes out whole; an unfinished UTF-8 run at the end becomes U+FFFD).

generate::

    {"model", "backend", "prompt", "prompt_token_ids",
     "sampling": {"temperature", "top_p", "top_k"},
     "completions": [{"text", "finish_reason",
                      "tokens": [{"text", "bytes", "token_id", "logprob", "dist",
                                  "sampling_logprob", "entropy", "entropy_bounds",
                                  "confidence", "confidence_k",
                                  "top": [{"text", "bytes", "token_id", "logprob"}]}]}],
     "timing": {"load_s", "prefill_s", "decode_s", "tokens_per_s"}}

score::

    {"model", "prefix_token_ids", "tokens": [...same token objects...]}

A token's numbers, labelled: ``logprob`` and ``top`` come from the distribution ``dist``
names ("raw": the model's own softmax; "sampling": a server's processed one);
``sampling_logprob`` is the token's logprob under the distribution it was drawn from (after
the ``sampling`` settings: temperature, top-k, top-p), null where unknown or greedy.
``entropy`` is the exact entropy in nats, null when only a top-k list is known;
``entropy_bounds`` is ``[lower, upper]`` (both the exact value when it is known; the upper
null when the vocabulary size is unknown), null when nothing bounds it. ``confidence`` is
−mean of the ``top`` logprobs (DeepConf; high when one choice dominates) and
``confidence_k`` how many it averaged (the list's length): values compare only at equal k;
both null with no top list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from ..core.metrics import confidence, token_entropy
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


def token_json(token: Token, vocab_size: int | None = None) -> dict[str, Any]:
    """One token: ``{"text", "bytes", "token_id", "logprob", "dist", "sampling_logprob",
    "entropy", "entropy_bounds", "confidence", "confidence_k", "top"}`` (``vocab_size``
    gives the bounds a finite upper end)."""
    bounds = token_entropy(token, vocab_size)
    conf = confidence(token.top) if token.top else None
    return {
        **alt_json(token),
        "dist": token.dist,
        "sampling_logprob": token.sampling_logprob,
        "entropy": token.entropy,
        "entropy_bounds": None if bounds is None else list(bounds),
        "confidence": None if conf is None else conf[0],
        "confidence_k": None if conf is None else conf[1],
        "top": [alt_json(a) for a in token.top],
    }


def completion_json(
    tokens: Sequence[Token], finish_reason: str | None, vocab_size: int | None = None
) -> dict[str, Any]:
    """One completion: its text (tokens' bytes joined, then decoded) and its tokens."""
    return {
        "text": decode(join_bytes(tokens)),
        "finish_reason": finish_reason,
        "tokens": [token_json(t, vocab_size) for t in tokens],
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
    vocab_size: int | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole ``generate --json`` object. ``completions`` holds (tokens, finish_reason);
    ``sampling`` the settings the tokens were drawn with (temperature, top_p, top_k)."""
    return {
        "model": model,
        "backend": backend,
        "prompt": prompt,
        "prompt_token_ids": None if prompt_token_ids is None else list(prompt_token_ids),
        "sampling": sampling,
        "completions": [completion_json(t, reason, vocab_size) for t, reason in completions],
        "timing": timing,
    }


def score_json(
    *,
    model: str,
    prefix_token_ids: Sequence[int],
    tokens: Sequence[Token],
    vocab_size: int | None = None,
) -> dict[str, Any]:
    """The whole ``score --json`` object."""
    return {
        "model": model,
        "prefix_token_ids": list(prefix_token_ids),
        "tokens": [token_json(t, vocab_size) for t in tokens],
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
