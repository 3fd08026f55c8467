"""Instruments run in a chat session read the chat context of the branch: the chat template's
prompt for the turns before the reply, then the assistant's partial reply as its own turn
(never the raw text as a completion). Checked on the real embedded SmolLM2-135M-Instruct
against plain forward passes over exactly those ids (tests/loomtests/reference.py)."""

from __future__ import annotations

import math

import pytest
from loomtests.reference import plain_logprobs

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments import compare, multiverse, probe, sweep
from loomtui.instruments.context import instrument_context

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
TOL = 1e-4


def template(backend, messages) -> list[int]:
    out = backend.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if not isinstance(out, list):
        out = out["input_ids"]
    return [int(i) for i in out]


@pytest.fixture
def chat(smollm):
    """A chat session: the question as the user's turn, answered greedily (8 tokens)."""
    session = Session.new()
    engine = Engine(session, smollm)
    q = engine.add(session.root_id, plain=QUESTION, origin="prompt", role="user")
    greedy = GenerationSettings(max_tokens=8, temperature=0, logprobs_k=5, chat=True)
    reply = engine.generate(q.id, None, greedy).nodes[0]
    head = template(smollm, [{"role": "user", "content": QUESTION}])
    return engine, reply, head


def test_the_context_inside_a_reply_is_the_template_plus_the_partial_reply(smollm, chat):
    engine, reply, head = chat
    reply_ids = [t.token_id for t in reply.tokens]
    ctx = instrument_context(engine.session, smollm, reply.id, 3)
    assert ctx.token_ids == head + reply_ids[:3]
    # What instruments read before: the raw text as a completion, a different context.
    raw = smollm.tokenize(engine.session.branch_text(reply.id))
    assert ctx.token_ids[: len(raw)] != raw
    # The app's screens read the same point through the same function.
    from loomtui.ui.screens.instruments.base import context_before

    assert context_before(engine.session, smollm, reply.id, 3).token_ids == ctx.token_ids


def test_multiverse_from_inside_a_reply(smollm, chat):
    engine, reply, head = chat
    ids = head + [t.token_id for t in reply.tokens[:3]]
    ctx = instrument_context(engine.session, smollm, reply.id, 3)
    mv = multiverse.expand(smollm, ctx, depth=2, top_k=3)
    rows = plain_logprobs(smollm, ids)
    first = rows[-1]
    assert [b.alt.token_id for b in mv.children] == first.topk(3).indices.tolist()
    for b in mv.children:
        assert b.alt.logprob == pytest.approx(float(first[b.alt.token_id]), abs=TOL)
    # The second level: the reply continued by the first-level token, still the assistant's.
    b = mv.children[0]
    second = plain_logprobs(smollm, ids + [b.alt.token_id])[-1]
    for c in b.children:
        want = float(first[b.alt.token_id]) + float(second[c.alt.token_id])
        assert c.path_logprob == pytest.approx(want, abs=TOL)
    # The greedy reply's own fourth token is what the multiverse ranks first.
    assert mv.children[0].alt.token_id == reply.tokens[3].token_id


def test_probe_from_inside_a_reply(smollm, chat):
    engine, reply, head = chat
    ids = head + [t.token_id for t in reply.tokens[:3]]
    ctx = instrument_context(engine.session, smollm, reply.id, 3)
    answers = [reply.tokens[3].text, " London", " Berlin"]
    res = probe.probe(smollm, ctx, answers)
    for cand in res.candidates:
        ans = smollm.tokenize(cand.text)
        rows = plain_logprobs(smollm, ids + ans)
        want = sum(float(rows[len(ids) - 1 + i][t]) for i, t in enumerate(ans))
        assert cand.logprob == pytest.approx(want, abs=TOL)
    lo, hi = res.next_entropy
    p = plain_logprobs(smollm, ids)[-1].exp()
    h = float(-(p * p.clamp_min(1e-300).log()).sum())
    assert lo == pytest.approx(h, abs=TOL) and hi == pytest.approx(h, abs=TOL)


def test_compare_scores_the_reply_after_the_chat_prompt(smollm, chat):
    engine, reply, head = chat
    reply_ids = [t.token_id for t in reply.tokens]
    cmp = compare.compare_branch(engine.session, reply.id, smollm, smollm, top_k=5)
    assert [t.token_id for t in cmp.a.tokens] == reply_ids
    rows = plain_logprobs(smollm, head + reply_ids)
    for i, tok in enumerate(cmp.a.tokens):
        assert tok.logprob == pytest.approx(float(rows[len(head) - 1 + i][tok.token_id]), abs=TOL)
    # Every token has a distribution before it; the same model on both sides: KL 0.
    assert all(s.kl is not None and abs(s.kl) < 1e-6 for s in cmp.segments)
    assert cmp.a.total_logprob == pytest.approx(
        sum(float(rows[len(head) - 1 + i][t]) for i, t in enumerate(reply_ids)), abs=1e-3
    )
    assert math.isfinite(cmp.a.total_logprob)


def test_sweep_variants_continue_the_assistant_turn(smollm, chat):
    engine, reply, head = chat
    reply_ids = [t.token_id for t in reply.tokens]
    sweep.sweep(engine, reply.id, 2, top_k=1, max_tokens=2, include_original=False)
    sent = list(smollm.last_stats["prompt_token_ids"])
    # The variant's continuation: template + the reply's first two tokens + the variant.
    assert sent[: len(head) + 2] == head + reply_ids[:2]
    assert len(sent) == len(head) + 3 and sent[-1] != reply_ids[2]


def test_multiverse_and_probe_verbs_with_chat_read_the_template(smollm, capsys):
    """`multiverse --chat --prompt Q` and `probe --chat`: the prompt is the user's turn and
    the numbers are those after the chat template's prompt."""
    import json

    from loomtui.cli import main

    head = template(smollm, [{"role": "user", "content": QUESTION}])
    assert (
        main(
            ["multiverse", "--chat", "--prompt", QUESTION, "--depth", "1", "--top-k", "2", "--json"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["prompt_token_ids"] == head
    first = plain_logprobs(smollm, head)[-1]
    for child in data["children"]:
        assert child["token_logprob"] == pytest.approx(float(first[child["token_id"]]), abs=TOL)
    assert (
        main(["probe", "--chat", "--prompt", QUESTION, "--candidates", "The,Paris", "--json"]) == 0
    )
    res = json.loads(capsys.readouterr().out)
    for cand in res["candidates"]:
        ans = smollm.tokenize(cand["text"])
        rows = plain_logprobs(smollm, head + ans)
        want = sum(float(rows[len(head) - 1 + i][t]) for i, t in enumerate(ans))
        assert cand["logprob"] == pytest.approx(want, abs=TOL)
