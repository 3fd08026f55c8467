"""The collapse instrument on the fake models (fast): the JSON shape the issue asks for, the
numbers against the fake's own distributions, bounds on a top-k-only model, the samples as
branches marked by model, progress and cancel, and the matching temperature."""

from __future__ import annotations

import math
import re
import threading

import pytest
import torch

from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments import collapse as col
from loomtui.instruments.probe import RULE_DIGIT, range_candidates
from loomtui.instruments.progress import Cancelled

PROMPT = "The cat sat on the mat. I pick a number:"


def _run(a, b, **kw):
    session = Session.new(PROMPT)
    engine = Engine(session, a)
    node_id = session.current_id
    kw.setdefault("answers", range_candidates(1, 5))
    kw.setdefault("rule", RULE_DIGIT)
    res = col.collapse(
        engine,
        b,
        [node_id],
        n=5,
        temperatures=(0.5, 1.0),
        max_tokens=4,
        greedy_tokens=5,
        seed=7,
        **kw,
    )
    return session, node_id, res


def _entropy(lp: torch.Tensor) -> float:
    return float(-(lp.exp() * lp).sum())


def test_json_has_the_issues_shape_and_the_fakes_numbers(make_fake):
    a, b = make_fake(name="base", seed=1), make_fake(name="tuned", seed=2)
    session, node_id, res = _run(a, b)
    js = res.to_json()
    assert js["models"] == ["base", "tuned"]
    (p,) = js["prompts"]
    assert p["prompt"] == PROMPT
    ids = a.tokenize(PROMPT)
    for m, backend in zip(p["by_model"], (a, b), strict=True):
        for key in (
            "model",
            "prompt_token_ids",
            "next_token",
            "answers",
            "answer_entropy",
            "samples",
            "distinct",
            "top_sample_share",
            "by_temperature",
        ):
            assert key in m, key
        assert m["prompt_token_ids"] == ids
        lp = backend._logprobs(ids)
        nt = m["next_token"]
        assert nt["entropy"] == pytest.approx(_entropy(lp), abs=1e-6)
        assert nt["entropy_bounds"] is None
        assert nt["top1_p"] == pytest.approx(float(lp.exp().max()), abs=1e-6)
        assert [t["token_id"] for t in nt["top"]] == torch.topk(lp, 10).indices.tolist()
        assert set(nt["top"][0]) >= {"text", "token_id", "logprob"}
        # " 3": one token, then the digit end rule (the fake's " 3" is one token).
        three = m["answers"][2]
        assert three["answer"] == " 3"
        after = backend._logprobs([*ids, backend.tokenize(" 3")[0]])
        digit = sum(float(after[i].exp()) for i in range(10))  # "0".."9" start with a digit
        assert three["p"] == pytest.approx(
            float(lp[backend.tokenize(" 3")[0]].exp()) * (1 - digit), rel=1e-6
        )
        ps = [x["p"] for x in m["answers"]]
        shares = [x / sum(ps) for x in ps]
        assert m["answer_entropy"] == pytest.approx(-sum(s * math.log(s) for s in shares), abs=1e-9)
        for row in m["by_temperature"]:
            t = row["t"]
            assert row["next_token_entropy"] == pytest.approx(
                _entropy(torch.log_softmax(lp / t, -1)), abs=1e-6
            )
    sa = [x["share"] for x in p["by_model"][0]["answers"]]
    sb = [x["share"] for x in p["by_model"][1]["answers"]]
    assert p["kl_answers_a_b"] == pytest.approx(
        sum(x * math.log(x / y) for x, y in zip(sa, sb, strict=True)), abs=1e-9
    )


def test_samples_are_branches_marked_by_model_and_counted_from_them(make_fake):
    a, b = make_fake(name="base", seed=1), make_fake(name="tuned", seed=2)
    session, node_id, res = _run(a, b)
    children = session.children(node_id)
    by_model = {"base": [], "tuned": []}
    for child in children:
        by_model[child.model].append(child)
    # 2 temperatures x 5 samples + 1 greedy continuation, per model
    assert {k: len(v) for k, v in by_model.items()} == {"base": 11, "tuned": 11}
    js = res.to_json()
    for m in js["prompts"][0]["by_model"]:
        for row in m["by_temperature"]:
            nodes = [session.node(i) for i in row["sample_node_ids"]]
            assert all(nd.model == m["model"] and nd.parent == node_id for nd in nodes)
            assert all(nd.meta["collapse"] == {"role": "sample", "t": row["t"]} for nd in nodes)
            texts = [nd.text for nd in nodes]
            assert row["samples"] == texts
            assert row["distinct"] == len(set(texts))
            assert row["top_sample_share"] == max(texts.count(t) for t in texts) / len(texts)
            given = [
                next((f" {d}" for d in range(1, 6) if re.match(rf" {d}(?!\d)", t)), None)
                for t in texts
            ]
            assert row["sample_answers"] == given
            assert sum(row["answer_counts"].values()) == sum(g is not None for g in given)
        g = session.node(m["greedy"]["node_id"])
        assert g.model == m["model"] and g.meta["collapse"]["role"] == "greedy"
        assert m["samples"] == next(r["samples"] for r in m["by_temperature"] if r["t"] == 1.0)
    assert session.current_id == node_id  # the run leaves the cursor where it was


def test_top_k_only_model_gets_bounds_and_no_temperature_curve(make_fake):
    a, api = make_fake(name="base", seed=1), make_fake(name="api", seed=2, full=False)
    _, _, res = _run(a, api)
    js = res.to_json()
    a_js, api_js = js["prompts"][0]["by_model"]
    lo, hi = api_js["next_token"]["entropy_bounds"]
    assert api_js["next_token"]["entropy"] is None and lo <= hi
    true = _entropy(api._logprobs(api.tokenize(PROMPT)))
    assert lo - 1e-9 <= true <= hi + 1e-9
    assert all(r["next_token_entropy"] is None for r in api_js["by_temperature"])
    assert api_js["matching_temperature"]["t"] is None  # no logits to temper
    assert a_js["matching_temperature"]["t"] is None  # no exact target to match
    assert any("bounds" in n for n in js["notes"])


def test_progress_counts_every_step_and_cancel_takes_everything_back(make_fake):
    a, b = make_fake(name="base", seed=1), make_fake(name="tuned", seed=2)
    seen: list[tuple[int, int]] = []
    _run(a, b, progress=lambda d, t: seen.append((d, t)))
    # per model: next token, answers, two temperatures, greedy
    assert seen == [(i, 10) for i in range(1, 11)]
    session = Session.new(PROMPT)
    engine = Engine(session, a)
    before = set(session.nodes)
    cancel = threading.Event()

    def stop_midway(done: int, total: int) -> None:
        if done == 6:  # inside model B's run, after model A's branches were added
            cancel.set()

    with pytest.raises(Cancelled):
        col.collapse(
            engine,
            b,
            [session.current_id],
            n=3,
            temperatures=(1.0,),
            max_tokens=3,
            greedy_tokens=3,
            answers=[" 1", " 2"],
            progress=stop_midway,
            cancel=cancel,
        )
    assert set(session.nodes) == before


def test_matching_temperature_finds_the_base_entropy():
    row = torch.log_softmax(torch.tensor([4.0, 1.0, 0.5, 0.0, -1.0, -3.0], dtype=torch.float64), -1)
    flat = torch.log_softmax(torch.tensor([1.0, 0.9, 0.5, 0.2, 0.0, -0.2], dtype=torch.float64), -1)
    target = _entropy(flat)
    t = col.matching_temperature(row.numpy(), target)
    assert t is not None and t > 1  # the peaked model must be heated to look like the flat one
    assert _entropy(torch.log_softmax(row / t, -1)) == pytest.approx(target, abs=1e-7)
    # Hotter than uniform is out of reach; colder than a point mass too.
    assert col.matching_temperature(row.numpy(), math.log(6) + 0.01) is None
    assert col.matching_temperature(row.numpy(), 0.0) is None


def test_ngram_overlap_of_token_samples():
    assert col.mean_pairwise_overlap([[1, 2, 3, 4], [1, 2, 3, 4]], 3) == 1.0
    # {123, 234} vs {123, 235}: one shared of three
    assert col.mean_pairwise_overlap([[1, 2, 3, 4], [1, 2, 3, 5]], 3) == pytest.approx(1 / 3)
    assert col.mean_pairwise_overlap([[7], [7], [8]], 3) == pytest.approx(1 / 3)
    assert col.mean_pairwise_overlap([[1, 2]], 3) == 1.0
