"""Entropy strip: entropy along a branch, as a sparkline, and its most uncertain points.

Exact entropies come from the tokens; where a backend gave only a top-k list the entropy
is bounded from it (the upper bound, the mass outside the list spread evenly, is what the
strip draws, and the point says it is a bound).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.tree import Session
from ._stats import entropy_bounds

SPARKS = "▁▂▃▄▅▆▇█"


@dataclass
class Point:
    node_id: str
    offset: int
    text: str
    entropy: float  # nats (exact, or the upper bound when ``exact`` is False)
    lower: float
    exact: bool


def entropy_points(session: Session, node_id: str, vocab_size: int | None = None) -> list[Point]:
    """Every token on the branch ending at ``node_id`` that has an entropy (or a bound)."""
    out: list[Point] = []
    for node in session.path(node_id):
        for i, tok in enumerate(node.tokens or ()):
            if tok.entropy is not None:
                out.append(Point(node.id, i, tok.text, tok.entropy, tok.entropy, True))
            elif tok.top:
                lo, hi = entropy_bounds(tok.top, vocab_size)
                out.append(Point(node.id, i, tok.text, hi, lo, False))
    return out


def sparkline(values: list[float], width: int | None = None, top: float | None = None) -> str:
    """One block character per value (or per bucket of values when ``width`` is smaller:
    a bucket shows its maximum, so a spike never disappears)."""
    if not values:
        return ""
    if width is not None and 0 < width < len(values):
        step = len(values) / width
        values = [
            max(values[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))])
            for i in range(width)
        ]
    finite = [v for v in values if v == v and v != float("inf")]
    hi = top if top is not None else (max(finite) if finite else 1.0)
    hi = hi or 1.0
    out = []
    for v in values:
        if v != v:
            out.append(" ")
            continue
        level = min(len(SPARKS) - 1, max(0, int(v / hi * (len(SPARKS) - 1) + 0.5)))
        out.append(SPARKS[level])
    return "".join(out)


def most_uncertain(points: list[Point], n: int = 5) -> list[Point]:
    """The ``n`` positions with the highest entropy, highest first (natural branch points)."""
    return sorted(points, key=lambda p: p.entropy, reverse=True)[:n]


def next_uncertain(points: list[Point], after: tuple[str, int] | None, n: int = 5) -> Point | None:
    """Cycle through the ``n`` most uncertain points: the one after ``after`` in that list."""
    ranked = most_uncertain(points, n)
    if not ranked:
        return None
    keys = [(p.node_id, p.offset) for p in ranked]
    if after in keys:
        return ranked[(keys.index(after) + 1) % len(ranked)]
    return ranked[0]
