"""Undo on a million-token session (issue 16, tree surgery with undo).

- ``undo_1m_ratio``: undoing one change of a synthetic session of 1,000,000 tokens
  (``file_measures.synthetic_session``: 1,000 generations of 1,000 tokens, top-20 lists)
  opened as the app holds it (``SessionStore.open`` + ``Engine.over``: journal, autosave,
  undo history beside the file), the autosave included; the changes are a label, a split in
  the middle of a 1,000-token node, a merge back, a delete of a leaf and a copy of a branch,
  each undone at once: the undo's time over the change's, median over the kinds. Goal <= 2
  (an undo costs about what the change did: it touches the same nodes, never the whole
  tree). Baseline: the median of the same changes made, in ms (their undo capture and
  autosave included). ``detail``: each change's and each undo's milliseconds (the store's
  journal of what changed is most of both), and the bytes the history file holds (a change
  writes none of the tokens it does not touch: a split's head and tail, a copy's tokens,
  refer to the lists they came from).

``--quick`` runs it on 20,000 tokens (the numbers then mean nothing).
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from file_measures import synthetic_session

try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

TOKENS = 1_000_000
QUICK_TOKENS = 20_000
ROUNDS = 3


def undo_1m(tokens: int, rounds: int) -> dict[str, Any]:
    from loomtui.core.historyfile import history_path
    from loomtui.core.sessionfile import save_session
    from loomtui.core.store import SessionStore
    from loomtui.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "million.json"
        save_session(synthetic_session(tokens), path)
        gc.collect()
        store = SessionStore.open(path)
        try:
            engine = Engine.over(store, None)
            session = store.session
            leaf = next(n for n in session.walk() if not n.children and n.tokens)
            big = max(session.walk(), key=len)
            changes = {
                "label": lambda: engine.set_label(big.id, "a label"),
                "split": lambda: engine.split(big.id, len(big) // 2),
                "delete": lambda: engine.delete(leaf.id),
                "copy": lambda: engine.copy_branch(leaf.id),
            }
            made: dict[str, list[float]] = {k: [] for k in changes}
            undone: dict[str, list[float]] = {k: [] for k in changes}
            for _ in range(rounds):
                for name, change in changes.items():
                    start = time.perf_counter()
                    change()
                    made[name].append((time.perf_counter() - start) * 1000)
                    start = time.perf_counter()
                    engine.undo()
                    undone[name].append((time.perf_counter() - start) * 1000)
            # A merge: split, merge back (the step under test), undo the merge.
            engine.split(big.id, len(big) // 2)
            tail = session.node(big.id).children[0]
            start = time.perf_counter()
            engine.merge(tail)
            made["merge"] = [(time.perf_counter() - start) * 1000]
            start = time.perf_counter()
            engine.undo()
            undone["merge"] = [(time.perf_counter() - start) * 1000]
            history_bytes = history_path(path).stat().st_size
        finally:
            store.close()
    per_undo = {k: statistics.median(v) for k, v in undone.items()}
    per_change = {k: statistics.median(v) for k, v in made.items()}
    value = statistics.median(per_undo[k] / per_change[k] for k in per_change)
    base = statistics.median(per_change.values())
    return {
        "value": round(value, 3),
        "unit": "x",
        "goal": "<= 2",
        "baseline": round(base, 3),
        "detail": {
            "tokens": tokens,
            "change_ms": {k: round(v, 3) for k, v in per_change.items()},
            "undo_ms": {k: round(v, 3) for k, v in per_undo.items()},
            "history_file_bytes": history_bytes,
            "largest_node_tokens": len(big),
        },
    }


if measure is not None:

    @measure("undo_1m_ratio")
    def _undo(ctx: Any) -> dict[str, Any]:
        quick = getattr(ctx, "quick", False)
        return undo_1m(QUICK_TOKENS if quick else TOKENS, 1 if quick else ROUNDS)
