"""JSON-lines exports carry each branch's mean entropy per token: exact where the model gave
it, else the range a top-k list allows (open above: an export knows no vocabulary size)."""

from __future__ import annotations

import json
import math

import pytest

from loomtui.core.export import export
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session


def _lower(lps: list[float]) -> float:
    """The lower bound written out from its definition: the listed terms plus the unseen
    mass at the smallest listed probability."""
    known = -sum(math.exp(lp) * lp for lp in lps)
    return known - (1 - sum(math.exp(lp) for lp in lps)) * min(lps)


def _session(exact: bool) -> Session:
    s = Session.new("Pick:")
    tops = [[-0.5, -1.5, -2.5], [-0.25, -2.0, -3.0]]
    toks = []
    for i, lps in enumerate(tops):
        top = tuple(
            Alt(f"t{i}{j}", f"t{i}{j}".encode(), 10 * i + j, lp) for j, lp in enumerate(lps)
        )
        toks.append(
            Token(
                top[0].text,
                top[0].bytes,
                top[0].token_id,
                lps[0],
                top,
                (1.0 + i) if exact else None,
            )
        )
    node = s.add_child(s.current_id, origin="model", tokens=toks, model="m", backend="api")
    s.current_id = node.id
    return s


def test_a_top_k_only_branch_exports_a_lower_bound_and_no_upper():
    (line,) = export(_session(exact=False), "jsonl").decode().splitlines()
    lo, hi = json.loads(line)["mean_entropy_bounds"]
    want = (_lower([-0.5, -1.5, -2.5]) + _lower([-0.25, -2.0, -3.0])) / 2
    assert lo == pytest.approx(want, abs=1e-12) and hi is None


def test_an_exact_branch_exports_its_mean_entropy_as_both_ends():
    (line,) = export(_session(exact=True), "jsonl").decode().splitlines()
    assert json.loads(line)["mean_entropy_bounds"] == [1.5, 1.5]
