"""Benchmark: adaptive looming batched vs the same tree grown one branch at a time.

``adaptive_batched_speedup`` = time(growing the tree one branch at a time: one greedy
generation per node, each child after the other, its prefix taken from the backend's KV
store) / time(the forking decoder: a branch point's K children start from the parent's
cache and decode as one batch, one forward pass per step for all of them), on the embedded
model, both measured in the same run, alternately, best of ``repeats``. The two trees are
checked to be the same (texts and reasons).

The detail says how the batched cost grows with K (children per branch point) and D (branch
points deep): for each, the nodes and tokens grown, the forward passes (exact) and the
seconds (one run each, so noisier than the ratio).
A tree of depth D has up to 1 + K + ... + K^D nodes, but the forward passes grow with the
number of branch points times T, not with the tokens: K rows cost about one pass.
"""

from __future__ import annotations

import time
from typing import Any

from multiverse_bench import _best_alternating  # the same alternation, best of each

PROMPT = "The best way to learn a language is"
H = 2.5  # on this prompt the embedded model is unsure after one token, and again below


def _grow(backend: Any, settings: Any, batched: bool) -> Any:
    from loomtui.core.tree import Session
    from loomtui.engine import Engine
    from loomtui.instruments.adaptive import loom

    backend.kv.clear()  # each run reads the prompt itself; children reuse within the run
    session = Session.new(PROMPT)
    return loom(Engine(session, backend), session.current_id, None, settings, batched=batched)


def _canon(result: Any) -> list[tuple[Any, ...]]:
    def path(g: Any) -> tuple[bytes, ...]:
        out = []
        while g is not None:
            out.append(g.data)
            g = g.parent
        return tuple(reversed(out))

    return sorted((path(g), g.reason) for g in result.nodes)


def adaptive_batched_speedup(
    backend: Any = None, repeats: int = 5, quick: bool = False
) -> dict[str, Any]:
    """The ratio, as ``{"value", "unit", "goal", "baseline", "detail"}``."""
    from loomtui.instruments.adaptive import AdaptiveSettings

    if backend is None:
        from loomtui.backends.local import LocalBackend
        from loomtui.config import cache_dir

        backend = LocalBackend.load("default", cache_dir=cache_dir())
    tokens = 4 if quick else 16
    repeats = 1 if quick else repeats
    settings = AdaptiveSettings(entropy=H, top_k=3, max_depth=2, max_tokens=tokens)
    batched = _grow(backend, settings, True)  # warm-up, and the trees to compare
    single = _grow(backend, settings, False)
    same = _canon(batched) == _canon(single)
    t_batched, t_single = _best_alternating(
        [lambda: _grow(backend, settings, True), lambda: _grow(backend, settings, False)],
        repeats,
    )

    def cost(k: int, d: int) -> dict[str, Any]:
        s = AdaptiveSettings(entropy=H, top_k=k, max_depth=d, max_tokens=tokens, max_nodes=200)
        start = time.perf_counter()
        r = _grow(backend, s, True)
        seconds = time.perf_counter() - start
        return {
            "K": k,
            "D": d,
            "nodes": len(r.kept()),
            "branch_points": len(r.branch_points()),
            "tokens": r.tokens,
            "forward_passes": r.model_calls,
            "seconds": round(seconds, 3),
            "ms_per_token": round(1000 * seconds / max(1, r.tokens), 2),
        }

    grid_k = (2, 3) if quick else (2, 3, 4)
    grid_d = (1, 2) if quick else (1, 2, 3)
    by_k = [cost(k, 2) for k in grid_k]
    by_d = [cost(3, d) for d in grid_d]
    return {
        "name": "adaptive_batched_speedup",
        "value": t_single / t_batched,
        "unit": "x",
        # K children per forward pass instead of one; on a small CPU a batch-3 pass of the
        # 135M model costs about 1.3x a batch-1 pass (matmul-bound), so the gain is modest.
        "goal": ">= 1.1",
        "baseline": t_single,
        "detail": {
            "settings": {"H": H, "K": 3, "D": 2, "T": tokens},
            "batched_s": t_batched,
            "one_at_a_time_s": t_single,
            "nodes": len(batched.kept()),
            "branch_points": len(batched.branch_points()),
            "tokens": batched.tokens,
            "model_calls": {
                "batched_forward_passes": batched.model_calls,
                "one_at_a_time_generations": single.model_calls,
            },
            "same_tree": same,
            "cost_by_K (D=2)": by_k,
            "cost_by_D (K=3)": by_d,
            # The same grid as columns of numbers, for tools reading --json.
            "growth_with_K": _columns(by_k),
            "growth_with_D": _columns(by_d),
        },
    }


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A grid's rows as columns, and how each cost grew from the first row to the last."""
    out: dict[str, Any] = {key: [r[key] for r in rows] for key in rows[0]}
    first, last = rows[0], rows[-1]
    for key in ("nodes", "tokens", "forward_passes", "seconds"):
        out[f"{key}_growth"] = round(last[key] / first[key], 3) if first[key] else None
    return out


#: The last grid measured on each backend (by id), for the growth measures below: the grid
#: is run once, by adaptive_batched_speedup, and read by them.
_LAST: dict[int, dict[str, Any]] = {}


def growth(backend: Any, quick: bool, axis: str) -> dict[str, Any]:
    """``adaptive_cost_growth_K``/``_D``: how the batched tree's seconds grew along one axis
    of the grid (last / first), with forward passes and nodes beside it."""
    result = _LAST.get(id(backend))
    if result is None:
        result = _LAST[id(backend)] = adaptive_batched_speedup(backend, quick=quick)
    cols = result["detail"][f"growth_with_{axis}"]
    other = "D=2" if axis == "K" else "K=3"
    span = f"{axis} {cols[axis][0]} to {cols[axis][-1]}, {other}"
    return {
        "value": cols["seconds_growth"],
        "unit": f"x (seconds, {span})",
        "goal": None,  # reported: the growth itself is the finding
        "baseline": cols["seconds"][0],
        "detail": cols,
    }


try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

if measure is not None:

    @measure("adaptive_batched_speedup")
    def _registered(ctx: Any) -> dict[str, Any]:
        result = adaptive_batched_speedup(ctx.local, quick=ctx.quick)
        _LAST[id(ctx.local)] = result
        return result

    @measure("adaptive_cost_growth_K")
    def _growth_k(ctx: Any) -> dict[str, Any]:
        return growth(ctx.local, ctx.quick, "K")

    @measure("adaptive_cost_growth_D")
    def _growth_d(ctx: Any) -> dict[str, Any]:
        return growth(ctx.local, ctx.quick, "D")


if __name__ == "__main__":
    import json

    print(json.dumps(adaptive_batched_speedup(), indent=1))
