"""Confidence (DeepConf): −mean of a token's top-k logprobs, with k, per token and per node;
from API top-k lists (no vocabulary needed), in JSON and the jsonl export."""

from __future__ import annotations

import json
import math

import pytest

from loomtui.cli.jsonout import token_json
from loomtui.core.export import export
from loomtui.core.metrics import SENTINEL_LOGPROB, confidence, mean_confidence
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session


def _tok(lps: list[float], chosen: int = 0) -> Token:
    top = tuple(Alt(f"t{i}", f"t{i}".encode(), i, lp) for i, lp in enumerate(lps))
    return Token(f"t{chosen}", f"t{chosen}".encode(), chosen, lps[chosen], top)


def test_confidence_is_minus_the_mean_of_the_listed_logprobs_and_k_the_length():
    value, k = confidence(_tok([-0.1, -2.5, -4.0]).top)
    assert k == 3
    assert value == pytest.approx((0.1 + 2.5 + 4.0) / 3, abs=1e-12)
    # Peaked (one choice dominates) scores higher than flat: that is DeepConf's sense.
    peaked = confidence(_tok([-0.01, -6.0, -7.0]).top)[0]
    flat = confidence(_tok([-1.0, -1.1, -1.2]).top)[0]
    assert peaked > flat


def test_an_api_list_with_the_sampled_token_appended_and_sentinels_counts_each_once():
    # Legacy completions append the sampled token to its own top list; -9999 is "n/a".
    top = (
        Alt(" a", b" a", None, -0.5),
        Alt(" b", b" b", None, -1.5),
        Alt(" a", b" a", None, -0.5),
        Alt(" c", b" c", None, SENTINEL_LOGPROB),
    )
    value, k = confidence(top)
    assert k == 2 and value == pytest.approx(1.0)
    assert confidence(()) is None
    assert confidence([-1.0, -3.0]) == (pytest.approx(2.0), 2)


def test_node_confidence_is_the_mean_over_its_tokens_and_says_when_k_differs():
    same = [_tok([-0.2, -1.0]), _tok([-1.0, -3.0])]
    value, k, n = mean_confidence(same)
    assert (k, n) == (2, 2) and value == pytest.approx((0.6 + 2.0) / 2)
    mixed = [_tok([-0.2, -1.0]), _tok([-1.0, -3.0, -5.0])]
    value, k, n = mean_confidence(mixed)
    assert k is None and n == 2 and value == pytest.approx((0.6 + 3.0) / 2)
    untopped = Token("x", b"x", 1, -0.3)
    assert mean_confidence([untopped]) is None


def test_generate_json_token_carries_confidence_and_k():
    js = token_json(_tok([-0.3, -1.2, -2.7, -3.0]))
    assert js["confidence_k"] == len(js["top"]) == 4
    assert js["confidence"] == pytest.approx(-sum(a["logprob"] for a in js["top"]) / 4)
    bare = token_json(Token("x", b"x", 1, -0.3))
    assert bare["confidence"] is None and bare["confidence_k"] is None


def test_jsonl_export_carries_the_branch_mean_confidence():
    s = Session.new("Q:")
    node = s.add_child(s.current_id, tokens=[_tok([-0.2, -1.0]), _tok([-1.0, -3.0])])
    (line,) = export(s, "jsonl", node.id).decode().splitlines()
    rec = json.loads(line)
    assert rec["confidence_k"] == 2
    assert rec["mean_confidence"] == pytest.approx((0.6 + 2.0) / 2)
    assert math.isfinite(rec["mean_confidence"])


def test_a_packed_list_gives_what_its_alternatives_give():
    from array import array

    from loomtui.core.tokens import PackedTop, VocabTable

    vocab = VocabTable([(f"t{i}", f"t{i}".encode(), i) for i in range(6)])
    lps = array("f", [-0.1, -1.3, -2.2, -0.4, -0.4, -7.5, float("nan"), -0.2])
    cases = [
        PackedTop(vocab, array("I", [0, 1, 2, 3, 4, 5, 0, 1]), lps, 0, 6),  # fast path
        PackedTop(vocab, array("I", [0, 1, 1, 3]), lps, 0, 4),  # a repeated row
        PackedTop(vocab, array("I", [0, 1, 2, 3, 4, 5, 0, 1]), lps, 5, 8),  # a NaN
    ]
    for packed in cases:
        got = confidence(packed)
        want = confidence(tuple(packed))  # the general path over the same alternatives
        assert got[1] == want[1] and got[0] == pytest.approx(want[0], abs=1e-12)
    assert confidence(cases[1])[1] == 3 and confidence(cases[2])[1] == 2
