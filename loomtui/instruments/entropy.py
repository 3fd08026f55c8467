"""Entropy strip: entropy along a branch, as a sparkline, and its most uncertain points.

Exact entropies come from the tokens; where a backend gave only a top-k list the entropy
is bounded from it. The strip draws the upper bound (the mass outside the list spread evenly
over the rest of the vocabulary) when the vocabulary size is known, else the lower bound
(an API session replayed without its model has no upper bound), and each point says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.metrics import confidence, token_entropy
from ..core.tree import Session

SPARKS = "▁▂▃▄▅▆▇█"


@dataclass
class Point:
    node_id: str
    offset: int
    text: str
    entropy: float  # nats: exact, or the upper bound (+inf without a vocabulary size)
    lower: float
    exact: bool
    #: −mean of the token's top-k logprobs and k (core.metrics.confidence); None: no list
    confidence: float | None = None
    k: int | None = None

    @property
    def shown(self) -> float:
        """The value the strip draws: exact, the upper bound, or the lower when no upper."""
        return self.entropy if math.isfinite(self.entropy) else self.lower

    @property
    def label(self) -> str:
        """``H 1.23`` exact, ``H 0.80–1.50`` a range from a top-k list, ``H ≥ 0.80`` only a
        lower bound (no vocabulary size): the info line's forms."""
        if self.exact:
            return f"H {self.entropy:5.2f}"
        if math.isfinite(self.entropy):
            return f"H {self.lower:.2f}–{self.entropy:.2f}"
        return f"H ≥{self.lower:5.2f}"


def entropy_points(session: Session, node_id: str, vocab_size: int | None = None) -> list[Point]:
    """Every token on the branch ending at ``node_id`` that has an entropy (or a bound)."""
    out: list[Point] = []
    for node in session.path(node_id):
        for i, tok in enumerate(node.tokens or ()):
            bounds = token_entropy(tok, vocab_size)
            if bounds is not None:
                lo, hi = bounds
                conf = confidence(tok.top) if tok.top else None
                c, k = conf if conf is not None else (None, None)
                out.append(Point(node.id, i, tok.text, hi, lo, tok.entropy is not None, c, k))
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
    finite = [v for v in values if math.isfinite(v)]
    hi = top if top is not None else (max(finite) if finite else 1.0)
    hi = hi if hi and math.isfinite(hi) else 1.0
    out = []
    for v in values:
        if v != v:
            out.append(" ")
            continue
        if not math.isfinite(v):  # an unbounded value fills the cell; never a crash
            out.append(SPARKS[-1] if v > 0 else SPARKS[0])
            continue
        level = min(len(SPARKS) - 1, max(0, int(v / hi * (len(SPARKS) - 1) + 0.5)))
        out.append(SPARKS[level])
    return "".join(out)


def most_uncertain(points: list[Point], n: int = 5) -> list[Point]:
    """The ``n`` positions with the highest entropy, highest first (natural branch points)."""
    return sorted(points, key=lambda p: p.shown, reverse=True)[:n]


def next_uncertain(points: list[Point], after: tuple[str, int] | None, n: int = 5) -> Point | None:
    """Cycle through the ``n`` most uncertain points: the one after ``after`` in that list."""
    ranked = most_uncertain(points, n)
    if not ranked:
        return None
    keys = [(p.node_id, p.offset) for p in ranked]
    if after in keys:
        return ranked[(keys.index(after) + 1) % len(ranked)]
    return ranked[0]
