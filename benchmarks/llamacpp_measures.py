"""The llama.cpp engine against llama.cpp itself, on the embedded SmolLM2 GGUF, in one run.

- ``llamacpp_decode_ratio``: tok/s of loomtui's llamacpp engine (greedy, top-20 and exact
  full-vocabulary entropy on every token, tokens built for the tree) / tok/s of
  llama-cpp-python's plain greedy completion in the same process on the same file
  (``Llama(model_path=..., logits_all=False, verbose=False)``,
  ``create_completion(prompt, max_tokens=N, temperature=0)``, no logprobs). Both are whole
  calls on the same prompt (each side keeps its prompt's KV cache between calls, as it does
  for a user), run alternately, best of 3. Both use llama-cpp-python's default thread
  counts. Goal >= 0.8. The detail also gives the torch engine's ratio to the same baseline
  (same run) for the record.
"""

from __future__ import annotations

import time
from typing import Any

from run import BenchContext, measure

from loomtui.backends.base import Context, GenerationSettings

PROMPT = (
    "The old lighthouse keeper climbed the spiral stairs every evening, counting the steps "
    "as his father had taught him. At the top he"
)
TOKENS = 64
REPEATS = 3


def _engine_tps(backend: Any, tokens: int) -> tuple[float, int]:
    settings = GenerationSettings(max_tokens=tokens, temperature=0, logprobs_k=20)
    start = time.perf_counter()
    count = 0
    for ev in backend.generate(Context(PROMPT), settings):
        if ev.token is not None:
            if ev.token.entropy is None or len(ev.token.top) != 20:
                raise RuntimeError("a token without its entropy or top-20")
            count += 1
    return count / (time.perf_counter() - start), count


def _plain_tps(llm: Any, tokens: int) -> tuple[float, int]:
    start = time.perf_counter()
    out = llm.create_completion(PROMPT, max_tokens=tokens, temperature=0)
    count = int(out["usage"]["completion_tokens"])
    return count / (time.perf_counter() - start), count


@measure("llamacpp_decode_ratio")
def llamacpp_decode_ratio(ctx: BenchContext) -> dict[str, Any]:
    try:
        from llama_cpp import Llama
    except ImportError:
        return {
            "value": "skipped",
            "unit": "",
            "goal": ">= 0.8",
            "baseline": None,
            "detail": {"why": "llama-cpp-python is not installed"},
        }
    from loomtui.backends.llamacpp import LlamaCppBackend

    tokens = 8 if ctx.quick else TOKENS
    repeats = 1 if ctx.quick else REPEATS
    engine = LlamaCppBackend.load("default")
    llm = Llama(model_path=engine.path, logits_all=False, verbose=False)
    _engine_tps(engine, 4)  # warm up both (first calls map the weights, read the prompt)
    _plain_tps(llm, 4)
    ours, plain = [], []
    counts = set()
    for _ in range(repeats):
        tps, n = _engine_tps(engine, tokens)
        ours.append(tps)
        counts.add(n)
        tps, n = _plain_tps(llm, tokens)
        plain.append(tps)
        counts.add(n)
    detail: dict[str, Any] = {
        "tokens": sorted(counts),
        "engine_tok_s": ours,
        "llamacpp_plain_tok_s": plain,
        "threads": engine.lib.n_threads,
        "llama_cpp_threads": llm.n_threads,
    }
    if not ctx.quick:
        torch_tps = max(_engine_tps(ctx.local, tokens)[0] for _ in range(repeats))
        detail["torch_engine_tok_s"] = torch_tps
        detail["torch_engine_ratio"] = torch_tps / max(plain)
    engine.close()
    return {
        "value": max(ours) / max(plain),
        "unit": "x (llamacpp engine with top-20 + exact entropy / llama.cpp plain greedy)",
        "goal": ">= 0.8",
        "baseline": max(plain),
        "detail": detail,
    }
