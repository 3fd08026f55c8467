"""The instruments' bookkeeping, checked on a small deterministic fake model whose every
number can be recomputed by hand (fast; the real model's checks are in test_instr_real)."""

from __future__ import annotations

import math

import pytest
import torch

from loomtui.backends.base import Context, FullDistribution
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments import compare, entropy, multiverse, probe, replay, sweep


def _lp(fake, ids):
    return fake._logprobs(ids)


def test_multiverse_children_are_top_k_and_paths_multiply(fake):
    ctx = Context(text="The cat", token_ids=fake.tokenize("The cat"))
    mv = multiverse.expand(fake, ctx, depth=3, top_k=3)
    assert mv.calls == 3  # one batched call per level
    assert len(mv.leaves()) == 27
    top = torch.topk(_lp(fake, ctx.token_ids), 3).indices.tolist()
    assert [b.alt.token_id for b in mv.children] == top
    for leaf in mv.leaves():
        ids = list(ctx.token_ids)
        expect = 0.0
        for b in leaf.path():
            expect += float(_lp(fake, ids)[b.alt.token_id])
            ids.append(b.alt.token_id)
        assert leaf.prob == pytest.approx(math.exp(expect), rel=1e-9)
    # Children's path probabilities sum to at most the parent's.
    for b in mv.walk():
        if b.children:
            assert sum(c.prob for c in b.children) <= b.prob + 1e-12
    js = mv.to_json()
    assert js["children"][0]["bytes"] == mv.children[0].alt.bytes.hex()
    assert js["children"][0]["children"][0]["prob"] == pytest.approx(
        mv.children[0].children[0].prob
    )


def test_multiverse_unbatched_gives_same_numbers(make_fake):
    a, b = make_fake(), make_fake()
    ctx = Context(text="The", token_ids=a.tokenize("The"))
    mb = multiverse.expand(a, ctx, 2, 4)
    mu = multiverse.expand(b, ctx, 2, 4, batched=False)
    assert [x.prob for x in mb.walk()] == [x.prob for x in mu.walk()]
    assert b.calls == 1 + 4 and a.calls == 2


def test_multiverse_insert_path_and_layout(fake):
    s = Session.new("The cat")
    ctx = Context(text="The cat", token_ids=fake.tokenize("The cat"))
    mv = multiverse.expand(fake, ctx, 2, 2)
    leaf = mv.children[1].children[0]
    saves = []
    engine = Engine(s, fake, on_change=saves.append)
    node = multiverse.insert_path(engine, s.current_id, None, mv, leaf, model="fake")
    assert s.branch_text(node.id) == "The cat" + leaf.path_bytes().decode()
    # saved once, and complete: never taken for an interrupted generation on reopen
    assert len(saves) == 1 and node.finish_reason == "inserted"
    from loomtui.core.journal import mark_interrupted

    assert mark_interrupted(s) == 0 and node.error is None
    assert node.tokens[1].top[0] == mv.children[1].dist.top[0]
    blocks = multiverse.layout(mv.children, 1.0, 40)
    assert sum(bl.rows for bl in blocks) == 40
    assert blocks[0].rows == round(mv.children[0].prob * 40)


def test_probe_digit_rule_exact(fake):
    res = probe.probe(fake, "I pick:", probe.range_candidates(1, 12), rule=probe.RULE_DIGIT)
    pre = fake.tokenize("I pick:")
    for c in res.candidates:
        ids = pre + fake.tokenize(c.text)
        lp = sum(float(_lp(fake, ids[:i])[ids[i]]) for i in range(len(pre), len(ids)))
        after = _lp(fake, ids).exp()
        digit = float(sum(after[t] for t in range(20) if t < 10))  # "0".."9" start with a digit
        assert c.prob == pytest.approx(math.exp(lp) * (1 - digit), rel=1e-6)
    js = res.to_json()
    assert "does not start with a digit" in js["rule"]
    assert js["covered_mass"] == pytest.approx(sum(c.prob for c in res.candidates))
    q = [c.prob / res.covered_mass for c in res.candidates]
    assert js["entropy"] == pytest.approx(-sum(x * math.log(x) for x in q))
    assert js["kl_uniform"] == pytest.approx(math.log(12) - js["entropy"])


def test_probe_api_gives_bounds_that_hold(make_fake):
    exact = probe.probe(make_fake(), "I pick:", [" 4", " 42", " 7"], rule=probe.RULE_DIGIT)
    api = probe.probe(make_fake(full=False), "I pick:", [" 4", " 42", " 7"], rule=probe.RULE_DIGIT)
    assert api.exact is False and exact.exact is True
    for c_api, c_ex in zip(api.candidates, exact.candidates, strict=True):
        lo, hi = c_api.prob_bounds
        assert lo - 1e-9 <= c_ex.prob <= hi + 1e-9
    lo, hi = api.next_entropy
    assert lo <= exact.next_entropy[0] + 1e-9 <= hi + 2e-9


def test_probe_without_prompt_scoring_walks_top_k(make_fake):
    answers = [" 4", " 42", " 7", " the", " cat"]
    exact = probe.probe(make_fake(), "I pick:", answers, rule=probe.RULE_DIGIT)
    walked = probe.probe(
        make_fake(full=False, scores=False, k_cap=8), "I pick:", answers, rule=probe.RULE_DIGIT
    )
    assert any("cannot score" in n for n in walked.notes)
    assert any(not c.exact for c in walked.candidates)
    for c_w, c_ex in zip(walked.candidates, exact.candidates, strict=True):
        lo, hi = c_w.prob_bounds
        assert lo - 1e-12 <= c_ex.prob <= hi + 1e-12
        assert lo <= c_w.prob <= hi


def test_compare_totals_and_kl(make_fake):
    a, b = make_fake("a", seed=1), make_fake("b", seed=2)
    text = "The cat sat on the mat."
    cmp = compare.compare(a, b, text)
    assert cmp.same_tokens
    own = a.score(text).tokens
    # The fake scores without a prefix, as an API does: the first token has no logprob, so
    # the text's total is unknown (never a sum over the tokens that happen to have one).
    assert own[0].logprob is None
    assert cmp.a.total_logprob is None and cmp.segments[0].a_logprob is None
    assert any(n.startswith("a gave no logprob") for n in cmp.notes)
    rest = [s.a_logprob for s in cmp.segments[1:]]
    assert sum(rest) == pytest.approx(sum(t.logprob for t in own[1:]))
    ids = a.tokenize(text)
    for i, seg in enumerate(cmp.segments[1:], start=1):
        pa, pb = _lp(a, ids[:i]), _lp(b, ids[:i])
        assert seg.kl == pytest.approx(float((pa.exp() * (pa - pb)).sum()), rel=1e-4)
        assert seg.diff == pytest.approx(float(pb[ids[i]] - pa[ids[i]]), abs=1e-5)
    same = compare.compare(a, make_fake("a", seed=1), text)
    assert all(s.kl == pytest.approx(0.0, abs=1e-6) for s in same.segments[1:])


def test_segments_align_different_tokenizations():
    from loomtui.core.tokens import Token

    a = [Token("ab", b"ab", 1, -1.0), Token("c", b"c", 2, -2.0)]
    b = [Token("a", b"a", 1, -0.5), Token("bc", b"bc", 2, -0.25)]
    pairs = compare.segments(a, b)
    assert len(pairs) == 1 and len(pairs[0][0]) == 2 and len(pairs[0][1]) == 2


def test_sweep_keeps_all_branches(fake):
    s = Session.new("The cat")
    eng = Engine(s, fake)
    from loomtui.backends.base import GenerationSettings

    gen = eng.generate(s.current_id, None, GenerationSettings(max_tokens=6, temperature=0))
    node = gen.nodes[0]
    before = len(s.nodes)
    res = sweep.sweep(eng, node.id, 2, top_k=3, max_tokens=8)
    assert len(res.variants) == 4 and res.variants[0].is_original
    for v in res.variants:
        assert v.cont_node_id in s.nodes
        assert s.node(v.cont_node_id).tokens and len(s.node(v.cont_node_id).tokens) == 8
    assert len(s.nodes) > before
    # Each variant is its own branch through its substituted token.
    labels = [s.node(v.node_id).tokens[0].text for v in res.variants]
    assert labels == [v.label for v in res.variants]
    assert len({v.node_id for v in res.variants}) == 4
    assert "of 4 perturbations" in res.summary()


def test_final_sentence_and_attractor():
    assert sweep.final_sentence("a b. The end. trailing") == "The end."
    assert sweep.final_sentence("One. Two!") == "Two!"


def test_replay_builds_parallel_tree(make_fake):
    from loomtui.backends.base import GenerationSettings

    a = make_fake("a", seed=1)
    s = Session.new("The cat")
    eng = Engine(s, a)
    r1 = eng.generate(s.current_id, None, GenerationSettings(max_tokens=4, n=2, seed=3))
    eng.generate(r1.nodes[0].id, None, GenerationSettings(max_tokens=3, temperature=0))
    b = make_fake("b", seed=2)
    out = replay.replay(s, b)
    assert out.points == 2
    new = out.session
    assert len(new.nodes) == len(s.nodes) + 3 and len(s.nodes) == 5
    for originals, replayed in out.pairs:
        assert len(originals) == len(replayed)
        for o, n in zip(originals, replayed, strict=True):
            assert new.node(n).parent == new.node(o).parent
            assert new.node(n).model == "b"
            assert len(new.node(n).tokens) == len(new.node(o).tokens)


def test_entropy_strip(fake):
    s = Session.new("The")
    eng = Engine(s, fake)
    from loomtui.backends.base import GenerationSettings

    node = eng.generate(s.current_id, None, GenerationSettings(max_tokens=10)).nodes[0]
    pts = entropy.entropy_points(s, node.id)
    assert len(pts) == 10
    top = entropy.most_uncertain(pts, 3)
    assert top[0].entropy == max(p.entropy for p in pts)
    line = entropy.sparkline([p.entropy for p in pts])
    assert len(line) == 10 and line[[p.entropy for p in pts].index(top[0].entropy)] == "█"
    assert entropy.next_uncertain(pts, (top[0].node_id, top[0].offset), 3) is top[1]
    assert len(entropy.sparkline([1.0] * 100, width=20)) == 20


def test_full_distribution_is_a_declared_capability(make_fake):
    """Exact numbers only from a backend that declares :class:`FullDistribution`; its digit
    mask is built once and kept on that backend, never shared with another."""
    full, api = make_fake(), make_fake(full=False)
    assert isinstance(full, FullDistribution) and not isinstance(api, FullDistribution)
    for _ in range(2):
        res = probe.probe(full, "I pick:", [" 4", " 7"], rule=probe.RULE_DIGIT)
        assert res.exact
    assert full.masks_built == 1
    other = make_fake()
    probe.probe(other, "I pick:", [" 4"], rule=probe.RULE_DIGIT)
    assert other.masks_built == 1 and other.digit_start_mask() is not full.digit_start_mask()
    assert not probe.probe(api, "I pick:", [" 4"], rule=probe.RULE_DIGIT).exact
