"""The local backend's three ratios, on the embedded SmolLM2-135M-Instruct, each measured
against its own baseline in the same run (runs interleaved, median of a few repeats, so a
busy machine slows both sides alike).

- ``topk_overhead``: decode tok/s of the real generation path (top-20 + exact entropy + token
  objects per step) / a bare greedy KV-cache loop. Goal >= 0.95.
- ``cursor_regen_speedup``: time to the first new token regenerating at token 900 of a
  1,000-token branch by re-reading the prefix / with the stored prefix cache (medians: five
  re-reads, fifteen reuses). Goal >= 20.
- ``n8_cost``: wall time of n=8 continuations of 32 tokens / n=1. Goal <= 3.
- ``cursor_regen_first_token_steps``: regenerating from the cursor inside a generated branch
  (its cache stored), through the engine as the app does: request to first token / one decode
  step of the same generation. Goal <= 2.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import torch
from run import BenchContext, measure

from loomtui.backends.base import Context, GenerationSettings

DECODE_TOKENS = 48
REPEATS = 3
REGEN_REPEATS = 5  # cursor_regen_speedup
REUSE_SAMPLES = 3
STORY = (
    "The old lighthouse keeper climbed the spiral stairs every evening, counting the steps "
    "as his father had taught him. At the top he trimmed the wick, polished the great lens "
    "and watched the fishing boats return through the narrowing light. "
)


def _load() -> float:
    """The 1-minute load average, kept beside a ratio (what "a loaded machine" meant)."""
    return round(os.getloadavg()[0], 2)


def _paired_steps(backend: Any, ids: list[int], tokens: int) -> tuple[float, float]:
    """Seconds of ``tokens`` decode steps for each loop, run in lockstep.

    One step of LocalBackend.generate (top-20 and exact entropy per token, tokens built for
    the tree), then one step of a bare greedy KV-cache loop, alternately: whatever the machine
    does meanwhile (frequency changes, a neighbour's load) falls on both alike.
    """
    from transformers import DynamicCache

    backend.kv.clear()
    model = backend.model
    settings = GenerationSettings(max_tokens=tokens + 1, temperature=0, logprobs_k=20)
    events = backend.generate(Context("", token_ids=ids), settings)
    next(events)  # the prefill and the first token: not a decode step
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor([ids], device=model.device),  # --device
            past_key_values=DynamicCache(config=model.config),
            use_cache=True,
            logits_to_keep=1,
        )
        cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1)
        full = bare = 0.0
        for _ in range(tokens):
            t0 = time.perf_counter()
            ev = next(events)
            full += time.perf_counter() - t0
            if ev.token is None:
                raise RuntimeError("early end of generation")
            t0 = time.perf_counter()
            out = model(
                input_ids=nxt[:, None], past_key_values=cache, use_cache=True, logits_to_keep=1
            )
            cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1)
            nxt.tolist()
            bare += time.perf_counter() - t0
    events.close()
    return bare, full


@measure("topk_overhead")
def topk_overhead(ctx: BenchContext) -> dict[str, Any]:
    backend = ctx.local
    ids = backend.tokenize(STORY)
    load = [_load()]
    _paired_steps(backend, ids, 4)  # warm up
    bare, full = [], []
    for _ in range(REPEATS):
        b, f = _paired_steps(backend, ids, DECODE_TOKENS)
        bare.append(b)
        full.append(f)
    bare_tps = DECODE_TOKENS * REPEATS / sum(bare)
    full_tps = DECODE_TOKENS * REPEATS / sum(full)
    return {
        "value": full_tps / bare_tps,
        "unit": "x (tok/s with top-20 / bare, steps in lockstep)",
        "goal": ">= 0.95",
        "baseline": bare_tps,
        "detail": {
            "bare_tok_s": bare_tps,
            "top20_tok_s": full_tps,
            "bare_s": bare,
            "top20_s": full,
            "load_1m": [*load, _load()],
        },
    }


def _first_token_s(backend: Any, ids: list[int]) -> float:
    settings = GenerationSettings(max_tokens=1, temperature=1.0, seed=0)
    start = time.perf_counter()
    for ev in backend.generate(Context("", token_ids=ids), settings):
        if ev.token is not None:
            return time.perf_counter() - start
    raise RuntimeError("no token generated")


@measure("cursor_regen_speedup")
def cursor_regen_speedup(ctx: BenchContext) -> dict[str, Any]:
    backend = ctx.local
    story = backend.tokenize(STORY * 30)
    branch = story[:999]
    cursor = branch[:900]
    reread, reuse, load = [], [], [_load()]
    # The reuse side is one decode step (~50 ms), which a busy machine can stretch tenfold
    # now and then: three samples of it per repeat, five repeats, medians of each side.
    for _ in range(REGEN_REPEATS):
        # Re-reading: nothing stored, the 900-token prefix is read again.
        backend.kv.clear()
        reread.append(_first_token_s(backend, cursor))
        # Reuse: the 1,000-token branch was generated (its cache is stored), then the
        # cursor moves back to token 900 and regenerates.
        backend.kv.clear()
        list(
            backend.generate(
                Context("", token_ids=branch), GenerationSettings(max_tokens=1, temperature=0)
            )
        )
        for _ in range(REUSE_SAMPLES):
            reuse.append(_first_token_s(backend, cursor))
            if backend.last_stats["reused_tokens"] != len(cursor) - 1:
                raise RuntimeError("the stored prefix was not reused")
    base, fast = statistics.median(reread), statistics.median(reuse)
    return {
        "value": base / fast,
        "unit": "x (re-read / reuse, time to first token)",
        "goal": ">= 20",
        "baseline": base,
        "detail": {"reread_s": reread, "reuse_s": reuse, "load_1m": [*load, _load()]},
    }


def _wall(backend: Any, n: int, seed: int) -> float:
    backend.kv.clear()
    settings = GenerationSettings(max_tokens=32, n=n, temperature=1.0, seed=seed)
    start = time.perf_counter()
    list(backend.generate(Context(STORY), settings))
    return time.perf_counter() - start


@measure("n8_cost")
def n8_cost(ctx: BenchContext) -> dict[str, Any]:
    backend = ctx.local
    _wall(backend, 1, 0)  # warm up
    one, eight = [], []
    for rep in range(REPEATS):
        one.append(_wall(backend, 1, rep))
        eight.append(_wall(backend, 8, rep))
    base = statistics.median(one)
    return {
        "value": statistics.median(eight) / base,
        "unit": "x (n=8 wall / n=1 wall)",
        "goal": "<= 3",
        "baseline": base,
        "detail": {"n1_s": one, "n8_s": eight},
    }


def _regen_times(engine: Any, node_id: str, offset: int, steps: int, seed: int) -> list[float]:
    """Seconds from the request (``Engine.generate`` at the cursor, as the app calls it) to
    each new token."""
    times: list[float] = []
    settings = GenerationSettings(max_tokens=steps + 1, temperature=1.0, seed=seed)
    start = time.perf_counter()
    engine.generate(
        node_id, offset, settings, on_token=lambda node, tok: times.append(time.perf_counter())
    )
    return [t - start for t in times]


@measure("cursor_regen_first_token_steps")
def cursor_regen_first_token_steps(ctx: BenchContext) -> dict[str, Any]:
    """Regenerating from the cursor inside a generated branch whose KV cache is stored: time
    from the request to the first token, in decode steps of the same generation (the median
    step after it, at the same depth). Everything before the first token counts: splitting
    the node, building the context from the branch (the model's own ids, nothing
    re-tokenised), the prefix lookup, and the one forward pass the cursor's last token needs
    (its logits are not stored: a whole distribution per position would not fit). Goal <= 2."""
    from loomtui.core.tree import Session
    from loomtui.engine import Engine

    backend = ctx.local
    prompt_tokens, generated, cursor, steps = (60, 12, 6, 4) if ctx.quick else (900, 100, 50, 8)
    backend.kv.clear()
    session = Session.new(backend.tokenizer.decode(backend.tokenize(STORY * 30)[:prompt_tokens]))
    engine = Engine(session, backend)
    grown = engine.generate(
        session.current_id, None, GenerationSettings(max_tokens=generated, temperature=0)
    )
    node = grown.nodes[0]
    if len(node.tokens or ()) < cursor:
        raise RuntimeError("the branch ended before the cursor")
    firsts, step_s, reused = [], [], []
    for rep in range(1 if ctx.quick else REPEATS + 2):
        times = _regen_times(engine, node.id, cursor, steps, rep)
        reused.append(backend.last_stats["reused_tokens"])
        firsts.append(times[0])
        step_s.append(statistics.median(b - a for a, b in zip(times, times[1:], strict=False)))
    depth = len(backend.last_stats["prompt_token_ids"])
    if any(r != depth - 1 for r in reused):
        raise RuntimeError(f"the stored prefix was not reused: {reused} of {depth}")
    ratios = [f / s for f, s in zip(firsts, step_s, strict=True)]
    return {
        "value": round(statistics.median(ratios), 3),
        "unit": "decode steps (request to first token / one decode step)",
        "goal": "<= 2",
        "baseline": statistics.median(step_s),
        "detail": {
            "context_tokens": depth,
            "first_token_s": [round(x, 4) for x in firsts],
            "decode_step_s": [round(x, 4) for x in step_s],
            "ratios": [round(x, 3) for x in ratios],
        },
    }
