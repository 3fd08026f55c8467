"""Small numeric helpers the instruments share (entropy, top-k bounds, KL).

``loomtui.core.metrics`` is the project's home for these; the instruments use it when it is
there and these private copies otherwise, so an instrument never waits on another module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..core.tokens import Alt


def entropy(probs: Sequence[float]) -> float:
    """Shannon entropy in nats of a (renormalised) probability vector."""
    total = sum(p for p in probs if p > 0)
    if total <= 0:
        return 0.0
    return -sum((p / total) * math.log(p / total) for p in probs if p > 0)


def kl_from_uniform(probs: Sequence[float]) -> float:
    """KL(q || uniform) in nats for q the renormalised ``probs``: ln n - H(q)."""
    n = len(probs)
    return math.log(n) - entropy(probs) if n else 0.0


def entropy_bounds(top: Sequence[Alt], vocab_size: int | None) -> tuple[float, float]:
    """Lower and upper bounds on the full entropy from a top-k list (nats).

    Upper: the mass outside the top-k spread evenly over the rest of the vocabulary.
    Lower: no unseen token is more likely than the last listed one (so at least
    ``r / p_k`` tokens share the rest, each at most ``p_k``).
    Uses :func:`loomtui.core.metrics.entropy_bounds` when the vocabulary size is known.
    """
    if vocab_size:
        from ..core.metrics import entropy_bounds as core_bounds

        b = core_bounds(top, vocab_size)
        return b.lower, b.upper
    seen: dict[tuple[int | None, bytes], float] = {}
    for alt in top:
        if alt.logprob <= -9000:  # OpenAI's -9999 "outside the list" sentinel
            continue
        seen.setdefault((alt.token_id, alt.bytes), alt.logprob)
    probs = sorted((math.exp(lp) for lp in seen.values()), reverse=True)
    head = -sum(p * math.log(p) for p in probs if p > 0)
    rest = max(0.0, 1.0 - sum(probs))
    if rest <= 1e-12 or not probs:
        return head, head
    p_k = probs[-1]
    lower = head - rest * math.log(p_k) if p_k > 0 else head
    unseen = (vocab_size or 0) - len(probs)
    upper = head - rest * math.log(rest / unseen) if unseen > 0 else math.inf
    return min(lower, upper), upper


def digit_start(data: bytes) -> bool:
    """Whether a token's bytes start with an ASCII digit (no leading space)."""
    return bool(data) and 0x30 <= data[0] <= 0x39
