"""``loomtui doctor``: what a server (or a local model) really does, found by asking it.

Over an API (``--api-base URL --model NAME``, or ``--profile P``) it sends tiny requests:
completions, chat, logprobs and the largest ``top_logprobs`` honoured, echo and vLLM's
``prompt_logprobs``, ``n``, streaming (and whether it keeps multi-byte characters), token ids,
bytes, assistant prefill and the context length. The findings are kept per server and model in
the cache dir, where the API backend reads them from then on; running ``doctor`` again
refreshes them. For a local model (``--model SPEC``) it reports the device, dtype, vocabulary
and window. A wrong key or a server that is down is one line and exit status 2.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..core.display import safe_line
from .common import backend_from_args, model_options, resolve_profile
from .params import Args

PARAMS: list[click.Parameter] = [
    *model_options(),
    click.Option(["--json"], is_flag=True, help="print the findings as one JSON object"),
]

#: The table's rows: (key in capabilities, label).
ROWS = (
    ("completions", "completions endpoint"),
    ("chat", "chat endpoint"),
    ("logprobs", "logprobs"),
    ("chat_logprobs", "logprobs in chat"),
    ("top_logprobs_max", "largest top_logprobs"),
    ("echo", "echo (prompt scores)"),
    ("prompt_logprobs", "prompt_logprobs (vLLM)"),
    ("n", "n honoured"),
    ("stream", "streaming"),
    ("stream_multibyte", "stream keeps multi-byte"),
    ("token_ids", "token ids"),
    ("bytes", "token bytes"),
    ("prefill", "assistant prefill"),
    ("prefill_style", "prefill style"),
    ("context_length", "context length"),
    ("vocab_size", "vocabulary"),
    ("engine", "engine"),
    ("device", "device"),
    ("dtype", "dtype"),
    ("chat_template", "chat template"),
)


def _value(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "unknown"
    return safe_line(str(value), 60)


def _progress(step: str) -> None:
    if sys.stderr.isatty():
        print(f"\r\x1b[2Kchecking {step}...", end="", file=sys.stderr, flush=True)


def _local(args: Args) -> dict[str, Any]:
    backend = backend_from_args(args)
    try:
        info = backend.info()
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    caps = {
        "completions": True,
        "chat": bool(info.chat_template),
        "logprobs": True,
        # A local model gives the whole distribution: every token of the vocabulary.
        "top_logprobs_max": info.max_logprobs if info.max_logprobs else info.vocab_size,
        "echo": True,
        "n": True,
        "stream": True,
        "token_ids": True,
        "prefill": bool(info.chat_template),
        "context_length": info.context_length,
        "vocab_size": info.vocab_size,
        "engine": info.engine or "torch",
        "device": info.device,
        "dtype": info.dtype,
        "chat_template": bool(info.chat_template),
    }
    return {"server": "local", "model": info.name, "capabilities": caps, "notes": info.notes}


def _api(args: Args) -> tuple[dict[str, Any], str]:
    from ..backends.openai import open_api_backend
    from ..backends.openai.doctor import diagnose, save_findings
    from ..config import cache_dir

    # No cache here: doctor finds out afresh what an earlier run may have kept.
    backend = open_api_backend(
        model=args.model,
        api_base=args.api_base,
        api_key_env=args.api_key_env,
        profile=resolve_profile(args.profile, args.api_base),
    )
    try:
        models = backend.http.get_json("models")
    except Exception:  # noqa: BLE001 - a server without /models still gets its checks
        models = {}
    try:
        findings = diagnose(
            backend.http, backend.model, models, server=backend.caps.server, progress=_progress
        )
    finally:
        if sys.stderr.isatty():
            print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
        backend.close()
    path = save_findings(cache_dir(), findings)
    return findings, str(path)


def run(args: Args) -> int:
    if args.api_base or args.profile:
        findings, saved = _api(args)
    else:
        findings, saved = _local(args), ""
    if args.json:
        print(json.dumps(findings, ensure_ascii=True))
        return 0
    where = findings.get("api_base") or "(this machine)"
    print(f"server   {safe_line(str(findings['server']), 40)}  {safe_line(str(where), 100)}")
    print(f"model    {safe_line(str(findings['model']), 100)}")
    caps = findings["capabilities"]
    width = max(len(label) for _key, label in ROWS)
    for key, label in ROWS:
        if key in caps:
            print(f"  {label:<{width}}  {_value(caps[key])}")
    for note in findings.get("notes") or []:
        print(f"note: {safe_line(str(note), 200)}")
    if saved:
        print(f"kept for this server and model in {safe_line(saved, 200)}")
    return 0
