"""The performance suite: named measures, each a ratio (or a number) measured in one run.

Usage: ``python benchmarks/run.py [--json] [--only NAME ...] [--list]``.

A measure is a function ``(ctx: BenchContext) -> dict`` registered with :func:`measure`; it
returns ``{"value", "unit", "goal", "baseline"}`` (plus an optional ``"detail"`` dict of the raw
timings). ``goal`` is a string such as ``">= 0.95"``; ``baseline`` is the number the value was
measured against, in the same run. Measure modules are listed in ``MODULES`` and imported on
start; add yours there. Real measurements only: no sleeps, no cached answers.
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

#: Modules (in benchmarks/) whose import registers measures.
MODULES = [
    "local_measures",
    "multiverse_bench",
    "ui_measures",
    "file_measures",
    "startup_measures",
    "api_measures",
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

    def __init__(self, quick: bool = False) -> None:
        self._local = None
        self.quick = quick
        if quick:  # smoke mode: tiny inputs, one repeat (the numbers mean nothing)
            self.file_tokens, self.repeats = 2_000, 1
            self.ui_tokens, self.ui_runs = 2_000, 1
            self.cold_runs, self.api_repeats = 1, 1

    @property
    def local(self):
        if self._local is None:
            from loomtui.backends.local import LocalBackend

            self._local = LocalBackend.load("default")
        return self._local


_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def goal_met(result: dict[str, Any]) -> bool | None:
    """Whether ``value`` meets ``goal`` (None when there is no goal)."""
    goal = result.get("goal")
    value = result.get("value")
    if not goal or not isinstance(value, (int, float)):
        return None  # no goal, an error, or "skipped"
    op, _, target = str(goal).partition(" ")
    # The goal may carry words after its number (">= 0.9 (serialising server); ...").
    return _OPS[op](value, float(target.split()[0]))


def run_all(names: list[str] | None = None, quick: bool = False) -> dict[str, dict[str, Any]]:
    for module in MODULES:
        importlib.import_module(module)
    ctx = BenchContext(quick)
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
                _fmt(r.get("baseline")),
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
    args = parser.parse_args(argv)
    if args.list:
        for module in MODULES:
            importlib.import_module(module)
        print("\n".join(REGISTRY))
        return 0
    results = run_all(args.only, args.quick)
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
