"""The instrument verbs' JSON, run through the real CLI dispatcher (the model is the fake
one here; its numbers are checked in test_instr_fake / test_instr_real)."""

from __future__ import annotations

import json
import math

import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.cli import main
from loomtui.core.tree import Session
from loomtui.engine import Engine


@pytest.fixture
def use_fake(monkeypatch, make_fake):
    made: dict[str, object] = {}

    def factory(args, model=None):
        name = model or args.model or "fake"
        made.setdefault(name, make_fake(name, seed=len(made)))
        return made[name]

    for verb in ("multiverse", "probe", "compare", "sweep", "replay"):
        monkeypatch.setattr(f"loomtui.cli.{verb}.backend_from_args", factory)
    return made


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_multiverse_json(use_fake, capsys):
    assert (
        main(["multiverse", "--prompt", "The cat", "--depth", "2", "--top-k", "3", "--json"]) == 0
    )
    out = _json(capsys)
    assert out["prompt_token_ids"] == use_fake["fake"].tokenize("The cat")
    assert len(out["children"]) == 3 and len(out["children"][0]["children"]) == 3
    kid = out["children"][0]
    grandkid = kid["children"][0]
    assert grandkid["prob"] == pytest.approx(kid["prob"] * math.exp(grandkid["token_logprob"]))
    assert bytes.fromhex(kid["bytes"]).decode() == kid["text"]


def test_probe_json(use_fake, capsys):
    assert main(["probe", "--prompt", "I pick:", "--range", "1", "5", "--json"]) == 0
    out = _json(capsys)
    assert [c["text"] for c in out["candidates"]] == [" 1", " 2", " 3", " 4", " 5"]
    assert "does not start with a digit" in out["rule"]
    assert set(out) >= {"prompt_token_ids", "covered_mass", "entropy", "kl_uniform"}
    assert main(["probe", "--prompt", "I pick:", "--candidates", " cat, dog", "--json"]) == 0
    assert _json(capsys)["rule"].startswith("P(answer) = P(answer tokens)")
    args = ["probe", "--prompt", "I pick:", "--vs-prompt", "The", "--range", "1", "3"]
    assert main([*args, "--json"]) == 0
    both = _json(capsys)
    assert both["versus"]["prompt"] == "The" and both["prompt"] == "I pick:"
    assert both["versus"]["entropy"] != both["entropy"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "vs prompt" in table and "' 2'" in table


def test_probe_needs_answers(use_fake, capsys):
    assert main(["probe", "--prompt", "x"]) == 2
    assert "--range" in capsys.readouterr().err


def test_compare_json_and_session(use_fake, capsys, tmp_path):
    from loomtui.core.sessionfile import save_session

    args = ["compare", "--model", "a", "--model", "b", "--text", "The cat sat.", "--json"]
    assert main(args) == 0
    out = _json(capsys)
    assert out["a"]["model"] == "a" and out["b"]["model"] == "b"
    assert out["same_tokenization"] is True and out["mean_kl"] > 0
    s = Session.new("The cat sat on the mat.")
    path = tmp_path / "s.json"
    save_session(s, path)
    assert main(["compare", "--model", "a", "--model", "b", "--session", str(path), "--json"]) == 0
    assert _json(capsys)["text"] == "The cat sat on the mat."


def test_sweep_and_replay_verbs(use_fake, capsys, tmp_path, make_fake):
    from loomtui.core.sessionfile import load_session, save_session

    out_path = tmp_path / "swept.json"
    args = [
        "sweep",
        "--prompt",
        "The cat",
        "--text",
        " sat on the mat",
        "--position",
        "1",
        "--top-k",
        "3",
        "--max-tokens",
        "6",
        "-o",
        str(out_path),
        "--json",
    ]
    assert main(args) == 0
    out = _json(capsys)
    assert len(out["variants"]) == 4 and out["attractor"]["of"] == 4
    swept = load_session(out_path)
    for v in out["variants"]:
        assert v["continuation_node_id"] in swept

    s = Session.new("The cat")
    Engine(s, make_fake("orig")).generate(
        s.current_id, None, GenerationSettings(max_tokens=5, n=2, seed=1)
    )
    src, dst = tmp_path / "orig.json", tmp_path / "replayed.json"
    save_session(s, src)
    assert main(["replay", str(src), "--model", "new", "-o", str(dst), "--json"]) == 0
    summary = _json(capsys)
    assert summary["points"] == 1 and len(summary["pairs"][0]["replay"]) == 2
    new = load_session(dst)
    assert {n.model for n in new.nodes.values() if n.model} == {"orig", "new"}


def test_replay_prints_a_hostile_model_name_inertly(use_fake, capsys, tmp_path, make_fake):
    """A model name (from a server's /models, or a path) is data: its escape sequences never
    reach the terminal raw in the verb's summary line."""
    from loomtui.core.sessionfile import save_session

    s = Session.new("The cat")
    Engine(s, make_fake("orig")).generate(
        s.current_id, None, GenerationSettings(max_tokens=3, n=1, seed=1)
    )
    src, dst = tmp_path / "orig.json", tmp_path / "replayed.json"
    save_session(s, src)
    hostile = "evil\x1b]0;owned\x07\x1b[2J"
    assert main(["replay", str(src), "--model", hostile, "-o", str(dst)]) == 0
    out = capsys.readouterr().out
    assert "replayed 1 generation points with evil" in out
    assert "\x1b" not in out and "\x07" not in out
