"""``sampling_logprob``: each token's logprob under the distribution it was drawn from (after
temperature, top-k and top-p, renormalised), checked against a computation of our own from the
raw logits; fast cases on a hand-made row and the tiny random model."""

from __future__ import annotations

import math

import pytest
import torch
from loomtests.reference import sampling_logprob as reference_sampling_logprob

from loomtui.backends.base import Context, GenerationSettings
from loomtui.backends.sampling import draw


def test_draw_gives_the_renormalised_probability_of_the_drawn_token():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    gen = torch.Generator().manual_seed(0)
    settings = GenerationSettings(temperature=1.0, top_p=0.75)
    seen = {}
    for _ in range(100):
        tid, lp = draw(logits, settings, gen)
        seen[int(tid)] = float(lp)
    # Top-p 0.75 keeps 0.5 and 0.3: renormalised, 0.625 and 0.375.
    assert set(seen) == {0, 1}
    assert seen[0] == pytest.approx(math.log(0.625), abs=1e-6)
    assert seen[1] == pytest.approx(math.log(0.375), abs=1e-6)


def test_draw_at_temperature_zero_has_no_sampled_logprob():
    logits = torch.randn(3, 40)
    tid, lp = draw(logits, GenerationSettings(temperature=0), torch.Generator())
    assert lp is None and tid.tolist() == logits.argmax(-1).tolist()


@pytest.mark.parametrize(
    "temperature,top_p,top_k", [(0.7, 0.9, 0), (1.3, 1.0, 5), (0.5, 0.6, 12), (1.0, 1.0, 0)]
)
def test_draw_matches_the_reference_on_random_rows(temperature, top_p, top_k):
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 300, generator=gen) * 3
    settings = GenerationSettings(temperature=temperature, top_p=top_p, top_k=top_k)
    for _ in range(10):
        tids, lps = draw(logits, settings, gen)
        logp = torch.log_softmax(logits.double(), -1)
        for r in range(4):
            want = reference_sampling_logprob(logp[r], int(tids[r]), temperature, top_p, top_k)
            assert float(lps[r]) == pytest.approx(want, abs=1e-5)


def test_tiny_model_tokens_carry_both_probabilities(tiny_backend, ref):
    settings = GenerationSettings(
        max_tokens=8, n=3, temperature=0.7, top_p=0.9, seed=4, logprobs_k=5
    )
    result = ref.completions(tiny_backend.generate(Context("Are bugs"), settings))
    prompt = tiny_backend.last_stats["prompt_token_ids"]
    for toks, _ in result.values():
        logp = ref.plain_logprobs(tiny_backend, prompt + [t.token_id for t in toks])
        for j, tok in enumerate(toks):
            row = logp[len(prompt) + j - 1]
            assert tok.logprob == pytest.approx(float(row[tok.token_id]), abs=1e-4)
            want = ref.sampling_logprob(row, tok.token_id, 0.7, 0.9)
            assert tok.sampling_logprob == pytest.approx(want, abs=1e-4)
    greedy = ref.completions(
        tiny_backend.generate(Context("Are bugs"), GenerationSettings(max_tokens=4, temperature=0))
    )
    assert all(t.sampling_logprob is None for t in greedy[0][0])
