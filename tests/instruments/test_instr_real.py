"""The instruments' numbers against independent computations on the real embedded model
(SmolLM2-135M-Instruct): plain forward passes and log_softmax, no instrument code."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from loomtests.reference import plain_logprobs

from loomtui.backends.base import Context, FullDistribution, GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments import compare, multiverse, probe, sweep


@pytest.fixture(scope="session")
def other(smollm):
    """A second model with the same tokenizer: the embedded one with a sharper final norm
    (so every distribution differs, as a tuned model's would)."""
    from loomtui.backends.local import LocalBackend

    model = copy.deepcopy(smollm.model)
    with torch.no_grad():
        model.model.norm.weight.mul_(1.4)
    return LocalBackend(model, smollm.tokenizer, name="smollm-sharpened")


def test_multiverse_is_top_k_and_paths_multiply(smollm):
    prompt = "The capital of France is"
    ctx = Context(text=prompt, token_ids=smollm.tokenize(prompt))
    mv = multiverse.expand(smollm, ctx, depth=3, top_k=3)
    assert mv.calls == 3 and len(mv.leaves()) == 27
    n = len(ctx.token_ids)
    # One plain forward pass per checked leaf: its rows give every prefix's distribution.
    for leaf in mv.leaves()[::8]:  # leaves under different first and second tokens
        path = leaf.path()
        rows = plain_logprobs(smollm, ctx.token_ids + [b.alt.token_id for b in path])
        expect = 0.0
        for depth, b in enumerate(path):
            lp = rows[n - 1 + depth]
            # Each level's tokens are that prefix's own top-k, most likely first.
            sibs = b.parent.children if b.parent is not None else mv.children
            assert [c.alt.token_id for c in sibs] == torch.topk(lp, 3).indices.tolist()
            expect += float(lp[b.alt.token_id])
        assert leaf.path_logprob == pytest.approx(expect, abs=2e-3)
        assert leaf.prob == pytest.approx(math.prod(b.alt.prob for b in path), rel=1e-9)
    js = mv.to_json()
    assert js["prompt_token_ids"] == ctx.token_ids
    assert bytes.fromhex(js["children"][0]["bytes"]) == mv.children[0].alt.bytes


def test_probe_numbers_follow_the_digit_end_rule(smollm):
    prompt = "Pick a random number between 1 and 20. My number is"
    pre = smollm.tokenize(prompt)
    res = probe.probe(smollm, prompt, probe.range_candidates(1, 14), rule=probe.RULE_DIGIT)
    digit_ids = [i for i, b in enumerate(smollm.vocab_bytes()) if b[:1].isdigit()]
    assert len(digit_ids) >= 10
    for c in [res.candidates[i] for i in (0, 3, 9, 13)]:  # " 1", " 4", " 10", " 14"
        ids = pre + smollm.tokenize(c.text)
        rows = plain_logprobs(smollm, ids)
        seq = sum(float(rows[i - 1, ids[i]]) for i in range(len(pre), len(ids)))
        digit = float(torch.exp(rows[-1, digit_ids]).sum())
        assert c.logprob == pytest.approx(seq + math.log(1 - digit), abs=2e-3)
    # " 1" and " 10" share a first token; the end rule keeps " 1" from absorbing " 1x".
    one = res.candidates[0]
    assert one.tokens_logprob > one.logprob
    js = res.to_json()
    assert js["covered_mass"] == pytest.approx(sum(c["prob"] for c in js["candidates"]))
    assert 0 < js["covered_mass"] <= 1
    assert js["kl_uniform"] == pytest.approx(math.log(14) - js["entropy"])


def test_local_backend_declares_full_distributions(smollm, other):
    """The capability is declared, its rows are numpy as wide as the mask, and the mask is
    kept on each backend (two backends never share one by accident)."""
    assert isinstance(smollm, FullDistribution)
    ids = smollm.tokenize("My number is 7")
    rows = smollm.full_logprobs([ids], 2)[0]
    assert type(rows).__module__ == "numpy" and rows.shape[0] == len(ids) - 1
    mask = smollm.digit_start_mask()
    assert mask.dtype == bool and mask.shape == (rows.shape[1],)
    assert mask.nonzero()[0].tolist() == [
        i for i, b in enumerate(smollm.vocab_bytes()) if b[:1].isdigit()
    ]
    assert smollm.digit_start_mask() is mask and other.digit_start_mask() is not mask
    plain = plain_logprobs(smollm, ids)[1:]
    assert float(abs(torch.from_numpy(rows).double() - plain).max()) < 2e-3


def test_compare_totals_equal_each_models_own_score(smollm, other):
    text = "Once upon a time, a small dog found a red ball in the garden."
    cmp = compare.compare(smollm, other, text)
    assert cmp.same_tokens
    for side, backend in ((cmp.a, smollm), (cmp.b, other)):
        own = backend.score(text)
        assert side.total_logprob == pytest.approx(
            sum(t.logprob for t in own.tokens if t.logprob is not None), abs=1e-4
        )
    # Per-position KL against a plain computation at one position.
    ids = smollm.tokenize(text)
    pa = plain_logprobs(smollm, ids)
    pb = plain_logprobs(other, ids)
    i = 5
    kl = float((pa[i - 1].exp() * (pa[i - 1] - pb[i - 1])).sum())
    assert cmp.segments[i].kl == pytest.approx(kl, rel=1e-3, abs=1e-5)
    assert all(s.kl is not None and s.kl >= 0 for s in cmp.segments[1:])
    assert cmp.disagreements(3)[0].diff is not None


def test_sweep_on_real_model_keeps_all_branches(smollm):
    s = Session.new("The cat sat on the")
    eng = Engine(s, smollm)
    node = eng.generate(s.current_id, None, GenerationSettings(max_tokens=6, temperature=0)).nodes[
        0
    ]
    res = sweep.sweep(eng, node.id, 0, top_k=3, max_tokens=12)
    assert len(res.variants) == 4
    firsts = {s.node(v.node_id).tokens[0].token_id for v in res.variants}
    assert len(firsts) == 4  # four different first tokens, each its own branch
    for v in res.variants:
        assert len(s.node(v.cont_node_id).tokens) == 12
    # The original's greedy continuation reproduces the first greedy run.
    orig = res.variants[0]
    assert s.node(orig.cont_node_id).text == node.text[len(node.tokens[0].text) :] or (
        s.node(orig.cont_node_id).text.startswith("".join(t.text for t in node.tokens[1:6]))
    )
