"""Scale: a 50,000-node loom tree, and a probe of 100 answers (issue 19).

- ``tree_50k_export_ratio``: ``loomtui export --all`` in-process (:func:`load_session` of a
  synthetic 50,000-node socketteer/loom file + :func:`export` of every leaf's text) / the
  floor any reader pays: ``json.load`` of the same file + joining its leaves' texts in plain
  Python (a walk carrying each branch's text down). Goal <= 3. Best of a few alternated runs.
- ``tree_50k_action_ms``: the app run headless on that tree; the slowest of the tree
  panel's actions (move the cursor, expand/collapse a node, go to the next sibling, go to the
  parent), each timed from the key's action to the tree panel's visible lines rendered
  (median of several). Goal <= 50. Baseline: the cursor move alone.
- ``ui_open_50k_s``: opening that file in the app: :func:`load_session` + the app's start to
  its first frame (the tree panel builds the current branch's lines, not 50,000). Goal <= 1.5.
  Baseline: ``json.load`` of the same file (best of 3); ``detail`` gives the ratio to it.
- ``probe_100_batch_ratio``: :func:`loomtui.instruments.probe.probe` of the 100 answers
  " 1" .. " 100" after "Pick a number from 1 to 100:" (digit end rule) on the embedded model
  / one bare forward pass doing the model's part of the same work with plain transformers
  calls: the prompt read once, then all 100 answers as one right-padded batch on its KV
  cache, logits at every answer position. Goal <= 2. ``detail`` also gives the forward pass
  over the 100 whole prompt+answer sequences, left-padded (the cost without a shared prefix).

The tree is made up (``synthetic_loom``): a root prompt, then nodes of 3-12 words, 1-4
children each, grown half the time from a recent node and half from any open one (depth about
75, 27,000 leaves, mean leaf depth 28, so ``export --all`` writes ~26 MB).
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

NODES = 50_000
QUICK_NODES = 2_000
REPEATS = 3
PROBE_REPEATS = 5  # a probe is seconds long; a busy moment must not decide the median
ANSWERS = 100
QUICK_ANSWERS = 12
PROMPT = "Pick a number from 1 to 100:"

_WORDS = [
    "the", "loom", "weaves", "a", "thread", "of", "light", "and", "every", "branch", "is",
    "possible", "\n",
]  # fmt: skip


def synthetic_loom(n_nodes: int = NODES, seed: int = 0) -> dict[str, Any]:
    """A socketteer/loom JSON tree (``root`` with nested ``children``) of ``n_nodes`` nodes."""
    rng = random.Random(seed)

    def text() -> str:
        words = rng.choices(_WORDS, k=rng.randint(3, 12))
        return "".join(w if w == "\n" else " " + w for w in words)

    root: dict[str, Any] = {"id": "n0", "text": "Once upon a time" + text(), "children": []}
    count = 1
    pending = [root]
    while count < n_nodes:
        if rng.random() < 0.5:  # a recent node: long chains, as looms grow
            i = len(pending) - 1 - min(int(rng.expovariate(1 / 4)), len(pending) - 1)
        else:
            i = rng.randrange(len(pending))
        parent = pending.pop(i)
        for _ in range(rng.choice((1, 1, 2, 3, 4))):
            if count >= n_nodes:
                break
            child = {"id": f"n{count}", "text": text(), "children": []}
            count += 1
            parent["children"].append(child)
            pending.append(child)
        if not pending:
            pending.append(parent)
    return {"root": root, "selected_node_id": "n0"}


def write_loom(path: Path, n_nodes: int) -> None:
    """The synthetic tree as a file (written iteratively: the tree is too deep to recurse)."""
    data = synthetic_loom(n_nodes)
    path.write_text(json.dumps(data), encoding="utf-8")


def _plain_leaves(path: Path) -> bytes:
    """The floor: json.load, then each leaf's text joined from its branch, in plain Python."""
    with open(path, "rb") as f:
        data = json.load(f)
    out: list[str] = []
    stack = [(data["root"], "")]
    while stack:
        node, prefix = stack.pop()
        text = prefix + node.get("text", "")
        children = node.get("children") or []
        if children:
            stack.extend((c, text) for c in reversed(children))
        else:
            out.append(text)
    return "\n".join(out).encode("utf-8")


def _export_all(path: Path) -> tuple[bytes, float]:
    """What ``loomtui export --all FILE`` does, in-process; also the load's share."""
    from loomtui.core.export import export
    from loomtui.core.sessionfile import load_session

    start = time.perf_counter()
    session = load_session(path)
    loaded = time.perf_counter() - start
    return export(session, "text", None, True), loaded


def tree_export(n_nodes: int, repeats: int) -> dict[str, Any]:
    from loomtui.core.sessionfile import load_session

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loom.json"
        write_loom(path, n_nodes)
        plain, ours, loads = [], [], []
        for _ in range(repeats):  # alternated: a busy moment slows both alike
            gc.collect()
            t = time.perf_counter()
            floor = _plain_leaves(path)
            plain.append(time.perf_counter() - t)
            gc.collect()
            t = time.perf_counter()
            data, loaded = _export_all(path)
            ours.append(time.perf_counter() - t)
            loads.append(loaded)
            del data
        t = time.perf_counter()
        stats = load_session(path).stats()
        info_s = time.perf_counter() - t
        size = path.stat().st_size
    base, best = min(plain), min(ours)
    return {
        "value": round(best / base, 2),
        "unit": "x",
        "goal": "<= 3",
        "baseline": round(base, 4),
        "detail": {
            "nodes": stats["nodes"],
            "leaves": stats["leaves"],
            "depth": stats["depth"],
            "file_mb": round(size / 1e6, 2),
            "leaf_text_mb": round(len(floor) / 1e6, 2),
            "export_all_runs_s": [round(x, 4) for x in ours],
            "of_which_load_s": [round(x, 4) for x in loads],
            "plain_runs_s": [round(x, 4) for x in plain],
            "info_s": round(info_s, 4),
        },
    }


async def _tree_actions(n_nodes: int, repeats: int) -> dict[str, Any]:
    from textual.geometry import Region

    from loomtui.core.sessionfile import load_session
    from loomtui.ui.app import make_app
    from loomtui.ui.widgets.tree_panel import TreePanel

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loom.json"
        write_loom(path, n_nodes)
        reads = []
        for _ in range(3):  # the floor of opening: reading and parsing the file
            t = time.perf_counter()
            with open(path, "rb") as f:
                json.load(f)
            reads.append(time.perf_counter() - t)
        gc.collect()
        t = time.perf_counter()
        session = load_session(path)
        load_s = time.perf_counter() - t
    # Start on a deep leaf: its branch is expanded in the panel, with siblings on the way.
    depth = {session.root_id: 0}
    for node in session.walk():
        for c in node.children:
            depth[c] = depth[node.id] + 1
    session.current_id = max(depth, key=depth.__getitem__)
    start = time.perf_counter()
    app = make_app(session=session, new_session=False)
    ctx = app.run_test(size=(120, 40))
    pilot = await ctx.__aenter__()
    await pilot.pause()
    first_paint = time.perf_counter() - start
    try:
        tree = app.query_one(TreePanel)
        tree.focus()
        await pilot.pause()
        region = tree.scrollable_content_region
        crop = Region(0, 0, region.width, region.height)
        actions = {
            "cursor_down": tree.action_cursor_down,
            "toggle_expand": tree.action_toggle_node,
            "next_sibling": lambda: app.action_sibling(1),
            "parent": app.action_parent,
        }
        times: dict[str, list[float]] = {name: [] for name in actions}
        for _ in range(repeats):
            for name, act in actions.items():
                t = time.perf_counter()
                act()
                lines = tree.render_lines(crop)
                times[name].append((time.perf_counter() - t) * 1000)
                if len(lines) != region.height:
                    raise RuntimeError(f"rendered {len(lines)} lines of {region.height}")
                await pilot.pause()  # let the cursor move queued after the refresh land
        border = str(tree.border_title)
    finally:
        await ctx.__aexit__(None, None, None)
    medians = {name: statistics.median(v) for name, v in times.items()}
    worst = max(medians, key=medians.__getitem__)
    read_s = min(reads)
    opened = {
        "value": round(load_s + first_paint, 3),
        "unit": "s",
        "goal": "<= 1.5",
        "baseline": round(read_s, 4),
        "detail": {
            "nodes": len(session.nodes),
            "load_session_s": round(load_s, 3),
            "first_paint_s": round(first_paint, 3),
            "json_load_runs_s": [round(x, 4) for x in reads],
            "ratio_to_json_load": round((load_s + first_paint) / read_s, 2),
        },
    }
    return {
        "opened": opened,
        "value": round(medians[worst], 2),
        "unit": "ms",
        "goal": "<= 50",
        "baseline": round(medians["cursor_down"], 3),
        "detail": {
            "nodes": len(session.nodes),
            "slowest": worst,
            "median_ms": {k: round(v, 2) for k, v in medians.items()},
            "runs_ms": {k: [round(x, 1) for x in v] for k, v in times.items()},
            "first_paint_s": round(first_paint, 3),
            "border": border,
        },
    }


def _bare_batched_forward(backend: Any, prompt_ids: list[int], answers: list[list[int]]) -> None:
    """The model's part of a probe, with plain transformers calls: the prompt once, then all
    answers as one right-padded batch on its cache, logits at every answer position."""
    import torch
    from transformers import DynamicCache

    model = backend.model
    width = max(len(a) for a in answers)
    batch = torch.tensor([a + [0] * (width - len(a)) for a in answers], device=model.device)
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor([prompt_ids], device=model.device),
            past_key_values=DynamicCache(config=model.config),
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.past_key_values
        cache.batch_repeat_interleave(len(answers))
        out = model(input_ids=batch, past_key_values=cache, use_cache=True, logits_to_keep=0)
        out.logits[:, -1, :1].tolist()


def _whole_forward(backend: Any, sequences: list[list[int]]) -> None:
    """One forward pass over whole prompt+answer sequences, left-padded (no shared prefix)."""
    import torch

    model = backend.model
    width = max(len(s) for s in sequences)
    ids = torch.tensor([[0] * (width - len(s)) + s for s in sequences], device=model.device)
    mask = torch.tensor(
        [[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=model.device
    )
    with torch.no_grad():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=False,
            logits_to_keep=1,
        )
        out.logits[:, -1, :1].tolist()


def probe_batch(backend: Any, n_answers: int, repeats: int) -> dict[str, Any]:
    from loomtui.backends.base import Context
    from loomtui.instruments import probe

    answers = probe.range_candidates(1, n_answers)
    prompt_ids = backend.context_ids(Context(text=PROMPT))
    answer_ids = [backend.tokenize(a) for a in answers]
    steps: list[tuple[int, int]] = []
    probe.probe(backend, PROMPT, answers[:4], rule=probe.RULE_DIGIT)  # warm up
    bare, ours = [], []
    result = None
    for _ in range(repeats):  # alternated
        t = time.perf_counter()
        _bare_batched_forward(backend, prompt_ids, answer_ids)
        bare.append(time.perf_counter() - t)
        backend.kv.clear()  # each probe reads its prompt afresh
        steps.clear()
        t = time.perf_counter()
        result = probe.probe(
            backend,
            PROMPT,
            answers,
            rule=probe.RULE_DIGIT,
            progress=lambda done, total: steps.append((done, total)),
        )
        ours.append(time.perf_counter() - t)
    t = time.perf_counter()
    _whole_forward(backend, [prompt_ids + a for a in answer_ids])
    whole = time.perf_counter() - t
    assert result is not None
    base, best = statistics.median(bare), statistics.median(ours)
    top = result.top()
    return {
        "value": round(best / base, 2),
        "unit": "x",
        "goal": "<= 2",
        "baseline": round(base, 3),
        "detail": {
            "answers": n_answers,
            "prompt_tokens": len(prompt_ids),
            "answer_tokens": sum(len(a) for a in answer_ids),
            "probe_runs_s": [round(x, 3) for x in ours],
            "bare_batched_runs_s": [round(x, 3) for x in bare],
            "whole_padded_forward_s": round(whole, 3),
            "progress_reports": len(steps),
            "covered_mass": round(result.covered_mass, 6),
            "top": None if top is None else [top[0].text, round(top[1], 4)],
        },
    }


if measure is not None:

    @measure("tree_50k_export_ratio")
    def _tree_export(ctx: Any) -> dict[str, Any]:
        quick = getattr(ctx, "quick", False)
        return tree_export(QUICK_NODES if quick else NODES, 1 if quick else REPEATS)

    def _tree_app(ctx: Any) -> dict[str, Any]:
        # Two names, one app run (kept on the run's context).
        result = getattr(ctx, "_tree_app", None)
        if result is None:
            quick = getattr(ctx, "quick", False)
            result = asyncio.run(_tree_actions(QUICK_NODES if quick else NODES, 2 if quick else 7))
            ctx._tree_app = result
        return result

    @measure("tree_50k_action_ms")
    def _tree_action(ctx: Any) -> dict[str, Any]:
        return {k: v for k, v in _tree_app(ctx).items() if k != "opened"}

    @measure("ui_open_50k_s")
    def _tree_open(ctx: Any) -> dict[str, Any]:
        return dict(_tree_app(ctx)["opened"])

    @measure("probe_100_batch_ratio")
    def _probe(ctx: Any) -> dict[str, Any]:
        quick = getattr(ctx, "quick", False)
        return probe_batch(
            ctx.local, QUICK_ANSWERS if quick else ANSWERS, 1 if quick else PROBE_REPEATS
        )


if __name__ == "__main__":
    print(json.dumps(tree_export(NODES, REPEATS), indent=1))
