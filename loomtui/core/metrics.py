"""Numbers about distributions and token runs, in nats unless a name says bits.

Pure Python (``math`` only) so backends, instruments and the UI compute each number in one
place. See ``shared/reference/logprobs.md`` section 3 for the entropy bounds from a top-k list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .tokens import Alt, Token

LN2 = math.log(2)
#: Logprobs at or below this are sentinels some APIs use for "not available" (e.g. -9999).
SENTINEL_LOGPROB = -9999.0


def entropy(logprobs: Iterable[float]) -> float:
    """Entropy −Σ p ln p (nats) of a full distribution given as logprobs.

    Entries of −inf (probability 0) contribute nothing.
    """
    total = 0.0
    for lp in logprobs:
        if lp == -math.inf:
            continue
        total -= math.exp(lp) * lp
    return total


def bits(nats: float) -> float:
    """Convert nats to bits."""
    return nats / LN2


class EntropyBounds(NamedTuple):
    """Bounds on the entropy of a distribution known only through its top-k list."""

    lower: float
    upper: float
    covered: float  # probability mass the list accounts for

    @property
    def exact(self) -> bool:
        return math.isclose(self.lower, self.upper, rel_tol=1e-9, abs_tol=1e-12)


def clean_top(top: Sequence[Alt], chosen: Token | None = None) -> list[float]:
    """Logprobs of a top-k list fit for summing.

    Drops ``-9999``-style sentinels and non-finite values, and duplicates: legacy APIs
    append the sampled token to its own top list, so an entry with the same token id (or
    the same bytes, when ids are unknown) as one already seen is counted once. ``chosen`` is
    accepted for symmetry with callers; a chosen token is only counted if it is in the list.
    """
    seen: set[object] = set()
    out: list[float] = []
    for alt in top:
        lp = alt.logprob
        if not math.isfinite(lp) or lp <= SENTINEL_LOGPROB:
            continue
        key: object = ("id", alt.token_id) if alt.token_id is not None else ("b", alt.bytes)
        if key in seen:
            continue
        seen.add(key)
        out.append(min(lp, 0.0))
    return out


def entropy_bounds(top: Sequence[Alt] | Sequence[float], vocab_size: int) -> EntropyBounds:
    """Lower and upper bounds on the entropy (nats) from a top-k list over ``vocab_size``.

    With remaining mass r = 1 − Σ p_i: the upper bound spreads r evenly over the V − k
    unseen tokens, H ≤ −Σ p_i ln p_i − r ln(r / (V − k)); the lower bound assumes no unseen
    token beats the smallest listed one, H ≥ −Σ p_i ln p_i − r ln p_k.
    """
    if top and isinstance(top[0], Alt):
        lps = clean_top(top)  # type: ignore[arg-type]
    else:
        lps = [min(float(x), 0.0) for x in top if math.isfinite(x) and x > SENTINEL_LOGPROB]  # type: ignore[arg-type]
    lps.sort(reverse=True)
    probs = [math.exp(lp) for lp in lps]
    covered = min(1.0, sum(probs))
    known = -sum(p * lp for p, lp in zip(probs, lps, strict=True))
    rest = max(0.0, 1.0 - covered)
    k = len(lps)
    if rest <= 1e-12 or k == 0 and vocab_size <= 0:
        return EntropyBounds(known, known, covered)
    unseen = max(1, vocab_size - k)
    upper = known - rest * math.log(rest / unseen)
    if k:
        # Unseen mass r spread over tokens each at most p_k: −r ln p_k is the least it adds.
        lower = known - rest * lps[-1]
    else:
        lower = 0.0
    lower = min(lower, upper)
    return EntropyBounds(lower, upper, covered)


def kl_divergence(p: dict[object, float], q: dict[object, float], floor: float = -30.0) -> float:
    """KL(P ‖ Q) in nats for two distributions given as {outcome: logprob}.

    Outcomes missing from Q get logprob ``floor`` (a top-k list is silent about them), so
    the result is finite and comparable across runs using the same floor.
    """
    total = 0.0
    for key, lp in p.items():
        if lp == -math.inf:
            continue
        lq = q.get(key, floor)
        total += math.exp(lp) * (lp - max(lq, floor))
    return total


def joint_logprob(logprobs: Iterable[float | None]) -> float | None:
    """Sum of logprobs (None if any is unknown or there are none)."""
    total = 0.0
    n = 0
    for lp in logprobs:
        if lp is None:
            return None
        total += lp
        n += 1
    return total if n else None


def perplexity(logprobs: Iterable[float | None]) -> float | None:
    """exp(−mean logprob) over the known logprobs (None if none are known)."""
    known = [lp for lp in logprobs if lp is not None]
    if not known:
        return None
    return math.exp(-sum(known) / len(known))


def token_entropy(token: Token, vocab_size: int | None = None) -> tuple[float, float] | None:
    """(lower, upper) entropy of the distribution at ``token``: exact when the backend gave
    it, else bounds from its top-k list (needs ``vocab_size``), else None."""
    if token.entropy is not None:
        return token.entropy, token.entropy
    if token.top and vocab_size:
        b = entropy_bounds(token.top, vocab_size)
        return b.lower, b.upper
    return None
