"""The cost of the sampled probability in the local decode loop, on the embedded model.

- ``sampled_logprob_overhead``: decode tok/s of the real generation path at temperature 0.7
  and top-p 0.9, each token carrying ``sampling_logprob`` (read off the probabilities the draw
  used: one gather and a log of n values) / the same path with the draw that computes no
  logprob (the sampler as it was before). Both run from the same context with the same seed,
  one step of each alternately, so a busy machine slows both alike. Goal >= 0.97.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from local_measures import DECODE_TOKENS, REPEATS, STORY  # the same decode and context
from run import BenchContext, measure

from loomtui.backends import local as local_module
from loomtui.backends.base import Context, GenerationSettings
from loomtui.backends.sampling import draw, sample


def _draw_without_logprob(logits, settings, generator):  # type: ignore[no-untyped-def]
    """The sampler before ``sampling_logprob``: the token only."""
    return sample(logits, settings, generator), None


def _paired_steps(backend: Any, ids: list[int], tokens: int) -> tuple[float, float]:
    """Seconds of ``tokens`` decode steps without and with the sampled logprob, in lockstep."""
    backend.kv.clear()
    settings = GenerationSettings(
        max_tokens=tokens + 1, temperature=0.7, top_p=0.9, seed=7, logprobs_k=20
    )
    plain = backend.generate(Context("", token_ids=ids), settings)
    full = backend.generate(Context("", token_ids=ids), settings)
    times = {"plain": 0.0, "full": 0.0}

    def step(name: str, events: Any, sampler: Any) -> Any:
        local_module.draw = sampler  # the loop looks the sampler up at each step
        try:
            t0 = time.perf_counter()
            ev = next(events)
            times[name] += time.perf_counter() - t0
        finally:
            local_module.draw = draw
        return ev

    # The prefill and the first token: not decode steps.
    step("plain", plain, _draw_without_logprob)
    step("full", full, draw)
    times["plain"] = times["full"] = 0.0
    for _ in range(tokens):
        a = step("plain", plain, _draw_without_logprob)
        b = step("full", full, draw)
        if a.token is None or b.token is None:
            raise RuntimeError("early end of generation")
        if b.token.sampling_logprob is None or a.token.sampling_logprob is not None:
            raise RuntimeError("the two paths are not what they claim")
    plain.close()
    full.close()
    return times["plain"], times["full"]


@measure("sampled_logprob_overhead")
def sampled_logprob_overhead(ctx: BenchContext) -> dict[str, Any]:
    backend = ctx.local
    ids = backend.tokenize(STORY)
    _paired_steps(backend, ids, 4)  # warm up
    plain, full = [], []
    for _ in range(1 if ctx.quick else REPEATS):
        p, f = _paired_steps(backend, ids, 4 if ctx.quick else DECODE_TOKENS)
        plain.append(p)
        full.append(f)
    p, f = statistics.median(plain), statistics.median(full)
    steps = 4 if ctx.quick else DECODE_TOKENS
    return {
        "value": round(p / f, 3),
        "unit": "x (tok/s with sampling_logprob / without, T 0.7 top-p 0.9, lockstep)",
        "goal": ">= 0.97",
        "baseline": round(steps / p, 2),
        "detail": {"tok_s_without": round(steps / p, 2), "tok_s_with": round(steps / f, 2)},
    }
