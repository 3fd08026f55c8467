"""The siblings verbs on a session file: ``sort``, ``dedup``, ``prune``, ``unhide``;
``export --all`` leaving hidden branches out unless ``--include-hidden``; and, on the real
embedded model, ``generate --json`` confidence equal to −mean of each token's top-k."""

from __future__ import annotations

import json
import math

import pytest

from loomtui.cli import main
from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session


def _toks(text: str, lp: float, spread: float) -> list[Token]:
    out = []
    for i, word in enumerate(text.split()):
        data = (" " + word).encode()
        top = (
            Alt(" " + word, data, i, lp),
            Alt(" zz", b" zz", 900, lp - spread),
            Alt(" qq", b" qq", 901, lp - 2 * spread),
        )
        out.append(Token(" " + word, data, i, lp, top))
    return out


def _file(tmp_path) -> tuple[str, dict[str, str]]:
    s = Session.new("Once")
    ids = {"prompt": s.current_id}
    specs = [
        ("upon", "upon a time", -1.0, 1.0),
        ("there", "there was", -0.5, 3.0),
        ("upon2", "upon a time", -1.0, 1.0),
        ("long", "long ago far away", -2.5, 0.2),
    ]
    for t, (name, text, lp, spread) in enumerate(specs, start=1):
        node = s.add_child(s.current_id, tokens=_toks(text, lp, spread), model="m")
        node.created, node.finish_reason = float(t), "length"
        ids[name] = node.id
    below = s.add_child(ids["upon2"], plain=" in a land", origin="edit")
    ids["below"] = below.id
    s.goto(ids["upon"])
    path = tmp_path / "s.json"
    save_session(s, path)
    return str(path), ids


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sort_by_each_key_reorders_the_file(tmp_path, capsys):
    path, ids = _file(tmp_path)
    code, out, err = _run(capsys, "sort", path, "--node", ids["prompt"], "--by", "confidence")
    assert code == 0, err
    want = [ids["there"], ids["long"], ids["upon"], ids["upon2"]]
    assert load_session(path).node(ids["prompt"]).children == want
    assert "conf 3.50 k3" in out.splitlines()[1]  # the first listed: "there"
    code, out, _ = _run(
        capsys, "sort", path, "--node", ids["prompt"], "--by", "length", "--asc", "--json"
    )
    data = json.loads(out)
    assert [n["id"] for n in data["nodes"]] == [
        ids["there"],
        ids["upon"],
        ids["upon2"],
        ids["long"],
    ]
    first = data["nodes"][0]
    assert first["confidence"] == pytest.approx(3.5) and first["confidence_k"] == 3
    assert first["mean_logprob"] == pytest.approx(-0.5) and first["joint_logprob"] == -1.0
    code, _, err = _run(capsys, "sort", path, "--by", "nope")
    assert code == 2 and "nope" in err


def test_dedup_merges_and_counts_and_keeps_the_children(tmp_path, capsys):
    path, ids = _file(tmp_path)
    code, out, err = _run(capsys, "dedup", path, "--all", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["merged"] == {ids["upon"]: [ids["upon2"]]}
    assert data["nodes"][0]["count"] == 2
    s = load_session(path)
    assert s.node(ids["upon"]).count == 2 and ids["upon2"] not in s
    assert s.node(ids["below"]).parent == ids["upon"]
    assert s.branch_text(ids["below"]) == "Once upon a time in a land"
    code, out, _ = _run(capsys, "dedup", path, "--node", ids["prompt"])
    assert code == 0 and out.startswith("0 duplicates merged")


def test_prune_below_and_unhide_and_export_all_with_and_without_hidden(tmp_path, capsys):
    path, ids = _file(tmp_path)
    all_before = _run(capsys, "export", path, "--all")[1]
    code, out, err = _run(capsys, "prune", path, "--below", "-2.0", "--by", "mean_logprob")
    assert code == 0, err
    assert out.startswith("1 node hidden") and ids["long"] in out
    s = load_session(path)
    assert s.node(ids["long"]).hidden and ids["long"] in s
    shown = _run(capsys, "export", path, "--all")[1]
    assert "long ago far away" not in shown and "Once there was" in shown
    everything = _run(capsys, "export", path, "--all", "--include-hidden")[1]
    assert everything == all_before and "long ago far away" in everything
    jsonl = _run(capsys, "export", path, "--all", "--format", "jsonl")[1]
    assert ids["long"] not in jsonl
    # By hand; hiding the current branch moves the current node to the prompt.
    code, out, _ = _run(capsys, "prune", path, "--hide", ids["upon"], "--json")
    assert json.loads(out)["current"] == ids["prompt"]
    assert load_session(path).current_id == ids["prompt"]
    code, out, _ = _run(capsys, "unhide", path, "--all")
    assert code == 0 and out.startswith("2 nodes shown again")
    assert not any(n.hidden for n in load_session(path).nodes.values())
    code, _, err = _run(capsys, "prune", path)
    assert code == 2 and "--below" in err


@pytest.mark.slow
def test_generate_json_confidence_is_minus_the_mean_of_the_top_k_on_the_real_model(
    real_backend, capsys
):
    code, out, err = _run(
        capsys,
        "generate",
        "--model",
        "default",
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "6",
        "--logprobs",
        "7",
        "--temperature",
        "0",
        "--json",
    )
    assert code == 0, err
    toks = json.loads(out)["completions"][0]["tokens"]
    assert len(toks) == 6
    for tok in toks:
        lps = [a["logprob"] for a in tok["top"]]
        assert tok["confidence_k"] == len(tok["top"]) == 7
        assert tok["confidence"] == pytest.approx(-sum(lps) / len(lps), abs=1e-9)
        assert math.isfinite(tok["confidence"]) and tok["confidence"] > 0
        # Greedy: the chosen token heads its own top list, the list is sorted.
        assert lps == sorted(lps, reverse=True) and tok["token_id"] == tok["top"][0]["token_id"]


def test_info_counts_hidden_nodes_and_merged_draws(tmp_path, capsys):
    path, ids = _file(tmp_path)
    _run(capsys, "dedup", path, "--all")
    _run(capsys, "prune", path, "--hide", ids["long"])
    code, out, _ = _run(capsys, "info", path)
    assert code == 0
    assert "hidden      1" in out and "merged      1 nodes hold 2 identical draws" in out
    data = json.loads(_run(capsys, "info", path, "--json")[1])
    assert data["hidden"] == [ids["long"]] and data["counts"] == {ids["upon"]: 2}


def test_loom_json_nodes_carry_their_mean_confidence(monkeypatch, tiny_backend, capsys):
    monkeypatch.setattr("loomtui.cli.loom_cmd.backend_from_args", lambda args: tiny_backend)
    argv = ["loom", "--prompt", "The quick brown", "--branch-entropy", "3.3", "--top", "3"]
    code, out, err = _run(capsys, *argv, "--max-depth", "1", "--max-tokens", "4", "--json")
    assert code == 0, err
    nodes = json.loads(out)["nodes"]
    assert nodes
    for n in nodes:
        confs = [t["confidence"] for t in n["tokens"] if t["confidence"] is not None]
        ks = {t["confidence_k"] for t in n["tokens"] if t["confidence_k"] is not None}
        assert n["confidence"] == pytest.approx(sum(confs) / len(confs), abs=1e-12)
        assert n["confidence_k"] == (ks.pop() if len(ks) == 1 else None)


# An OpenAI-style legacy completion whose top lists repeat the sampled token (as some
# servers append it) and carry the "not available" sentinel: confidence counts each
# listed alternative once and says how many.
_API_TOKENS = [" upon", " a"]
_API_TOPS = [
    {" upon": -0.5, " a": -1.5, " the": -2.5},
    {" a": -0.25, " the": -2.0, " one": -9999.0},
]


def _api_handler(body):
    from loomtests.scripted_server import Reply

    choice = {
        "index": 0,
        "text": "".join(_API_TOKENS),
        "finish_reason": "length",
        "logprobs": {
            "tokens": _API_TOKENS,
            "token_logprobs": [-0.5, -0.25],
            "top_logprobs": _API_TOPS,
        },
    }
    if body.get("stream"):
        return Reply(sse=[{"choices": [choice]}, "[DONE]"])
    return Reply(body={"choices": [choice]})


def test_generate_json_confidence_from_an_api_top_k_list(scripted, capsys):
    scripted.handler = _api_handler
    code, out, err = _run(
        capsys,
        "generate",
        "--prompt",
        "Once",
        "--max-tokens",
        "2",
        "--api-base",
        scripted.base,
        "--model",
        "fake-model",
        "--json",
    )
    assert code == 0, err
    toks = json.loads(out)["completions"][0]["tokens"]
    assert [t["text"] for t in toks] == _API_TOKENS
    first, second = toks
    assert first["entropy"] is None  # an API gives no exact entropy...
    assert first["confidence_k"] == 3  # ...but confidence needs only the list
    assert first["confidence"] == pytest.approx((0.5 + 1.5 + 2.5) / 3)
    assert second["confidence_k"] == 2  # the sentinel is "not available", not a logprob
    assert second["confidence"] == pytest.approx((0.25 + 2.0) / 2)
