"""The document view's speed on a synthetic 20,000-token branch (no model needed).

Both numbers come from the real app run headless with ``App.run_test`` on the branch that
:func:`synthetic_session` below builds (top-5 alternatives per token):

- ``ui_first_paint_20k_s``: seconds from creating the app on the branch to its first frame
  (Textual's start-up, wrapping the whole branch, rendering the visible lines). Goal <= 0.5.
  Baseline: the same app on an empty session, in the same run.
- ``ui_page_scroll_ms``: milliseconds for one page-down (moving the view and the cursor) plus
  rendering every visible line through ``TokenView.render_lines`` with its Strip cache as in
  real use (the new page's lines are not cached yet). Median of 20 page-downs. Goal <= 16
  (one frame at 60 Hz). Baseline: re-rendering the same page from the warm cache.

The first paint is taken as the best of ``RUNS`` app starts (the first start in a process also
pays one-off imports, which ``cold_start_ui_s`` measures); ``detail`` gives the CPU seconds
too, which a loaded machine inflates less than wall time.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from typing import Any

try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

TOKENS = 20_000
RUNS = 3

_WORDS = [
    "the",
    "a",
    "loom",
    "token",
    "branch",
    "of",
    "and",
    "to",
    "model",
    "weaves",
    "probability",
    "\n",
    "is",
    "in",
    "thread",
    "colour",
    "at",
    "every",
    "step",
    ".",
]


def synthetic_session(n_tokens: int = TOKENS, seed: int = 0) -> Any:
    """A prompt and one model node of ``n_tokens`` tokens with top-5 alternatives each
    (plain lists of :class:`Alt`, not packed)."""
    from loomtui.core.tokens import Alt, Token
    from loomtui.core.tree import Session

    rng = random.Random(seed)
    session = Session.new("A synthetic branch for timing the view.")
    tokens = []
    for i in range(n_tokens):
        word = rng.choice(_WORDS)
        text = word if word in ("\n", ".") else " " + word
        lp = math.log(rng.uniform(0.001, 1.0))
        top = [Alt(text, text.encode(), i % 1000, lp)] + [
            Alt(" " + w, (" " + w).encode(), j, lp - j - 1) for j, w in enumerate(_WORDS[:4])
        ]
        tokens.append(Token(text, text.encode(), i % 1000, lp, top, 2.0))
    node = session.add_child(session.current_id, tokens=tokens, origin="model", model="synthetic")
    session.current_id = node.id
    return session


async def _paint(session: Any, size: tuple[int, int]) -> tuple[float, float, Any, Any]:
    """(wall s, CPU s) from creating the app on ``session`` to its first frame; the app and
    pilot are returned still running (the caller's ``async with`` closes them)."""
    from loomtui.ui.app import make_app

    start, cpu = time.perf_counter(), time.process_time()
    app = make_app(session=session, new_session=False)
    ctx = app.run_test(size=size)
    pilot = await ctx.__aenter__()  # returns once the app is ready: its first frame is out
    await pilot.pause()
    return time.perf_counter() - start, time.process_time() - cpu, app, ctx


async def _view_run(
    tokens: int, size: tuple[int, int], pages: int, session: Any = None, step: int = 1
) -> dict[str, Any]:
    """First paint and page-downs on ``session`` (by default a ``tokens``-token branch);
    ``step`` -1 pages up from the end instead (where the app opens a branch)."""
    from textual.geometry import Region

    from loomtui.core.tree import Session

    if session is None:
        session = synthetic_session(tokens)
    wall0, cpu0, _, ctx = await _paint(Session.new(), size)
    await ctx.__aexit__(None, None, None)
    wall, cpu, app, ctx = await _paint(session, size)
    try:
        view = app.view
        if step > 0:
            view.move_cursor(0)
        await app.workers.wait_for_complete()
        region = view.scrollable_content_region
        crop = Region(0, 0, region.width, region.height)
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(pages):
            # The real path of a page-down: move view and cursor, render the visible lines
            # (new lines miss the Strip cache), then the same page again from the cache.
            t = time.perf_counter()
            view.action_page(step)
            lines = view.render_lines(crop)
            cold.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            view.render_lines(crop)
            warm.append((time.perf_counter() - t) * 1000)
            if len(lines) != region.height:
                raise RuntimeError(f"rendered {len(lines)} lines for a {region.height}-line view")
        line_count = view.layout_.line_count()
        extend_ms = None
        if getattr(view.layout_, "base", 0) > 0:  # a lazy layout: one chunk of earlier text
            t = time.perf_counter()
            view.layout_.ensure(view.layout_.base - 1)
            extend_ms = (time.perf_counter() - t) * 1000
    finally:
        await ctx.__aexit__(None, None, None)
    return {
        "first_paint_s": wall,
        "first_paint_cpu_s": cpu,
        "empty_first_paint_s": wall0,
        "empty_first_paint_cpu_s": cpu0,
        "page_render_ms": statistics.median(cold),
        "page_render_max_ms": max(cold),
        "page_render_warm_ms": statistics.median(warm),
        "lines": line_count,
        "extend_ms": extend_ms,
    }


def ui_measures(
    tokens: int = TOKENS, runs: int = RUNS, size: tuple[int, int] = (80, 24), pages: int = 20
) -> dict[str, dict[str, Any]]:
    """First paint and page-down render time of the app on a ``tokens``-token branch."""
    views = [asyncio.run(_view_run(tokens, size, pages)) for _ in range(runs)]
    best = min(views, key=lambda v: v["first_paint_s"])
    scroll = sorted(views, key=lambda v: v["page_render_ms"])[len(views) // 2]
    detail = {
        "tokens": tokens,
        "lines": best["lines"],
        "terminal": f"{size[0]}x{size[1]}",
        "first_paint_runs_s": [round(v["first_paint_s"], 3) for v in views],
        "first_paint_cpu_runs_s": [round(v["first_paint_cpu_s"], 3) for v in views],
        "empty_first_paint_runs_s": [round(v["empty_first_paint_s"], 3) for v in views],
        "empty_first_paint_cpu_runs_s": [round(v["empty_first_paint_cpu_s"], 3) for v in views],
        "page_render_runs_ms": [round(v["page_render_ms"], 2) for v in views],
        "page_render_max_ms": round(scroll["page_render_max_ms"], 2),
    }
    return {
        "ui_first_paint_20k_s": {
            "value": round(best["first_paint_s"], 3),
            "unit": "s",
            "goal": "<= 0.5",
            "baseline": round(min(v["empty_first_paint_s"] for v in views), 3),
            "detail": detail,
        },
        "ui_page_scroll_ms": {
            "value": round(scroll["page_render_ms"], 2),
            "unit": "ms",
            "goal": "<= 16",
            "baseline": round(scroll["page_render_warm_ms"], 3),
            "detail": detail,
        },
    }


def _once(ctx: Any) -> dict[str, dict[str, Any]]:
    # Two names, one measurement, kept on the run's context (a second run measures afresh).
    results = getattr(ctx, "_ui_results", None)
    if results is None:
        results = ui_measures(getattr(ctx, "ui_tokens", TOKENS), getattr(ctx, "ui_runs", RUNS))
        ctx._ui_results = results
    return results


if measure is not None:

    @measure("ui_first_paint_20k_s")
    def _first_paint(ctx: Any) -> dict[str, Any]:
        return dict(_once(ctx)["ui_first_paint_20k_s"])

    @measure("ui_page_scroll_ms")
    def _page_scroll(ctx: Any) -> dict[str, Any]:
        return dict(_once(ctx)["ui_page_scroll_ms"])


if __name__ == "__main__":
    print(json.dumps(ui_measures(), indent=1))
