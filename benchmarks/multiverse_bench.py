"""Benchmark: the block multiverse expanded level by level in batches vs one node at a time.

``multiverse_batched_speedup`` = time(depth-3 top-4 expansion, one next_distribution call per
node: 1 + 4 + 16 = 21 forward passes) / time(the same expansion batched: 3 calls, one padded
forward pass per level), on the embedded model, both measured in the same run: the two are
timed alternately, ``repeats`` times each, and the best of each is kept, so a noisy stretch
of the machine falls on both. The numbers of the two expansions are checked to agree.
"""

from __future__ import annotations

import time
from typing import Any

PROMPT = "In the beginning the universe was created. This has made a lot of people"


def _best_alternating(fns: list[Any], repeats: int) -> list[float]:
    """The best time of each function, running them in turn ``repeats`` times."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def multiverse_batched_speedup(backend: Any = None, repeats: int = 4) -> dict[str, Any]:
    """The ratio, as ``{"value", "unit", "goal", "baseline"}`` for benchmarks/run.py."""
    from loomtui.backends.base import Context
    from loomtui.instruments.multiverse import expand

    if backend is None:
        from loomtui.backends.local import LocalBackend
        from loomtui.config import cache_dir

        backend = LocalBackend.load("default", cache_dir=cache_dir())
    ctx = Context(text=PROMPT, token_ids=backend.tokenize(PROMPT))
    a = expand(backend, ctx, 3, 4, batched=True)  # warm-up, and the numbers to compare
    b = expand(backend, ctx, 3, 4, batched=False)
    same = [x.alt.token_id for x in a.walk()] == [x.alt.token_id for x in b.walk()]
    batched, single = _best_alternating(
        [
            lambda: expand(backend, ctx, 3, 4, batched=True),
            lambda: expand(backend, ctx, 3, 4, batched=False),
        ],
        repeats,
    )
    return {
        "name": "multiverse_batched_speedup",
        "value": single / batched,
        "unit": "x",
        "goal": ">= 2",  # one padded forward pass per level instead of one per node
        "baseline": single,
        "detail": {
            "one_at_a_time_s": single,
            "batched_s": batched,
            "forward_passes": {"one_at_a_time": b.calls, "batched": a.calls},
            "same_tree": same,
        },
    }


try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

if measure is not None:

    @measure("multiverse_batched_speedup")
    def _registered(ctx: Any) -> dict[str, Any]:
        return multiverse_batched_speedup(ctx.local)


if __name__ == "__main__":
    import json

    print(json.dumps(multiverse_batched_speedup(), indent=1))
