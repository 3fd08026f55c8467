"""``loomtui generate --model A --model B -n 4``: the continuations spread over several models.

Each distinct ``--model`` entry is loaded once (the spelling of an entry:
:func:`loomtui.backends.resolve.model_entry`) and closed on exit. The continuations are dealt
round-robin over the models that loaded (:func:`loomtui.instruments.multimodel.spread`: model
``j`` makes ``n // M`` of them, the first ``n % M`` models one more, each at least one), all
hanging from the same prompt node. A model that fails to load or to generate is one line on
stderr (``loomtui: generate: MODEL: reason``); the others' continuations still land (and are
saved with ``-o``/``--session``), and the exit status is 1.

``--json`` prints ``{"models": [{"entry", "model", "backend", "n", "prompt_token_ids",
"error"}], "prompt", "sampling", "completions": [{"model", "backend", "text",
"finish_reason", "tokens"}], "failures": [...], "timing"}``; each completion in the shape of
the one-model ``generate --json``, with the model that wrote it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..core.display import safe_line, visible
from ..core.errors import LoomError
from ..core.tree import Session
from .common import backend_for_entry
from .params import Args

if TYPE_CHECKING:
    from ..backends.base import Backend, GenerationSettings
    from ..core.tokens import Token
    from ..core.tree import Node
    from ..engine import Engine
    from ..instruments.multimodel import MultiResult

#: How the verb finds the node to generate after (generate.start_node: the prompt, a new
#: turn, the prefill), and prints a completion's tokens (generate.print_tokens): passed in by
#: ``generate``, which imports this module (not the other way round: no import cycle).
StartNode = Callable[[Args, "Engine", str, "GenerationSettings"], "Node"]
PrintTokens = Callable[[Sequence["Token"]], None]


def _load(args: Args, entries: Sequence[str]) -> tuple[list[tuple[str, Backend]], list[str]]:
    """Each entry's backend, in order; a model that cannot be opened is a line, not a stop."""
    loaded: list[tuple[str, Backend]] = []
    failed: list[str] = []
    for entry in entries:
        try:
            loaded.append((entry, backend_for_entry(args, entry)))
        except LoomError as exc:
            failed.append(f"{safe_line(entry, 80)}: cannot load: {safe_line(str(exc), 300)}")
        except Exception as exc:  # noqa: BLE001 - one model's crash never stops the others
            failed.append(
                f"{safe_line(entry, 80)}: cannot load: {type(exc).__name__}: "
                f"{safe_line(str(exc), 300)}"
            )
    return loaded, failed


def generate_multi(
    args: Args,
    store: Any,
    session: Session,
    prompt: str,
    settings: GenerationSettings,
    entries: Sequence[str],
    start_node: StartNode,
    print_tokens: PrintTokens,
) -> int:
    """Generate over every model of ``entries`` (at least two); the verb's exit status."""
    from ..engine import Engine
    from ..instruments.multimodel import generate_many

    start = time.perf_counter()
    loaded, failed = _load(args, entries)
    load_s = time.perf_counter() - start
    try:
        if not loaded:
            raise LoomError("no model could be loaded: " + "; ".join(failed))
        first = loaded[0][1]
        engine = Engine.over(store, first) if store is not None else Engine(session, first)
        node = start_node(args, engine, prompt, settings)
        result = generate_many(engine, [b for _, b in loaded], node.id, None, settings)
        result.unloaded = failed
        lines = result.failures
        if args.json:
            _print_json(args, prompt, settings, loaded, failed, result, load_s)
        else:
            _print_plain(prompt, result, args.prefill, print_tokens)
        for line in lines:
            print(f"loomtui: generate: {line}", file=sys.stderr)
        return 1 if lines else 0
    finally:
        for _, backend in loaded:
            backend.close()


def _print_json(
    args: Args,
    prompt: str,
    settings: GenerationSettings,
    loaded: Sequence[tuple[str, Backend]],
    failed: Sequence[str],
    result: MultiResult,
    load_s: float,
) -> None:
    from .jsonout import completion_json, dumps, timing_json

    models: list[dict[str, Any]] = []
    vocab: dict[str, int | None] = {}
    for (entry, backend), run in zip(loaded, result.runs, strict=True):
        info = backend.info()
        vocab[info.name] = info.vocab_size
        stats = getattr(backend, "last_stats", None) or {}
        ids = stats.get("prompt_token_ids") if run.result is not None else None
        models.append(
            {
                "entry": entry,
                "model": info.name,
                "backend": info.backend,
                "n": run.n,
                "prompt_token_ids": None if ids is None else list(ids),
                "error": run.error,
            }
        )
    completions = []
    for node in result.nodes:
        one = completion_json(node.tokens or [], node.finish_reason, vocab.get(node.model or ""))
        completions.append({"model": node.model, "backend": node.backend, **one})
    out = {
        "models": models,
        "prompt": prompt,
        "sampling": {
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "top_k": settings.top_k,
        },
        "completions": completions,
        "failures": result.failures,
        "timing": timing_json(load_s, None, result.elapsed_s, result.tokens),
    }
    if args.prefill is not None:
        out["prefill"] = args.prefill
    print(dumps(out))


def _print_plain(
    prompt: str, result: MultiResult, prefill: str | None, print_tokens: PrintTokens
) -> None:
    print(visible(prompt))
    if prefill:
        print("--- the assistant's reply starts with ---")
        print(visible(prefill))
    total = len(result.nodes)
    for i, node in enumerate(result.nodes, 1):
        model = safe_line(node.model or "?", 80)
        reason = safe_line(str(node.finish_reason), 100)
        print(f"--- completion {i}/{total} ({model}; finish: {reason}) ---")
        print_tokens(node.tokens or [])
