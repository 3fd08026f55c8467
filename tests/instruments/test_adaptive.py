"""Adaptive looming on the fakes (one generation per node) and the tiny random Llama (the
forking, batched decoder): the tree's shape, each node's reason, the depth and budget
limits, stop strings, cancel, and the tree landing in the session."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest
import torch
from loomtests.reference import entropy_of, plain_logprobs

from loomtui.core.metrics import entropy_bounds
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments.adaptive import AdaptiveSettings, commit, loom
from loomtui.instruments.progress import Cancelled


def _grow(backend, settings, prompt="The cat", **kw):
    session = Session.new(prompt)
    engine = Engine(session, backend)
    return session, engine, loom(engine, session.current_id, None, settings, **kw)


def _path_ids(g):
    chain = []
    while g is not None:
        chain.append(g)
        g = g.parent
    return [t.token_id for n in reversed(chain) for t in n.tokens]


def _fake_truth(backend, ids):
    """The fake's own distribution after ``ids`` (its model, not the instrument's numbers)."""
    lp = backend._logprobs(ids)
    return lp, float(-(lp.exp() * lp).sum())


def test_every_branch_point_is_uncertain_and_every_other_token_greedy_and_sure(fake):
    s = AdaptiveSettings(entropy=1.8, top_k=3, max_depth=2, max_tokens=6, max_nodes=100)
    _, _, res = _grow(fake, s)
    prompt = fake.tokenize("The cat")
    points = res.branch_points()
    assert points and not res.batched
    for g in res.nodes:
        assert g.depth <= 2
        start = prompt + _path_ids(g.parent) if g.parent is not None else list(prompt)
        ids = list(start)
        for i, tok in enumerate(g.tokens):
            lp, h = _fake_truth(fake, ids)
            assert tok.entropy == pytest.approx(h)  # the numbers of its own distribution
            assert tok.logprob == pytest.approx(float(lp[tok.token_id]))
            if i > 0 or g.parent is None:  # greedy, from a distribution under H
                assert tok.token_id == int(lp.argmax()) and h < 1.8
            ids.append(tok.token_id)
        lp, h = _fake_truth(fake, ids)
        if g.finish_reason == "branch":
            assert h >= 1.8 and g.reason == f"entropy {h:.2f} >= 1.8"
            want = torch.topk(lp, 3).indices.tolist()
            assert [c.tokens[0].token_id for c in g.children] == want
            for c in g.children:  # a child's first token: the branch point's numbers
                assert c.tokens[0].entropy == pytest.approx(h)
                assert c.depth == g.depth + 1
        elif g.reason == "depth":
            assert g.depth == 2 and h >= 1.8 and not g.children
        else:
            assert g.reason == "max tokens" and len(g.tokens) == 6
    assert any(g.reason == "depth" for g in res.nodes)


def test_an_api_branches_on_the_entropy_lower_bound(make_fake):
    api = make_fake(full=False)
    s = AdaptiveSettings(entropy=1.5, top_k=2, max_depth=1, max_tokens=5, logprobs_k=5)
    _, _, res = _grow(api, s)
    assert not res.exact
    point = res.branch_points()[0]
    kid = point.children[0].tokens[0]
    assert kid.entropy is None  # an API tells no entropy: the bound from its top-k list
    low = entropy_bounds(kid.top, 41).lower
    assert point.reason == f"entropy {low:.2f} >= 1.5 (lower bound)"
    assert point.branch["entropy"] == pytest.approx(low) and not point.branch["entropy_exact"]


def test_a_sure_model_gives_one_node_of_t_tokens(fake):
    s = AdaptiveSettings(entropy=50.0, top_k=3, max_depth=2, max_tokens=7)
    _, _, res = _grow(fake, s)
    assert len(res.kept()) == 1 and not res.branch_points()
    only = res.kept()[0]
    assert len(only.tokens) == 7 and only.reason == "max tokens"
    assert only.finish_reason == "length"


def test_probability_rule_and_min_p(fake):
    s = AdaptiveSettings(entropy=None, p=0.4, top_k=4, max_depth=1, max_tokens=6, min_p=0.1)
    _, _, res = _grow(fake, s)
    point = res.branch_points()[0]
    p = point.children[0].tokens[0].prob
    assert p < 0.4 and point.reason == f"p {p:.2f} < 0.4"
    probs = [c.tokens[0].prob for c in point.children]
    assert probs[0] == max(probs) and all(q >= 0.1 for q in probs[1:])
    top4 = [a.prob for a in point.children[0].tokens[0].top[:4]]
    assert len(probs) == 1 + sum(q >= 0.1 for q in top4[1:])


def test_the_node_budget_caps_the_tree(fake):
    s = AdaptiveSettings(entropy=1.0, top_k=3, max_depth=5, max_tokens=4, max_nodes=8)
    _, _, res = _grow(fake, s)
    assert len(res.kept()) <= 8
    assert any(g.reason == "budget" for g in res.nodes)
    assert all(len(g.children) in (0, 3) for g in res.nodes)


def test_a_stop_string_ends_a_branch_before_it(fake):
    s = AdaptiveSettings(entropy=50.0, top_k=2, max_depth=1, max_tokens=12)
    _, _, free = _grow(fake, s)
    text = free.kept()[0].text
    stop = text[len(text) // 2 :][:2]
    _, _, res = _grow(fake, dataclasses.replace(s, stop=(stop,)))
    node = res.kept()[0]
    assert node.reason == "stop" and stop not in node.text
    assert text.startswith(node.text) and len(node.text) < len(text)


def test_cancel_keeps_nothing(fake):
    session = Session.new("The cat")
    saves = []
    engine = Engine(session, fake, on_change=lambda s: saves.append(1))
    before = set(session.nodes)
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done >= 2:
            cancel.set()

    s = AdaptiveSettings(entropy=2.0, top_k=3, max_depth=2, max_tokens=5)
    with pytest.raises(Cancelled):
        loom(engine, session.current_id, None, s, progress=progress, cancel=cancel)
    assert set(session.nodes) == before and not saves
    assert seen[0] == (1, s.bound()) and s.bound() == 13


def test_commit_hangs_the_tree_at_the_point_in_one_save(fake, tmp_path):
    session = Session.new("The cat")
    saves = []
    engine = Engine(session, fake, on_change=lambda s: saves.append(1))
    prompt = session.current_id
    s = AdaptiveSettings(entropy=2.0, top_k=2, max_depth=2, max_tokens=5)
    res = loom(engine, prompt, None, s)
    added = commit(engine, prompt, None, res)
    assert len(saves) == 1 and session.current_id == prompt
    assert len(added) == len(res.kept())
    for g in res.kept():
        node = session.node(g.node_id)
        assert node.tokens == g.tokens and node.finish_reason == g.finish_reason
        assert node.meta["adaptive"]["reason"] == g.reason
        if g.parent is not None:  # why it is there, even when its parent is no node
            assert node.meta["adaptive"]["after"] == g.parent.reason
        assert node.settings["instrument"] == "adaptive"
        parent = prompt if g.parent is None or g.parent.hangs_at_point else g.parent.node_id
        assert node.parent == parent
    # Every path is the prompt and then what the run grew, token for token.
    for leaf in [g for g in res.kept() if not g.children]:
        assert session.branch_text(leaf.node_id) == "The cat" + "".join(
            n.text for n in _chain(leaf)
        )


def _chain(g):
    out = []
    while g is not None:
        out.append(g)
        g = g.parent
    return out[::-1]


def test_growing_inside_a_node_reads_the_text_before_the_point(fake):
    session = Session.new("The cat sat on the mat")
    engine = Engine(session, fake)
    node = engine.add(session.current_id, tokens=fake.score(" the dog ran home").tokens)
    s = AdaptiveSettings(entropy=50.0, max_tokens=3)
    res = loom(engine, node.id, 2, s)  # after " the dog"
    want_ids = fake.tokenize("The cat sat on the mat the dog")
    assert res.prompt_token_ids == want_ids
    commit(engine, node.id, 2, res)
    assert session.node(node.id).text == " the dog"  # cut at the point; the rest beside
    assert session.branch_text(res.kept()[0].node_id).startswith("The cat sat on the mat the dog")


# -- the batched path, on the tiny random Llama ---------------------------------------------


def _canon(res):
    def path(g):
        return tuple(n.data for n in _chain(g))

    return sorted((path(g), g.reason, tuple(t.token_id for t in g.tokens)) for g in res.nodes)


def _logprobs(res):
    return {tuple(n.data for n in _chain(g)): [t.logprob for t in g.tokens] for g in res.nodes}


def test_batched_grows_the_same_tree_as_one_branch_at_a_time(tiny_backend):
    s = AdaptiveSettings(entropy=3.3, top_k=3, max_depth=2, max_tokens=6)
    _, _, fast = _grow(tiny_backend, s, prompt="The quick brown")
    _, _, slow = _grow(tiny_backend, s, prompt="The quick brown", batched=False)
    assert fast.batched and not slow.batched
    assert len(fast.branch_points()) >= 3
    assert _canon(fast) == _canon(slow)
    slow_lps = _logprobs(slow)  # batched float32 sums may differ in the last bits
    for path, lps in _logprobs(fast).items():
        assert lps == pytest.approx(slow_lps[path], abs=1e-4)
    # A forward pass decodes a whole group of children at once: fewer passes than tokens.
    assert fast.model_calls < fast.tokens
    assert fast.prompt_token_ids == slow.prompt_token_ids


def test_batched_children_are_the_top_k_of_a_plain_forward_pass(tiny_backend):
    s = AdaptiveSettings(entropy=3.3, top_k=3, max_depth=2, max_tokens=5)
    _, _, res = _grow(tiny_backend, s, prompt="The quick brown")
    prompt = res.prompt_token_ids
    for g in res.nodes:
        ids = prompt + _path_ids(g)
        rows = plain_logprobs(tiny_backend, ids)
        last = rows[-1]
        if g.finish_reason == "branch":
            assert entropy_of(last) >= 3.3
            assert [c.tokens[0].token_id for c in g.children] == torch.topk(
                last, 3
            ).indices.tolist()
        # Every greedy token: the argmax of its row, whose entropy is under H.
        first = len(prompt) + len(_path_ids(g.parent) if g.parent else [])
        for i, tok in enumerate(g.tokens):
            if i == 0 and g.parent is not None:
                continue
            row = rows[first + i - 1]
            assert tok.token_id == int(row.argmax())
            assert tok.entropy == pytest.approx(entropy_of(row), abs=1e-4) and tok.entropy < 3.3
            assert math.isclose(tok.logprob, float(row[tok.token_id]), abs_tol=1e-4)


def test_cancel_stops_the_batched_decoder_between_steps(tiny_backend):
    session = Session.new("The quick brown")
    engine = Engine(session, tiny_backend)
    before = set(session.nodes)
    cancel = threading.Event()
    s = AdaptiveSettings(entropy=3.3, top_k=3, max_depth=2, max_tokens=6)
    done = []

    def progress(n, total):
        done.append(n)
        cancel.set()  # after the first finished node

    with pytest.raises(Cancelled):
        loom(engine, session.current_id, None, s, progress=progress, cancel=cancel)
    # Rows that end in the same lockstep step finish together; then the run stops.
    assert max(done) <= s.top_k and set(session.nodes) == before
