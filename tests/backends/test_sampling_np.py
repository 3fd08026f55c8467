"""The numpy twins of the sampling module (the llama.cpp engine's): on identical rows they
give the torch functions' numbers (raw logprobs, exact entropy, top-k; the distribution a
token is drawn from after temperature/top-k/top-p), and draw the way :func:`draw` does."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from loomtests.reference import sampling_logprob as reference_sampling_logprob

from loomtui.backends.base import GenerationSettings
from loomtui.backends.sampling import (
    draw_np,
    log_softmax_np,
    raw_numbers,
    raw_numbers_np,
    sampling_probs,
    sampling_probs_np,
)


def _rows(seed: int, n: int = 4, vocab: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, vocab)) * 4).astype(np.float32)


def test_raw_numbers_twin_matches_torch():
    x = _rows(1)
    x[1, :50] = -np.inf  # masked logits: p ln p counts as 0
    logp, ent, top_v, top_i = raw_numbers(torch.from_numpy(x), 20)
    lse, ent_np, top_v_np, top_i_np = raw_numbers_np(x, 20)
    assert np.allclose(ent_np, ent.numpy(), atol=1e-5)
    assert np.array_equal(top_i_np, top_i.numpy())
    assert np.allclose(top_v_np, top_v.numpy(), atol=1e-5)
    # A token's logprob is its logit less the row's log-sum-exp.
    assert np.allclose(x[:, 7] - lse, logp[:, 7].numpy(), atol=1e-5)
    assert np.allclose(log_softmax_np(x), logp.numpy(), atol=1e-5)
    assert np.allclose(np.exp(log_softmax_np(x)).sum(-1), 1, atol=1e-5)


def test_raw_numbers_twin_with_no_alternatives():
    lse, ent, top_v, top_i = raw_numbers_np(_rows(2), 0)
    assert top_v.shape == (4, 0) and top_i.shape == (4, 0) and np.isfinite(ent).all()


@pytest.mark.parametrize(
    "temperature,top_p,top_k",
    [(0.7, 0.9, 0), (1.3, 1.0, 5), (0.5, 0.6, 12), (1.0, 1.0, 0), (2.0, 0.3, 40)],
)
def test_sampling_probs_twin_matches_torch(temperature, top_p, top_k):
    x = _rows(3)
    settings = GenerationSettings(temperature=temperature, top_p=top_p, top_k=top_k)
    want = sampling_probs(torch.from_numpy(x), settings).numpy()
    got = sampling_probs_np(x, settings)
    assert np.allclose(got, want, atol=1e-6)
    # The same tokens are cut away by both.
    assert np.array_equal(got > 0, want > 0)


@pytest.mark.parametrize("temperature,top_p,top_k", [(0.7, 0.9, 0), (1.3, 1.0, 5)])
def test_draw_np_gives_the_sampling_logprob_of_the_drawn_token(temperature, top_p, top_k):
    x = _rows(4)
    settings = GenerationSettings(temperature=temperature, top_p=top_p, top_k=top_k)
    rng = np.random.default_rng(0)
    logp = torch.log_softmax(torch.from_numpy(x).double(), -1)
    for _ in range(10):
        chosen, lps = draw_np(x, settings, rng)
        for r in range(4):
            want = reference_sampling_logprob(logp[r], int(chosen[r]), temperature, top_p, top_k)
            assert float(lps[r]) == pytest.approx(want, abs=1e-5)


def test_draw_np_frequencies_follow_the_cut_distribution():
    x = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], dtype=np.float32))
    settings = GenerationSettings(temperature=1.0, top_p=0.75)
    rng = np.random.default_rng(1)
    seen: dict[int, float] = {}
    counts = {0: 0, 1: 0}
    for _ in range(2000):
        chosen, lps = draw_np(x, settings, rng)
        seen[int(chosen[0])] = float(lps[0])
        counts[int(chosen[0])] += 1
    assert set(seen) == {0, 1}  # top-p 0.75 keeps 0.5 and 0.3
    assert seen[0] == pytest.approx(math.log(0.625), abs=1e-6)
    assert counts[0] / 2000 == pytest.approx(0.625, abs=0.04)


def test_draw_np_same_seed_same_tokens_and_greedy_is_argmax():
    x = _rows(5)
    settings = GenerationSettings(temperature=0.9, top_k=50)
    a = draw_np(x, settings, np.random.default_rng(42))[0]
    b = draw_np(x, settings, np.random.default_rng(42))[0]
    assert a.tolist() == b.tolist()
    tid, lp = draw_np(x, GenerationSettings(temperature=0), np.random.default_rng(0))
    assert lp is None and tid.tolist() == x.argmax(-1).tolist()
