"""The sampled probability on the real embedded SmolLM2-135M-Instruct: each token drawn at
temperature 0.7 and top-p 0.9 carries its logprob under that processed distribution, equal
to a computation of our own from a plain forward pass's raw logits (1e-4)."""

from __future__ import annotations

import math

import pytest

from loomtui.backends.base import Context, GenerationSettings

pytestmark = pytest.mark.slow

NUMBER = "Here is a random number between 1 and 100:"


def test_sampling_logprob_equals_the_processed_distribution_from_raw_logits(real_backend, ref):
    settings = GenerationSettings(
        max_tokens=12, n=3, temperature=0.7, top_p=0.9, seed=21, logprobs_k=20
    )
    result = ref.completions(real_backend.generate(Context(NUMBER), settings))
    prompt = list(real_backend.last_stats["prompt_token_ids"])
    checked = differs = 0
    for toks, _ in result.values():
        logp = ref.plain_logprobs(real_backend, prompt + [t.token_id for t in toks])
        for j, tok in enumerate(toks):
            row = logp[len(prompt) + j - 1]
            assert tok.logprob == pytest.approx(float(row[tok.token_id]), abs=2e-4)
            want = ref.sampling_logprob(row, tok.token_id, 0.7, 0.9)
            assert tok.sampling_logprob == pytest.approx(want, abs=1e-4)
            checked += 1
            differs += abs(tok.sampling_logprob - tok.logprob) > 0.01
    # The two numbers are different things: temperature and top-p moved most of them.
    assert checked >= 30 and differs >= checked // 2
    # A sampled probability is a probability: never above 1.
    assert all(
        math.exp(t.sampling_logprob) <= 1 + 1e-6 for toks, _ in result.values() for t in toks
    )


def test_greedy_tokens_have_no_sampled_probability(real_backend, ref):
    settings = GenerationSettings(max_tokens=4, temperature=0)
    result = ref.completions(real_backend.generate(Context(NUMBER), settings))
    assert [t.sampling_logprob for t in result[0][0]] == [None] * 4
