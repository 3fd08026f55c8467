"""A CPU decode step's numbers over the whole vocabulary are computed on the decoding thread.

torch splits every elementwise op over a vocabulary as wide as SmolLM2's (49,152 values)
between its threads; on a busy machine each of those ops waited for the other thread to get a
core (40 ms a decode step, under load), and the float32 sum in the entropy came out with other
last bits on another number of threads. Now the entropy's terms and sum, and the sampling
draw's checks, division and argmax, run in numpy on the calling thread:

- a generation gives the same numbers, bit for bit, on one thread and on two;
- they are the numbers the torch ops gave: the same tokens, logprobs, top-k lists and sampled
  logprobs bit for bit, the entropy within float32 rounding of the same sum;
- the draw picks the very ids ``torch.multinomial`` picks for the same generator state;
- masked logits (-inf) and NaN rows keep their meaning (``p ln p`` as 0 where ``p`` is 0).
"""

from __future__ import annotations

import math

import pytest
import torch

from loomtui.backends import local, sampling
from loomtui.backends.base import Context, GenerationSettings
from loomtui.backends.sampling import multinomial, raw_numbers, row_entropy

WIDE = 49_152  # SmolLM2's vocabulary: wide enough for torch to split an op between threads


@pytest.fixture(scope="module")
def wide_backend():
    """The tiny random Llama with SmolLM2's vocabulary width (ids past its tokenizer's 400
    decode to no bytes): a decode step's rows are as wide as the real model's."""
    from loomtests.tiny import build_tiny_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=WIDE,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=0,
        bos_token_id=0,
        initializer_range=0.05,  # flat rows: every id adds to the entropy's sum
    )
    torch.manual_seed(3)
    return local.LocalBackend(LlamaForCausalLM(config), tokenizer, name="wide-tiny")


def _numbers(backend, settings):
    backend.kv.clear()
    out = []
    for ev in backend.generate(Context("The quick brown"), settings):
        if ev.token is not None:
            t = ev.token
            top = [(a.token_id, a.logprob) for a in t.top]
            out.append((ev.index, t.token_id, t.logprob, t.entropy, t.sampling_logprob, top))
    return out


def _on_threads(n: int, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("rows", [1, 8])
def test_a_steps_numbers_are_the_same_on_one_thread_and_on_two(rows):
    """The same logits give the same entropy, top-k and draws whatever torch's thread count
    (the model's own matmuls may round differently on other thread counts: not ours)."""
    settings = GenerationSettings(temperature=0.8, logprobs_k=20)

    def step(seed: int):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(rows, WIDE, generator=g) * (1 + seed % 5)
        _, ent, top_v, top_i = raw_numbers(x, 20)
        chosen, drawn = sampling.draw(x, settings, torch.Generator().manual_seed(seed))
        return ent.tolist(), top_v.tolist(), top_i.tolist(), chosen.tolist(), drawn.tolist()

    one = _on_threads(1, lambda: [step(s) for s in range(12)])
    two = _on_threads(2, lambda: [step(s) for s in range(12)])
    # Before, the entropy's float32 sum split between two threads gave other last bits.
    assert one == two


def _old_raw_numbers(logits, k):
    """The step's numbers as torch's ops gave them."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    entropy = -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)
    top_values, top_ids = logp.topk(min(k, logp.shape[-1]), dim=-1)
    return logp, entropy, top_values, top_ids


def _old_draw(logits, settings, generator):
    if settings.temperature <= 0:
        return logits.argmax(dim=-1), None
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    chosen = torch.multinomial(probs, 1, generator=generator)
    return chosen[:, 0], probs.gather(-1, chosen)[:, 0].log()


@pytest.mark.parametrize("n,temperature", [(1, 0.0), (1, 1.0), (2, 0.8)])
def test_the_numbers_are_those_the_torch_ops_gave(wide_backend, monkeypatch, n, temperature):
    settings = GenerationSettings(max_tokens=16, n=n, temperature=temperature, seed=9)
    new = _numbers(wide_backend, settings)
    monkeypatch.setattr(local, "raw_numbers", _old_raw_numbers)
    monkeypatch.setattr(local, "draw", _old_draw)
    old = _numbers(wide_backend, settings)
    assert len(new) == len(old) == 16 * n

    def without_entropy(rows):
        return [row[:3] + row[4:] for row in rows]

    assert without_entropy(new) == without_entropy(old)  # ids, logprobs, top-k: bit for bit
    for a, b in zip(new, old, strict=True):
        assert a[3] == pytest.approx(b[3], rel=3e-7, abs=0)
    assert all(row[3] > 10 for row in new)  # flat rows: the whole vocabulary counts


def _entropy64(logits: torch.Tensor) -> list[float]:
    logp = torch.log_softmax(logits.double(), -1)
    p = logp.exp()
    return (-torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)).tolist()


def test_entropy_is_exact_and_masked_or_nan_terms_count_as_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, WIDE, generator=g) * 2
    x[1, :30_000] = float("-inf")  # masked logits: p = 0, p ln p = 0
    x[2, 7] = float("-inf")
    _, ent, _, _ = raw_numbers(x, 20)
    for got, want in zip(ent.tolist(), _entropy64(x), strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    # A NaN log-probability counts as p = 0, as the torch ops had it.
    logp = torch.log_softmax(x[:1], -1)
    logp[0, 3] = float("nan")
    assert math.isfinite(row_entropy(logp).item())
    assert row_entropy(logp).item() == pytest.approx(_old_raw_numbers(x[:1], 1)[1].item(), rel=1e-3)


def test_the_draw_picks_what_torch_multinomial_picks():
    for seed in range(40):
        g = torch.Generator().manual_seed(seed)
        probs = torch.softmax(torch.randn(1 + seed % 3, WIDE, generator=g) * 3, -1)
        if seed % 4 == 0:
            probs[:, : WIDE - 50] = 0  # a cut distribution (top-k, top-p)
        ours, theirs = torch.Generator(), torch.Generator()
        ours.manual_seed(100 + seed)
        theirs.manual_seed(100 + seed)
        assert torch.equal(
            multinomial(probs, ours), torch.multinomial(probs, 1, generator=theirs)[:, 0]
        )
        # The generator moved on alike: the next draws agree too.
        assert torch.equal(torch.rand(4, generator=ours), torch.rand(4, generator=theirs))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5])
def test_the_draw_refuses_what_torch_multinomial_refuses(bad):
    probs = torch.full((2, WIDE), 1.0 / WIDE)
    probs[1, 11] = bad
    with pytest.raises(RuntimeError, match="probability tensor"):
        torch.multinomial(probs, 1)
    with pytest.raises(RuntimeError, match="probability tensor"):
        multinomial(probs, torch.Generator())
    zero = torch.zeros(1, WIDE)
    with pytest.raises(RuntimeError, match="sum of probabilities"):
        multinomial(zero, torch.Generator())


def test_temperature_one_divides_nothing():
    x = torch.randn(2, WIDE)
    settings = GenerationSettings(temperature=1.0)
    assert torch.equal(sampling.sampling_probs(x, settings), torch.softmax(x / 1.0, -1))
