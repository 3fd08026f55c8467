"""Adaptive looming on the real embedded model (SmolLM2-135M-Instruct), through the verb,
checked against separate plain forward passes (tests/loomtests/reference.py, no loomtui
code): every branch point's entropy reaches H and its children are exactly the model's
top-K there; every other token is the greedy token of a distribution under H; no path has
more than D branch points; the session written with -o holds the same tree as --json."""

from __future__ import annotations

import json

import pytest
import torch
from loomtests.reference import entropy_of, plain_logprobs

from loomtui.cli import main
from loomtui.core.sessionfile import load_session

pytestmark = pytest.mark.slow

H, K, D, T = 2.5, 3, 2, 8
PROMPT = "The best way to learn a language is"


def test_adaptive_tree_against_plain_forward_passes(smollm, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("loomtui.cli.loom_cmd.backend_from_args", lambda args: smollm)
    out_path = tmp_path / "loom.json"
    argv = ["loom", "--prompt", PROMPT, "--branch-entropy", str(H), "--top", str(K),
            "--max-depth", str(D), "--max-tokens", str(T), "-o", str(out_path), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batched"] and out["exact_entropy"]
    prompt_ids = out["prompt_token_ids"]
    nodes = {n["id"]: n for n in out["nodes"]}

    def path(n):
        chain = []
        while n is not None:
            chain.append(n)
            n = nodes.get(n["parent"]) if n["parent"] else None
        return chain[::-1]

    points = [n for n in nodes.values() if n["finish_reason"] == "branch"]
    assert points, "the prompt should have at least one uncertain point"
    leaves = [n for n in nodes.values() if not any(m["parent"] == n["id"] for m in nodes.values())]
    for leaf in leaves:
        chain = path(leaf)
        assert sum(n["finish_reason"] == "branch" for n in chain) <= D
        ids = prompt_ids + [t["token_id"] for n in chain for t in n["tokens"]]
        rows = plain_logprobs(smollm, ids)  # row j: the distribution after ids[: j + 1]
        pos = len(prompt_ids)
        # Depth 0 is the greedy start; when the point itself was uncertain, the first
        # nodes hang at the prompt at depth 1.
        assert chain[0]["depth"] in (0, 1)
        for index, n in enumerate(chain):
            assert n["depth"] == chain[0]["depth"] + index
            for i, tok in enumerate(n["tokens"]):
                row = rows[pos - 1]
                h = entropy_of(row)
                # Its logprob and entropy: of the distribution it was drawn from.
                assert tok["entropy"] == pytest.approx(h, abs=2e-3)
                assert tok["logprob"] == pytest.approx(float(row[tok["token_id"]]), abs=2e-3)
                if i > 0 or n["depth"] == 0:  # not a branch point's alternative
                    assert tok["token_id"] == int(row.argmax()) and h < H
                pos += 1
            if n["finish_reason"] == "branch":
                last = rows[pos - 1]
                assert entropy_of(last) >= H - 1e-3
                kids = [m for m in nodes.values() if m["parent"] == n["id"]]
                assert [m["tokens"][0]["token_id"] for m in kids] == torch.topk(
                    last, K
                ).indices.tolist()
            elif n["finish_reason"] == "depth":
                assert entropy_of(rows[pos - 1]) >= H - 1e-3 and n["depth"] == D
            elif n["finish_reason"] == "length":
                assert len(n["tokens"]) == T
    # The session file holds the same tree.
    session = load_session(out_path)
    prompt = next(x for x in session.nodes.values() if x.plain == PROMPT)
    for n in nodes.values():
        node = session.node(n["id"])
        assert node.parent == (n["parent"] or prompt.id)
        assert [t.token_id for t in node.tokens] == [t["token_id"] for t in n["tokens"]]
        assert node.meta["adaptive"]["reason"] == n["reason"]
    grown = [x for x in session.walk(prompt.id) if x.id != prompt.id]
    assert len(grown) == len(nodes)
