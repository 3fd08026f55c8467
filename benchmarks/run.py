"""The performance suite: named measures, each a ratio (or a number) measured in one run.

Usage: ``python benchmarks/run.py [--json] [--only NAME ...] [--list] [--device DEV]``.

``--device cuda`` (or ``cuda:1``, ``mps``) runs every measure that loads a model on that device,
in the device's default dtype (bf16 on CUDA) unless ``--dtype`` says otherwise; CPU is the
default. The measures without a model (files, UI, start-up) do not change.

A measure is a function ``(ctx: BenchContext) -> dict`` registered with :func:`measure`; it
returns ``{"value", "unit", "goal", "baseline"}`` (plus an optional ``"detail"`` dict of the raw
timings). ``goal`` is a string such as ``">= 0.95"``; ``baseline`` is the number the value was
measured against, in the same run. The suite's output (``--json``) turns ``baseline`` into a
sentence saying what the baseline is and its value (the number stays in ``baseline_value``),
and ``goal`` is always a string (``"none (reported)"`` where there is none), so every entry is
``{"value": number, "unit": str, "goal": str, "baseline": str, ...}``. Measure modules are
listed in ``MODULES`` and imported on start; add yours there. Real measurements only: no
sleeps, no cached answers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import operator
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# tests/loomtests: the llama.cpp server launcher shared with the tests
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))
# the checkout's loomtui, measured where it lies (installed or not)
sys.path.insert(2, str(Path(__file__).resolve().parents[1]))

#: Modules (in benchmarks/) whose import registers measures.
MODULES = [
    "local_measures",
    "multiverse_bench",
    "ui_measures",
    "file_measures",
    "startup_measures",
    "api_measures",
    "sampling_measures",
    "adaptive_measures",
    "scale_measures",
    "search_measures",
    "million_measures",
    "llamacpp_measures",
    "undo_measures",
]

Measure = Callable[["BenchContext"], dict[str, Any]]
REGISTRY: dict[str, Measure] = {}


def measure(name: str) -> Callable[[Measure], Measure]:
    """Register a measure under ``name``."""

    def wrap(fn: Measure) -> Measure:
        REGISTRY[name] = fn
        return fn

    return wrap


class BenchContext:
    """Shared, lazily built things the measures need (the embedded model, loaded once)."""

    def __init__(self, quick: bool = False, device: str = "cpu", dtype: str | None = None) -> None:
        self._local = None
        self.quick = quick
        #: Where the measures' model runs (``--device``), and its dtype (None: the device's).
        self.device, self.dtype = device, dtype
        if quick:  # smoke mode: tiny inputs, one repeat (the numbers mean nothing)
            self.file_tokens, self.repeats = 2_000, 1
            self.ui_tokens, self.ui_runs = 2_000, 1
            self.cold_runs, self.api_repeats = 1, 1

    @property
    def local(self):
        if self._local is None:
            from loomtui.backends.local import LocalBackend
            from loomtui.config import cache_dir

            self._local = LocalBackend.load(
                "default", device=self.device, dtype=self.dtype, cache_dir=cache_dir()
            )
        return self._local


_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}

NO_GOAL = "none (reported)"

#: What each measure's baseline is: ``{b}`` is its number, ``{d[...]}`` a detail field.
BASELINES = {
    "topk_overhead": "a bare greedy KV-cache loop on the same model, steps in lockstep: "
    "{b:.2f} tok/s",
    "cursor_regen_speedup": "re-reading the 900-token context (no stored prefix): "
    "{b:.3f} s to the first new token",
    "cursor_regen_first_token_steps": "one decode step of the same regeneration, at "
    "{d[context_tokens]} tokens of context: {b:.4f} s",
    "n8_cost": "n=1, 32 tokens: {b:.3f} s wall",
    "multiverse_batched_speedup": "one next_distribution call per node (21 forward passes): "
    "{b:.3f} s",
    "ui_first_paint_20k_s": "the first paint of an empty session: {b:.3f} s",
    "ui_page_scroll_ms": "re-rendering a page already rendered (cached lines): {b:.3f} ms",
    "session_save_100k_s": "writing the same bytes raw (write + fsync): {b:.4f} s",
    "session_load_100k_s": "reading the same bytes raw + json.loads: {b:.4f} s",
    "session_bytes_per_token": "the file's size over its tokens ({d[file_mb]} MB, "
    "{d[alternatives_per_token]} alternatives per token)",
    "cold_start_ui_s": "the same launch replaying a session with no model: {b:.3f} s",
    "api_n4_speedup": "4 sequential one-choice requests to the same server: {b:.3f} s",
    "adaptive_batched_speedup": "the same tree grown one branch at a time (a greedy "
    "generation per node, its prefix from the KV store): {b:.3f} s",
    "adaptive_cost_growth_K": "the batched tree at K {d[K][0]}, D=2 ({d[nodes][0]} nodes, "
    "{d[forward_passes][0]} forward passes): {b:.3f} s",
    "adaptive_cost_growth_D": "the batched tree at D {d[D][0]}, K=3 ({d[nodes][0]} nodes, "
    "{d[forward_passes][0]} forward passes): {b:.3f} s",
    "tree_50k_export_ratio": "json.load of the same {d[nodes]}-node loom file + joining its "
    "leaves' texts in plain Python: {b:.3f} s",
    "tree_50k_action_ms": "moving the tree panel's cursor one line ({d[nodes]} nodes): {b:.2f} ms",
    "ui_open_50k_s": "json.load of the same {d[nodes]}-node loom file: {b:.3f} s",
    "session_save_1m_s": "writing the same bytes raw (write + fsync): {b:.3f} s",
    "session_load_1m_s": "a fresh process reading the same bytes + json.loads: {b:.3f} s",
    "session_rss_1m_mb": "the peak of a fresh process reading the same bytes + json.loads: "
    "{b:.0f} MB",
    "session_change_1m_ms": "one full save of the same session (what an autosave writing the "
    "whole file would block for): {b:.3f} s",
    "session_compact_key_ms": "the same keys while the same save runs on the app's thread "
    "(as before): the worst waited {b:.0f} ms",
    "ui_first_paint_1m_s": "the first paint of the 20,000-token branch: {b:.3f} s",
    "ui_page_scroll_1m_ms": "a page-down on the 20,000-token branch: {b:.2f} ms",
    "probe_100_batch_ratio": "one bare forward pass: the prompt once, then the "
    "{d[answers]} answers right-padded as one batch on its KV cache: {b:.3f} s",
    "search_50k_ratio": "walking the {d[nodes]}-node tree, joining its texts and one regex "
    "pass over them: {b:.4f} s",
    "undo_1m_ratio": "making the same changes (undo capture and autosave included): "
    "{b:.2f} ms",
    "llamacpp_decode_ratio": "llama-cpp-python's plain greedy create_completion on the same "
    "GGUF, same process, no logprobs: {b:.1f} tok/s",
    "sampled_logprob_overhead": "the same sampled decode (T 0.7, top-p 0.9) drawing without "
    "the sampled logprob, steps in lockstep: {b:.2f} tok/s",
}


def describe_baseline(name: str, result: dict[str, Any]) -> str:
    """The baseline as a sentence with its value (or why there is none)."""
    number = result.get("baseline")
    template = BASELINES.get(name)
    if template is not None and "error" not in result:
        try:  # fails where the number or a detail field is missing (a skipped measure)
            return template.format(b=number, d=result.get("detail") or {})
        except (KeyError, IndexError, ValueError, TypeError):
            pass
    if isinstance(number, (int, float)):
        return f"{number:.4g}"
    if "error" in result:
        return "none (the measure failed)"
    return "none (" + str((result.get("detail") or {}).get("why", "not measured")) + ")"


def goal_met(result: dict[str, Any]) -> bool | None:
    """Whether ``value`` meets ``goal`` (None when there is no goal)."""
    goal = result.get("goal")
    value = result.get("value")
    if not goal or not isinstance(value, (int, float)):
        return None  # no goal, an error, or "skipped"
    op, _, target = str(goal).partition(" ")
    if op not in _OPS:
        return None  # NO_GOAL
    # The goal may carry words after its number (">= 0.9 (serialising server); ...").
    return _OPS[op](value, float(target.split()[0]))


def run_all(
    names: list[str] | None = None,
    quick: bool = False,
    device: str = "cpu",
    dtype: str | None = None,
) -> dict[str, dict[str, Any]]:
    for module in MODULES:
        importlib.import_module(module)
    ctx = BenchContext(quick, device, dtype)
    results: dict[str, dict[str, Any]] = {}
    for name, fn in REGISTRY.items():
        if names and name not in names:
            continue
        start = time.perf_counter()
        try:
            result = fn(ctx)
        except Exception as exc:  # one broken measure must not hide the others
            result = {
                "value": None,
                "unit": "",
                "goal": None,
                "baseline": None,
                "error": f"{type(exc).__name__}: {exc}",
            }
        result["met"] = goal_met(result)
        number = result.get("baseline")
        result["baseline_value"] = number if isinstance(number, (int, float)) else None
        result["baseline"] = describe_baseline(name, result)
        if not isinstance(result.get("goal"), str) or not result["goal"]:
            result["goal"] = NO_GOAL
        result["seconds"] = round(time.perf_counter() - start, 2)
        results[name] = result
    return results


def print_table(results: dict[str, dict[str, Any]]) -> None:
    rows = [("measure", "value", "unit", "goal", "baseline", "met")]
    for name, r in results.items():
        value = r.get("value")
        rows.append(
            (
                name,
                "error"
                if "error" in r
                else f"{value:.3f}"
                if isinstance(value, float)
                else str(value),
                str(r.get("unit", "")),
                str(r.get("goal") or ""),
                _fmt(r.get("baseline_value")),
                {True: "yes", False: "NO", None: "-"}[r.get("met")],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for name, r in results.items():
        if "error" in r:
            print(f"{name}: {r['error']}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print {name: result} as JSON")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these measures")
    parser.add_argument("--list", action="store_true", help="list the measures")
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: tiny inputs, one repeat (CI)"
    )
    parser.add_argument(
        "--device", default="cpu", help="where the model measures run: cpu (default), cuda, mps"
    )
    parser.add_argument(
        "--dtype", default=None, help="the model's dtype (default: bf16 on CUDA, fp32 elsewhere)"
    )
    args = parser.parse_args(argv)
    if args.device != "cpu":
        # A device that is not there is one line and exit 2, before any measure runs.
        from loomtui.backends.base import BackendError
        from loomtui.backends.model_spec import choose_device, choose_dtype

        try:
            choose_dtype(args.dtype, choose_device(args.device))
        except BackendError as exc:
            print(f"benchmarks/run.py: {exc}", file=sys.stderr)
            return 2
    if args.list:
        for module in MODULES:
            importlib.import_module(module)
        print("\n".join(REGISTRY))
        return 0
    results = run_all(args.only, args.quick, args.device, args.dtype)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    # Measures register on the module named "run" (``from run import measure``): make this
    # script that module rather than a second copy named "__main__".
    sys.modules.setdefault("run", sys.modules[__name__])
    sys.exit(main())
