"""Every importer is linear in the nodes of the file, whatever their order: an Obsidian Loom
note lists its nodes by key, and a file whose children come before their parents (here a
20,000-node chain written deepest first) imports in about the time of the same chain written
top down. Before issue 20 the reverse order took minutes (10,000 nodes: 151 s against 1.6 s).

A ratio measured in one run, not a time: the machine's speed cancels out."""

from __future__ import annotations

import time
from typing import Any

from loomtui.core.importers.obsidian import import_obsidian

NODES = 20_000


def _chain(reverse: bool) -> dict[str, Any]:
    """One note: a chain n0 <- n1 <- ... (each node the child of the one before), its
    nodes listed top down or deepest first, and a side branch every 100 nodes."""
    nodes: dict[str, dict[str, Any]] = {}
    order = range(NODES - 1, -1, -1) if reverse else range(NODES)
    for i in order:
        nodes[f"n{i}"] = {"text": f" {i}", "parentId": f"n{i - 1}" if i else None}
        if i % 100 == 50:
            nodes[f"s{i}"] = {"text": f" side {i}", "parentId": f"n{i}"}
    return {"state": {"chain.md": {"current": f"n{NODES - 1}", "nodes": nodes}}}


def _best_of(data: dict[str, Any], runs: int = 3) -> tuple[float, Any]:
    best = float("inf")
    session = None
    for _ in range(runs):
        start = time.perf_counter()
        session = import_obsidian(data, "data.json")
        best = min(best, time.perf_counter() - start)
    return best, session


def test_a_reverse_ordered_obsidian_note_imports_in_about_the_time_of_a_forward_one() -> None:
    forward_data, reverse_data = _chain(False), _chain(True)
    forward_s, forward = _best_of(forward_data)
    reverse_s, reverse = _best_of(reverse_data)
    # The same tree either way: the whole chain, in order, and every side branch.
    expected = "".join(f" {i}" for i in range(NODES)).encode()
    assert forward.branch_bytes(forward.current_id) == expected
    assert reverse.branch_bytes(reverse.current_id) == expected
    assert len(reverse.nodes) == len(forward.nodes) == NODES + NODES // 100 + 2
    assert reverse_s <= 3 * forward_s + 0.05, (
        f"reverse order {reverse_s:.3f}s against forward {forward_s:.3f}s"
    )
