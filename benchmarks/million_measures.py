"""A million tokens with 20 alternatives each: the session file, a change to it, and the app
(issue 19).

- ``session_save_1m_s``: :func:`save_session` of a synthetic session of 1,000,000 tokens
  (``file_measures.synthetic_session``: 1,000 generations of 1,000 tokens in a branching
  tree, top-20 lists packed as the local backend hands them over), atomic write and fsync
  included, median of ``REPEATS``. Goal <= 5. Baseline: writing the same bytes raw (write +
  fsync). The session is built, then collected once, before the saves: a session the app
  grew token by token is old to the GC, not 3M objects born a moment ago.
- ``session_load_1m_s``: :func:`load_session` of that file in a fresh process (what opening
  it costs), best of two processes. Goal <= 5. Baseline: a fresh process reading the same
  bytes and ``json.loads``-ing them.
- ``session_rss_1m_mb``: that process's resident memory once it holds the loaded session
  (``VmRSS`` from /proc/self/status). Goal < 1500. ``detail``: its peak (``VmHWM``), its
  memory before the load, once the app's document model has laid out the current branch, and
  the peak of the bare read + ``json.loads`` process (baseline).
- ``session_change_1m_ms``: one :meth:`Engine.set_label` on that session opened as the app
  holds it (``SessionStore.open`` + ``Engine.over``: journal, autosave, undo history), the
  autosave included; median of several. Goal <= 50 (no frozen keys). Baseline: one full save
  of the same session (what an autosave writing the whole file would block the keys for).
- ``ui_first_paint_1m_s`` / ``ui_page_scroll_1m_ms``: ``ui_measures``' first paint and
  page render on a million-token session whose current branch holds all of them (100
  generations of 10,000 tokens, each continuing the last), paging up from the end where the app opens it (the 20k
  baseline pages the same way). ``detail.earlier_chunk_ms``: laying out one more chunk of
  earlier text (what paging past the laid-out part costs once per ~30,000 tokens). Goals: the 20,000-token ones (<= 0.5 s, <= 16 ms); baseline:
  the same measure on the 20,000-token branch, in the same run.

- ``session_compact_key_ms``: the worst wait of a key while the compacting full save runs
  (issue 19: autosave never blocks typing), in the app (Pilot, 80x24) holding the million-token
  session through its store: a key (``b``, a bookmark toggled: a change, journaled) is sent to
  the app's driver as a terminal would, every ``KEY_PERIOD_S`` (or when the one before was
  handled, if later) from the moment the save starts until it has ended; each one's wait is
  from when it was sent until the app's action for it has run. Goal <= 100. While keys come
  the save's thread sleeps most of the time (``compaction.Pacer``), so it takes longer:
  ``detail.save_on_thread_s`` and ``save_slept_for_keys_s``.
  Baseline: the same keys while the save runs on the app's thread (``store.save()``: what the
  app did before the save moved to a thread of its own). ``detail``: both runs' waits, the
  saves' durations, the load average.

``--quick`` runs all of it on 20,000 tokens (the numbers then mean nothing).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from file_measures import _raw_write, synthetic_session

try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

KEY_PERIOD_S = 0.05
IDLE_KEYS_S = 2.0
TOKENS = 1_000_000
QUICK_TOKENS = 20_000
REPEATS = 3
CHANGES = 9
REPO = Path(__file__).resolve().parents[1]

#: Run in a fresh process: load (or only read + json.loads) the file, report times and memory.
_PROBE = r"""
import json, sys, time
def memory():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out
mode, path = sys.argv[1], sys.argv[2]
import numpy
from loomtui.core.sessionfile import load_session
before = memory()
wall, cpu = time.perf_counter(), time.process_time()
if mode == "load":
    held = load_session(path)
    tokens = sum(len(n.tokens) for n in held.walk() if n.tokens)
else:
    with open(path, "rb") as fh:
        held = json.loads(fh.read())
    tokens = None
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
after = memory()
laid = None
if mode == "load":  # and the document the app lays out for its current branch
    from loomtui.ui.document import DocLayout
    doc = DocLayout(78)
    doc.load(held, held.current_id)
    laid = memory()
print(json.dumps({"wall": wall, "cpu": cpu, "before": before, "after": after, "tokens": tokens,
                  "laid": laid}))
"""


def _probe(mode: str, path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "LOOMTUI_MAX_SESSION_MB"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} process failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def _change(path: Path) -> dict[str, Any]:
    """set_label + autosave on the session opened as the app holds it; a full save."""
    from loomtui.core.store import SessionStore
    from loomtui.engine import Engine

    store = SessionStore.open(path)
    try:
        engine = Engine.over(store, None)
        session = store.session
        node = session.current_id
        before = path.stat().st_mtime_ns
        times = []
        for i in range(CHANGES):
            start = time.perf_counter()
            engine.set_label(node, f"label {i}")
            times.append((time.perf_counter() - start) * 1000)
        rewritten = path.stat().st_mtime_ns != before
        start = time.perf_counter()
        store.save()
        full = time.perf_counter() - start
    finally:
        store.close()
    return {"ms": times, "full_save_s": full, "file_rewritten_by_autosave": rewritten}


def file_measures_1m(tokens: int, repeats: int) -> dict[str, dict[str, Any]]:
    from loomtui.core.sessionfile import save_session

    t0 = time.perf_counter()
    session = synthetic_session(tokens)
    gc.collect()  # the app's session is old to the GC (see the module docstring)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-1m-") as tmp:
        path = Path(tmp) / "million.json"
        saves, save_cpu = [], []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            save_session(session, path)
            saves.append(time.perf_counter() - start)
            save_cpu.append(time.process_time() - cpu)
        del session
        gc.collect()
        data = path.read_bytes()
        size = len(data)
        raw_w = _raw_write(data, Path(tmp) / "raw.json")
        del data
        loads = [_probe("load", path) for _ in range(2)]
        raw = _probe("json", path)
        if loads[0]["tokens"] != tokens:
            raise RuntimeError(f"the load holds {loads[0]['tokens']} tokens, not {tokens}")
        change = _change(path)
    load = min(loads, key=lambda r: r["wall"])
    save_s = statistics.median(saves)
    detail = {
        "tokens": tokens,
        "alternatives_per_token": 20,
        "file_mb": round(size / 1e6, 1),
        "build_session_s": round(build_s, 2),
        "saves_s": [round(x, 3) for x in saves],
        "save_cpu_s": [round(x, 3) for x in save_cpu],
        "loads_s": [round(r["wall"], 3) for r in loads],
        "load_cpu_s": [round(r["cpu"], 3) for r in loads],
        "raw_read_json_loads_s": round(raw["wall"], 3),
        "raw_write_fsync_s": round(raw_w, 3),
        "rss_before_load_mb": round(load["before"]["VmRSS"], 1),
        "rss_holding_mb": round(load["after"]["VmRSS"], 1),
        "peak_during_load_mb": round(load["after"]["VmHWM"], 1),
        "rss_with_branch_laid_out_mb": round(load["laid"]["VmRSS"], 1),
        "json_loads_peak_mb": round(raw["after"]["VmHWM"], 1),
        "json_loads_holding_mb": round(raw["after"]["VmRSS"], 1),
        "change_runs_ms": [round(x, 2) for x in change["ms"]],
        "file_rewritten_by_autosave": change["file_rewritten_by_autosave"],
        "full_save_of_opened_session_s": round(change["full_save_s"], 3),
    }
    return {
        "session_save_1m_s": {
            "value": round(save_s, 3),
            "unit": "s",
            "goal": "<= 5",
            "baseline": round(raw_w, 3),
            "detail": detail,
        },
        "session_load_1m_s": {
            "value": round(load["wall"], 3),
            "unit": "s",
            "goal": "<= 5",
            "baseline": round(raw["wall"], 3),
            "detail": detail,
        },
        "session_rss_1m_mb": {
            "value": round(load["after"]["VmRSS"], 1),
            "unit": "MB",
            "goal": "< 1500",
            "baseline": round(raw["after"]["VmHWM"], 1),
            "detail": detail,
        },
        "session_change_1m_ms": {
            "value": round(statistics.median(change["ms"]), 2),
            "unit": "ms",
            "goal": "<= 50",
            "baseline": round(change["full_save_s"], 3),
            "detail": detail,
        },
    }


async def _keys_while(app: Any, start: Any, running: Any) -> list[float]:
    """Send ``b`` (toggle a bookmark: a change, journaled) to the app's driver, as a terminal
    would, every KEY_PERIOD_S (or as soon as the last one was handled, if that is later) from
    ``start()`` until ``running()`` is false; the wait of each (ms), from when it was sent until
    the app's action for it has run. (Pilot's ``press`` waits for the whole process to be idle,
    which it never is while the save's thread works.)"""
    from textual import events

    handled: list[float] = []
    action = app.action_bookmark

    def timed() -> None:
        action()
        handled.append(time.perf_counter())

    app.action_bookmark = timed
    waits: list[float] = []
    t0 = time.perf_counter()
    start()
    try:
        while running() or len(waits) < 3:
            due = t0 + len(waits) * KEY_PERIOD_S
            now = time.perf_counter()
            if now < due:
                await asyncio.sleep(due - now)
            sent = time.perf_counter()
            app._driver.send_message(events.Key("b", "b"))
            deadline = sent + 60
            while len(handled) <= len(waits):
                if time.perf_counter() > deadline:
                    raise RuntimeError("a key was never handled")
                await asyncio.sleep(0.001)
            waits.append((handled[-1] - sent) * 1000)
    finally:
        app.action_bookmark = action
    return waits


async def _save_rounds(app: Any, pilot: Any, store: Any, out: dict[str, Any]) -> None:
    """One round: the full save on the app's thread (before), then on its own (now)."""
    done: dict[str, float | None] = {"s": None}

    def blocking() -> None:  # a message on the app's loop, as the idle timer ran it
        t = time.perf_counter()
        store.save()
        done["s"] = time.perf_counter() - t

    waits = await _keys_while(app, lambda: app.call_later(blocking), lambda: done["s"] is None)
    out["app_thread"].append(waits)
    out["app_thread_s"].append(done["s"])
    await pilot.pause(0.5)
    store.compaction_due = True  # what the app's idle timer finds after a big journal
    t = time.perf_counter()

    def start_thread() -> None:
        if not store.compact_if_due():
            raise RuntimeError("the background save did not start")

    waits = await _keys_while(app, start_thread, lambda: store.compacting)
    out["thread_s"].append(time.perf_counter() - t)
    out["thread"].append(waits)
    out["slept"].append(store._compaction.pacer.slept)
    if store.problem is not None:
        raise RuntimeError(store.problem)
    await pilot.pause(0.5)


async def _compact_keys(path: Path, rounds: int) -> dict[str, Any]:
    from loomtui.core.store import SessionStore
    from loomtui.ui.app import make_app

    store = SessionStore.open(path)
    store.full_save_budget_s = 0.0  # what a million tokens are anyway: changes are journaled
    out: dict[str, Any] = {
        "thread": [],
        "app_thread": [],
        "thread_s": [],
        "app_thread_s": [],
        "slept": [],
    }
    try:
        app = make_app(store=store, backend=None, new_session=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            # The same keys with nothing else running: what the app itself takes per key.
            until = time.perf_counter() + IDLE_KEYS_S
            out["idle"] = await _keys_while(app, lambda: None, lambda: time.perf_counter() < until)
            for _ in range(rounds):
                await _save_rounds(app, pilot, store, out)
    finally:
        store.close()
    return out


def compact_key_1m(tokens: int, rounds: int) -> dict[str, dict[str, Any]]:
    """``session_compact_key_ms`` (see the module docstring)."""
    from loomtui.core.sessionfile import save_session

    session = synthetic_session(tokens)
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-compact-") as tmp:
        path = Path(tmp) / "million.json"
        save_session(session, path)
        del session
        gc.collect()
        load_before = os.getloadavg()
        runs = asyncio.run(_compact_keys(path, rounds))
        load_after = os.getloadavg()
    worst = max(max(w) for w in runs["thread"])
    worst_before = max(max(w) for w in runs["app_thread"])
    detail = {
        "tokens": tokens,
        "key_period_s": KEY_PERIOD_S,
        "switch_interval_s": sys.getswitchinterval(),
        "worst_per_run_ms": [round(max(w), 1) for w in runs["thread"]],
        "median_ms": round(statistics.median(x for w in runs["thread"] for x in w), 1),
        "keys": [len(w) for w in runs["thread"]],
        "save_on_thread_s": [round(x, 3) for x in runs["thread_s"]],
        "save_slept_for_keys_s": [round(x, 2) for x in runs["slept"]],
        "baseline_worst_per_run_ms": [round(max(w), 1) for w in runs["app_thread"]],
        "baseline_keys": [len(w) for w in runs["app_thread"]],
        "save_on_app_thread_s": [round(x, 3) for x in runs["app_thread_s"]],
        "idle_worst_ms": round(max(runs["idle"]), 1),
        "idle_median_ms": round(statistics.median(runs["idle"]), 1),
        "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    return {
        "session_compact_key_ms": {
            "value": round(worst, 1),
            "unit": "ms",
            "goal": "<= 100",
            "baseline": round(worst_before, 1),
            "detail": detail,
        }
    }


def ui_measures_1m(tokens: int, runs: int) -> dict[str, dict[str, Any]]:
    import ui_measures

    small = [
        asyncio.run(ui_measures._view_run(ui_measures.TOKENS, (80, 24), 20, step=-1))
        for _ in range(runs)
    ]
    session = synthetic_session(tokens, node_tokens=10_000, chain=True)
    gc.collect()
    big = [
        asyncio.run(ui_measures._view_run(tokens, (80, 24), 20, session=session, step=-1))
        for _ in range(runs)
    ]
    best_small = min(small, key=lambda v: v["first_paint_s"])
    best = min(big, key=lambda v: v["first_paint_s"])
    scroll_small = sorted(small, key=lambda v: v["page_render_ms"])[len(small) // 2]
    scroll = sorted(big, key=lambda v: v["page_render_ms"])[len(big) // 2]
    detail = {
        "tokens": tokens,
        "branch_tokens": tokens,
        "terminal": "80x24",
        "first_paint_runs_s": [round(v["first_paint_s"], 3) for v in big],
        "first_paint_cpu_runs_s": [round(v["first_paint_cpu_s"], 3) for v in big],
        "first_paint_20k_runs_s": [round(v["first_paint_s"], 3) for v in small],
        "page_render_runs_ms": [round(v["page_render_ms"], 2) for v in big],
        "page_render_max_ms": round(scroll["page_render_max_ms"], 2),
        "page_render_20k_runs_ms": [round(v["page_render_ms"], 2) for v in small],
        "lines_laid_out": best["lines"],
        "earlier_chunk_ms": [
            None if v["extend_ms"] is None else round(v["extend_ms"], 1) for v in big
        ],
    }
    return {
        "ui_first_paint_1m_s": {
            "value": round(best["first_paint_s"], 3),
            "unit": "s",
            "goal": "<= 0.5",
            "baseline": round(best_small["first_paint_s"], 3),
            "detail": detail,
        },
        "ui_page_scroll_1m_ms": {
            "value": round(scroll["page_render_ms"], 2),
            "unit": "ms",
            "goal": "<= 16",
            "baseline": round(scroll_small["page_render_ms"], 2),
            "detail": detail,
        },
    }


def _file_once(ctx: Any) -> dict[str, dict[str, Any]]:
    results = getattr(ctx, "_million_file", None)
    if results is None:
        quick = getattr(ctx, "quick", False)
        results = file_measures_1m(QUICK_TOKENS if quick else TOKENS, 1 if quick else REPEATS)
        ctx._million_file = results
    return results


def _ui_once(ctx: Any) -> dict[str, dict[str, Any]]:
    results = getattr(ctx, "_million_ui", None)
    if results is None:
        quick = getattr(ctx, "quick", False)
        results = ui_measures_1m(QUICK_TOKENS if quick else TOKENS, 1 if quick else 3)
        ctx._million_ui = results
    return results


if measure is not None:
    for _name in ("session_save_1m_s", "session_load_1m_s", "session_rss_1m_mb"):
        measure(_name)(lambda ctx, _n=_name: dict(_file_once(ctx)[_n]))
    measure("session_change_1m_ms")(lambda ctx: dict(_file_once(ctx)["session_change_1m_ms"]))
    for _name in ("ui_first_paint_1m_s", "ui_page_scroll_1m_ms"):
        measure(_name)(lambda ctx, _n=_name: dict(_ui_once(ctx)[_n]))
    measure("session_compact_key_ms")(
        lambda ctx: compact_key_1m(
            QUICK_TOKENS if getattr(ctx, "quick", False) else TOKENS,
            1 if getattr(ctx, "quick", False) else 2,
        )["session_compact_key_ms"]
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    quick = "--quick" in sys.argv
    n = QUICK_TOKENS if quick else TOKENS
    out = file_measures_1m(n, 1 if quick else REPEATS)
    if "--ui" in sys.argv:
        out.update(ui_measures_1m(n, 1 if quick else 3))
    if "--compact" in sys.argv:
        out = compact_key_1m(n, 1 if quick else 2)
    print(json.dumps(out, indent=1))
