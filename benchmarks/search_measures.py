"""Search: the whole of a 50,000-node tree (issue 16, finding and judging).

- ``search_50k_ratio``: :func:`loomtui.core.search.search` of a plain phrase over the
  synthetic 50,000-node loom of ``scale_measures`` (every branch as the text it reads as,
  matches across node boundaries, each mapped back to its nodes) / the floor: a depth-first
  walk of the tree (``Session.walk``) taking each node's text, the texts joined into one
  string and searched once with the same compiled pattern (what any search of every node's
  text pays, with no branch rule and no mapping). Best of a few alternated runs;
  ``detail`` gives both in milliseconds, the matches, those across nodes, and a regex run.
  Goal <= 3.
"""

from __future__ import annotations

import json
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
REPEATS = 5
PHRASE = "weaves a thread"
REGEX = r"light\s+and\s+every"


def search_ratio(n_nodes: int, repeats: int) -> dict[str, Any]:
    import regex
    from scale_measures import write_loom

    from loomtui.core.search import search
    from loomtui.core.sessionfile import load_session

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loom.json"
        write_loom(path, n_nodes)
        session = load_session(path)
    pattern = regex.compile(regex.escape(PHRASE), regex.IGNORECASE)
    ours, floor = [], []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = search(session, PHRASE, timeout_s=60)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        texts = [n.text for n in session.walk()]
        found = sum(1 for _ in pattern.finditer("\x00".join(texts)))
        floor.append(time.perf_counter() - start)
    assert result is not None and not result.timed_out
    start = time.perf_counter()
    rx = search(session, REGEX, is_regex=True, timeout_s=60)
    rx_s = time.perf_counter() - start
    best, base = min(ours), min(floor)
    return {
        "value": round(best / base, 2),
        "unit": "x the floor",
        "goal": "<= 3",
        "baseline": round(base, 4),
        "detail": {
            "nodes": len(session.nodes),
            "search_ms": round(best * 1000, 1),
            "floor_ms": round(base * 1000, 1),
            "matches": len(result.matches),
            "across_nodes": sum(1 for m in result.matches if len(m.spans) > 1),
            "floor_matches_one_string": found,
            "regex_ms": round(rx_s * 1000, 1),
            "regex_matches": len(rx.matches),
        },
    }


if measure is not None:

    @measure("search_50k_ratio")
    def _search(ctx: Any) -> dict[str, Any]:
        quick = getattr(ctx, "quick", False)
        return search_ratio(QUICK_NODES if quick else NODES, 1 if quick else REPEATS)


if __name__ == "__main__":
    print(json.dumps(search_ratio(NODES, REPEATS), indent=1))
