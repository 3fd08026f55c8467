"""Entropy, entropy bounds from top-k lists, KL, perplexity, joint logprob, the sentinel."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from loomtui.core.metrics import (
    SENTINEL_LOGPROB,
    entropy,
    entropy_bounds,
    entropy_of_probs,
    is_known,
    joint_logprob,
    kl_from_uniform,
    kl_rows,
    perplexity,
    token_entropy,
)
from loomtui.core.tokens import Alt, Token


def _dist(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    w = [rng.random() ** 4 for _ in range(n)]
    z = sum(w)
    return sorted((math.log(x / z) for x in w), reverse=True)


def test_entropy_of_uniform_and_certain() -> None:
    assert entropy([math.log(0.25)] * 4) == pytest.approx(math.log(4))
    assert entropy([math.log(0.5)] * 2) == pytest.approx(math.log(2))
    assert entropy([0.0, -math.inf]) == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_bounds_contain_the_true_entropy(seed: int) -> None:
    lps = _dist(200, seed)
    true = entropy(lps)
    for k in (1, 5, 20, 100):
        b = entropy_bounds([Alt(str(i), b"", i, lp) for i, lp in enumerate(lps[:k])], 200)
        assert b.lower - 1e-9 <= true <= b.upper + 1e-9
        assert b.covered == pytest.approx(sum(math.exp(x) for x in lps[:k]))


def test_bounds_are_exact_for_a_complete_list() -> None:
    lps = _dist(10, 1)
    b = entropy_bounds(lps, 10)
    assert b.exact and b.lower == pytest.approx(entropy(lps))


def test_bounds_drop_duplicates_and_sentinels() -> None:
    top = [
        Alt("a", b"a", 1, math.log(0.5)),
        Alt("b", b"b", 2, math.log(0.5)),
        Alt("a", b"a", 1, math.log(0.5)),
        Alt("z", b"z", 9, -9999.0),
    ]
    b = entropy_bounds(top, 50_000)
    assert b.exact and b.lower == pytest.approx(math.log(2))


def test_sentinel_predicate() -> None:
    assert SENTINEL_LOGPROB == -9999.0
    for lp in (0.0, -0.5, -120.0, -9998.5, 1e-7):
        assert is_known(lp), lp
    for lp in (None, SENTINEL_LOGPROB, -10_000.0, -math.inf, math.inf, math.nan):
        assert not is_known(lp), lp


def test_joint_logprob_is_none_when_any_token_is_unknown() -> None:
    assert joint_logprob([-1.0, -2.0]) == -3.0
    assert joint_logprob(iter([-0.25])) == -0.25
    assert joint_logprob([]) is None
    # One unknown token makes the whole run unknown, wherever it sits: never a partial sum.
    for unknown in (None, SENTINEL_LOGPROB, -math.inf, math.nan):
        assert joint_logprob([-1.0, unknown, -2.0]) is None
        assert joint_logprob([unknown, -1.0]) is None


def test_perplexity_is_per_scored_token() -> None:
    assert perplexity([math.log(0.25)] * 3) == pytest.approx(4.0)
    assert perplexity([None, math.log(0.5), SENTINEL_LOGPROB]) == pytest.approx(2.0)
    assert perplexity([None]) is None


@pytest.mark.parametrize("seed", range(5))
def test_entropy_of_probs_agrees_with_entropy_of_logprobs(seed: int) -> None:
    lps = _dist(50, seed)
    probs = [math.exp(x) for x in lps]
    assert entropy_of_probs(probs) == pytest.approx(entropy(lps))
    # Masses that do not sum to one are renormalised first: scaling changes nothing.
    assert entropy_of_probs([p * 0.3 for p in probs]) == pytest.approx(entropy(lps))
    assert entropy_of_probs([0.0, 0.0]) == 0.0
    assert kl_from_uniform(probs) == pytest.approx(math.log(50) - entropy(lps))
    assert kl_from_uniform([0.2] * 5) == pytest.approx(0.0, abs=1e-12)
    assert kl_from_uniform([1.0, 0.0, 0.0, 0.0]) == pytest.approx(math.log(4))


def _ln(probs: list[float]) -> np.ndarray:
    return np.array([math.log(x) if x > 0 else -math.inf for x in probs])


def test_kl_rows() -> None:
    p = np.stack([_ln([0.5, 0.5, 0.0]), _ln([0.2, 0.3, 0.5])])
    q = np.stack([_ln([0.9, 0.1, 0.0]), _ln([0.2, 0.3, 0.5])])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    got = kl_rows(p, q)
    assert got[0] == pytest.approx(expected) and got[1] == pytest.approx(0.0, abs=1e-12)
    assert kl_rows(q, p)[0] > 0 and kl_rows(q, p)[0] != pytest.approx(expected)  # not symmetric
    # Q ruling out an outcome P allows: infinite, not NaN; P ruling one out costs nothing.
    assert kl_rows(_ln([0.5, 0.5]), _ln([1.0, 0.0])) == [math.inf]
    assert kl_rows(_ln([1.0, 0.0]), _ln([0.5, 0.5])) == [pytest.approx(math.log(2))]
    # The same number as the plain formula over a random full distribution.
    a, b = _dist(200, 3), _dist(200, 4)
    plain = sum(math.exp(x) * (x - y) for x, y in zip(a, b, strict=True))
    assert kl_rows(np.array([a]), np.array([b]))[0] == pytest.approx(plain)


def test_entropy_bounds_without_a_vocabulary_size() -> None:
    top = [Alt("a", b"a", 1, math.log(0.5)), Alt("b", b"b", 2, math.log(0.25))]
    b = entropy_bounds(top, None)
    assert b.upper == math.inf and b.covered == pytest.approx(0.75)
    # Lower bound: the unseen quarter in tokens no likelier than the last listed one.
    known = -(0.5 * math.log(0.5) + 0.25 * math.log(0.25))
    assert b.lower == pytest.approx(known - 0.25 * math.log(0.25))
    assert entropy_bounds(top, 0).upper == math.inf
    assert entropy_bounds([], None) == (0.0, math.inf, 0.0)


def test_token_entropy_prefers_exact() -> None:
    t = Token("a", b"a", 1, -0.1, (Alt("a", b"a", 1, -0.1),), entropy=0.3)
    assert token_entropy(t) == (0.3, 0.3)
    t.entropy = None
    low, high = token_entropy(t, vocab_size=100)
    assert low < high
    assert token_entropy(t) == (low, math.inf)  # no vocabulary size: no finite upper bound
    assert token_entropy(Token("a", b"a")) is None
