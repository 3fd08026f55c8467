"""Entropy, entropy bounds from top-k lists, KL, perplexity, joint logprob."""

from __future__ import annotations

import math
import random

import pytest

from loomtui.core.metrics import (
    bits,
    entropy,
    entropy_bounds,
    joint_logprob,
    kl_divergence,
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
    assert bits(entropy([math.log(0.5)] * 2)) == pytest.approx(1.0)
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


def test_kl_perplexity_joint() -> None:
    p = {"a": math.log(0.5), "b": math.log(0.5)}
    assert kl_divergence(p, p) == pytest.approx(0.0)
    q = {"a": math.log(0.9), "b": math.log(0.1)}
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert kl_divergence(p, q) == pytest.approx(expected)
    assert kl_divergence(p, {"a": 0.0}) > 10  # missing outcome: large but finite
    assert perplexity([math.log(0.25)] * 3) == pytest.approx(4.0)
    assert perplexity([None]) is None
    assert joint_logprob([-1.0, -2.0]) == -3.0
    assert joint_logprob([-1.0, None]) is None


def test_token_entropy_prefers_exact() -> None:
    t = Token("a", b"a", 1, -0.1, (Alt("a", b"a", 1, -0.1),), entropy=0.3)
    assert token_entropy(t) == (0.3, 0.3)
    t.entropy = None
    low, high = token_entropy(t, vocab_size=100)
    assert low < high
    assert token_entropy(Token("a", b"a")) is None
