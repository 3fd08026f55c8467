"""Helpers the benchmarks call to time the document view (no assertions here).

``asyncio.run(measure_view(20_000))`` mounts the app on a synthetic 20,000-token branch with
``App.run_test`` and returns seconds and milliseconds:

- ``first_paint_s``: from creating the app to the first frame on screen (includes Textual's
  start-up, the layout of the branch and rendering the visible lines);
- ``empty_first_paint_s``: the same for an empty session, and ``branch_open_s`` the
  difference: what opening the 20,000-token branch itself costs;
- ``layout_s``: laying out (wrapping) the whole branch alone;
- ``page_render_ms``: one page down: moving the view and rendering every visible line from
  a cold cache (median of ``pages`` page-downs);
- ``page_render_warm_ms``: re-rendering the same page from the Strip cache.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from typing import Any

from textual.geometry import Region

from ..core.tokens import Alt, Token
from ..core.tree import Session

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


def synthetic_session(n_tokens: int = 20_000, seed: int = 0) -> Session:
    """A prompt and one model node of ``n_tokens`` tokens with top-5 alternatives each."""
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


async def measure_view(
    n_tokens: int = 20_000, size: tuple[int, int] = (80, 24), pages: int = 20
) -> dict[str, Any]:
    """Time first paint and page-down rendering of the app on a synthetic branch."""
    from ..ui.app import make_app
    from .layout import DocLayout

    session = synthetic_session(n_tokens)
    layout = DocLayout(size[0] - 32)
    t0 = time.perf_counter()
    layout.load(session, session.current_id)
    layout_s = time.perf_counter() - t0

    # The same app on an empty session: first_paint_s minus this is what the branch costs.
    # Run it twice and keep the second, so one-off warm-up (imports, CSS parsing) is not
    # counted against either.
    for _ in range(2):
        start = time.perf_counter()
        empty = make_app(session=Session.new(), new_session=False)
        async with empty.run_test(size=size) as pilot:
            await pilot.pause()
            empty_paint_s = time.perf_counter() - start

    start = time.perf_counter()
    app = make_app(session=session, new_session=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        first_paint_s = time.perf_counter() - start
        view = app.view
        view.move_cursor(0)
        await pilot.pause()
        region = view.scrollable_content_region
        height = region.height
        crop = Region(0, 0, region.width, height)
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(pages):
            t = time.perf_counter()
            view.action_page(1)
            view.render_lines(crop)
            cold.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            view.render_lines(crop)
            warm.append((time.perf_counter() - t) * 1000)
        await pilot.pause()
        lines = view.layout_.line_count()
    return {
        "tokens": n_tokens,
        "lines": lines,
        "first_paint_s": first_paint_s,
        "empty_first_paint_s": empty_paint_s,
        "branch_open_s": first_paint_s - empty_paint_s,
        "layout_s": layout_s,
        "page_render_ms": statistics.median(cold),
        "page_render_max_ms": max(cold),
        "page_render_warm_ms": statistics.median(warm),
    }


if __name__ == "__main__":  # python -m loomtui.ui.bench
    import asyncio

    for key, value in asyncio.run(measure_view()).items():
        print(f"{key:22} {value:.4f}" if isinstance(value, float) else f"{key:22} {value}")
