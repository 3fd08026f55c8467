"""Numbers about distributions and token runs, in nats: the one place each is computed.

Entropy, entropy bounds from a top-k list, confidence (−mean top-k logprob), KL, joint
logprob, perplexity and the rule for a logprob that is "not available" live here and nowhere
else, so the backends, instruments, CLI and UI cannot drift apart. Pure Python (``math`` only) for lists; the functions over
whole-vocabulary rows take numpy arrays and import numpy when called, so importing
``loomtui.core`` stays light. See ``shared/reference/logprobs.md`` section 3 for the
entropy bounds from a top-k list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .tokens import Alt, PackedTop, Token

if TYPE_CHECKING:
    import numpy as np

#: The logprob OpenAI-style APIs send for "not available" (a token outside the top list).
SENTINEL_LOGPROB = -9999.0


def is_known(logprob: float | None) -> bool:
    """Whether ``logprob`` is a real number: not None, not NaN, not +inf, and above
    :data:`SENTINEL_LOGPROB` (so the sentinel, anything below it and −inf, which servers
    send for tokens they did not rank, all mean "not available")."""
    return logprob is not None and SENTINEL_LOGPROB < logprob < math.inf


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


def entropy_of_probs(probs: Sequence[float]) -> float:
    """Entropy (nats) of ``probs`` renormalised to sum to one (0 when nothing is positive):
    the spread of a probe's answers, whose masses need not cover the whole distribution."""
    total = sum(p for p in probs if p > 0)
    if total <= 0:
        return 0.0
    return entropy(math.log(p / total) for p in probs if p > 0)


def kl_from_uniform(probs: Sequence[float]) -> float:
    """KL(q ‖ uniform) in nats for q the renormalised ``probs``: ln n − H(q)."""
    n = len(probs)
    return math.log(n) - entropy_of_probs(probs) if n else 0.0


class EntropyBounds(NamedTuple):
    """Bounds on the entropy of a distribution known only through its top-k list."""

    lower: float
    upper: float  # +inf when the vocabulary size is unknown
    covered: float  # probability mass the list accounts for

    @property
    def exact(self) -> bool:
        return math.isclose(self.lower, self.upper, rel_tol=1e-9, abs_tol=1e-12)


def _clean_top(top: Sequence[Alt]) -> list[float]:
    """Logprobs of a top-k list fit for summing.

    Drops values that are not :func:`is_known`, and duplicates: legacy APIs append the
    sampled token to its own top list, so an entry with the same token id (or the same
    bytes, when ids are unknown) as one already seen is counted once.
    """
    seen: set[object] = set()
    out: list[float] = []
    for alt in top:
        lp = alt.logprob
        if not is_known(lp):
            continue
        key: object = ("id", alt.token_id) if alt.token_id is not None else ("b", alt.bytes)
        if key in seen:
            continue
        seen.add(key)
        out.append(min(lp, 0.0))
    return out


def entropy_bounds(top: Sequence[Alt] | Sequence[float], vocab_size: int | None) -> EntropyBounds:
    """Lower and upper bounds on the entropy (nats) from a top-k list over ``vocab_size``.

    With remaining mass r = 1 − Σ p_i: the upper bound spreads r evenly over the V − k
    unseen tokens, H ≤ −Σ p_i ln p_i − r ln(r / (V − k)) (+inf when V is unknown); the
    lower bound assumes no unseen token beats the smallest listed one, H ≥ −Σ p_i ln p_i
    − r ln p_k.
    """
    if top and isinstance(top[0], Alt):
        lps = _clean_top(top)  # type: ignore[arg-type]
    else:
        lps = [min(float(x), 0.0) for x in top if is_known(x)]  # type: ignore[arg-type]
    lps.sort(reverse=True)
    probs = [math.exp(lp) for lp in lps]
    covered = min(1.0, sum(probs))
    known = -sum(p * lp for p, lp in zip(probs, lps, strict=True))
    rest = max(0.0, 1.0 - covered)
    k = len(lps)
    if rest <= 1e-12:
        return EntropyBounds(known, known, covered)
    if vocab_size:
        upper = known - rest * math.log(rest / max(1, vocab_size - k))
    else:
        upper = math.inf
    # Unseen mass r spread over tokens each at most p_k: −r ln p_k is the least it adds.
    lower = known - rest * lps[-1] if k else 0.0
    return EntropyBounds(min(lower, upper), upper, covered)


def token_entropy(token: Token, vocab_size: int | None = None) -> tuple[float, float] | None:
    """(lower, upper) entropy of the distribution at ``token``: exact when the backend gave
    it, else bounds from its top-k list (upper +inf without ``vocab_size``), else None."""
    if token.entropy is not None:
        return token.entropy, token.entropy
    if token.top:
        b = entropy_bounds(token.top, vocab_size)
        return b.lower, b.upper
    return None


def mean_entropy_bounds(
    tokens: Iterable[Token], vocab_size: int | None = None
) -> tuple[float, float, int] | None:
    """(lower, upper, n): the mean per-token entropy (nats) over the ``n`` tokens of a run
    that have one or a bound (:func:`token_entropy`); lower == upper when every one is
    exact, upper +inf when some token has only a top-k list and ``vocab_size`` is unknown.
    None when no token has anything."""
    lo = hi = 0.0
    n = 0
    for tok in tokens:
        b = token_entropy(tok, vocab_size)
        if b is None:
            continue
        lo += b[0]
        hi += b[1]
        n += 1
    return (lo / n, hi / n, n) if n else None


def confidence(top: Sequence[Alt] | Sequence[float]) -> tuple[float, int] | None:
    """DeepConf's token confidence: −mean of the logprobs of a top-k list, and k (how many
    entries it averaged: the list's length, less entries that are not :func:`is_known` and
    an API's duplicate of the sampled token). High when the model's top choices are all
    improbable (it spread its mass), low when one choice dominates. Needs no vocabulary, so
    it works from an API's top-k list; values compare only at equal k. None for no list."""
    if type(top) is PackedTop and top.end > top.start:
        # At C speed for the common case (a backend's or a file's packed list: distinct
        # rows, every logprob known and <= 0): no Alt is built (50,000 nodes x 8 tokens x
        # 20 alternatives took 3.8 s the general way).
        rows = top.ids[top.start : top.end]
        lps = top.lps[top.start : top.end]
        if len(set(rows)) == len(rows) and SENTINEL_LOGPROB < min(lps) and max(lps) <= 0.0:
            total = math.fsum(lps)
            if math.isfinite(total):  # (a NaN slips past min and max, not past the sum)
                return -total / len(lps), len(lps)
    if top and isinstance(top[0], Alt):
        lps = _clean_top(top)  # type: ignore[arg-type]
    else:
        lps = [min(float(x), 0.0) for x in top if is_known(x)]  # type: ignore[arg-type]
    return (-sum(lps) / len(lps), len(lps)) if lps else None


def mean_confidence(tokens: Iterable[Token]) -> tuple[float, int | None, int] | None:
    """(value, k, n): the mean :func:`confidence` over the ``n`` tokens of a run that have a
    top-k list; ``k`` the lists' common length, None when they differ (then the mean mixes
    lists of different lengths). None when no token has a list."""
    total = 0.0
    n = 0
    ks: set[int] = set()
    for tok in tokens:
        c = confidence(tok.top) if tok.top else None
        if c is None:
            continue
        total += c[0]
        ks.add(c[1])
        n += 1
    if not n:
        return None
    return total / n, (ks.pop() if len(ks) == 1 else None), n


def kl_rows(p_rows: np.ndarray, q_rows: np.ndarray) -> list[float]:
    """KL(P_i ‖ Q_i) in nats for each pair of rows of whole-vocabulary logprobs.

    ``p_rows`` and ``q_rows`` are arrays of one shape ``[n, V]`` (or ``[V]`` for one pair).
    Outcomes P gives probability 0 contribute nothing; one Q gives probability 0 where P
    does not makes that row +inf. Rounding below zero is clipped to 0.
    """
    import numpy as np  # here, not at the top: core imports without numpy

    p = np.atleast_2d(np.asarray(p_rows, dtype=np.float64))
    q = np.atleast_2d(np.asarray(q_rows, dtype=np.float64))
    pa = np.exp(p)
    with np.errstate(invalid="ignore"):  # −inf − −inf where P is 0: masked out just below
        diff = np.where(pa > 0, p - q, 0.0)
    kl = (pa * diff).sum(-1)
    return [max(0.0, float(x)) if math.isfinite(float(x)) else math.inf for x in kl]


def joint_logprob(logprobs: Iterable[float | None]) -> float | None:
    """The logprob of a run of tokens: the sum of theirs.

    None when any token's logprob is unknown (see :func:`is_known`; a run is never summed
    over the tokens that happen to have one) or when there are no tokens.
    """
    total = 0.0
    n = 0
    for lp in logprobs:
        if not is_known(lp):
            return None
        total += lp  # type: ignore[operator]
        n += 1
    return total if n else None


def mean_logprob(logprobs: Iterable[float | None]) -> float | None:
    """The mean logprob per token of a run: :func:`joint_logprob` over the count (None as
    there: any unknown logprob, or no tokens)."""
    lps = list(logprobs)
    total = joint_logprob(lps)
    return None if total is None else total / len(lps)


def perplexity(logprobs: Iterable[float | None]) -> float | None:
    """exp(−mean logprob) per scored token: over the known logprobs (None if none are)."""
    known = [lp for lp in logprobs if is_known(lp)]
    if not known:
        return None
    return math.exp(-sum(known) / len(known))  # type: ignore[arg-type]
