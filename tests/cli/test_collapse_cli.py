"""``loomtui collapse``'s command line: one-line refusals before any model loads, prompts
from a file, the terminal report within 80 columns with model text shown as data, and
``-o`` keeping the evidence. The models here are the fakes (the numbers are checked on the
real models in tests/instruments/test_collapse_real.py)."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len

from loomtui.cli import collapse as verb
from loomtui.cli import main
from loomtui.cli.params import Args
from loomtui.core.errors import LoomError
from loomtui.core.sessionfile import load_session

PROMPT = "The cat sat on the mat. I pick a number:"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "a", "--prompt", "p"], "give --model twice"),
        (["--model", "a", "--model", "b"], "give --prompt"),
        (["--model", "a", "--model", "b", "--prompt", "p", "--temperatures", "0,1"], "above 0"),
        (["--model", "a", "--model", "b", "--prompt", "p", "--temperatures", "x"], "numbers"),
        (
            ["--model", "a", "--model", "b", "--prompt", "p", "--range", "1", "5",
             "--candidates", "x,y"],
            "not both",
        ),
        (["--model", "a", "--model", "b", "--prompt", "p", "--n", "0"], "at least 1"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_before_any_model_loads(argv, message, capsys, monkeypatch):
    def no_models(*a, **k):
        raise AssertionError("a model was opened")

    monkeypatch.setattr(verb, "backend_from_args", no_models)
    assert main(["collapse", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_prompts_file_lines_or_json_list(tmp_path):
    lines = tmp_path / "p.txt"
    lines.write_text("first prompt\n\nsecond prompt\n", encoding="utf-8")
    listed = tmp_path / "p.json"
    listed.write_text(json.dumps(["multi\nline", "two"]), encoding="utf-8")
    assert verb.read_prompts(Args(prompt=["inline"], prompts=str(lines))) == [
        "inline",
        "first prompt",
        "second prompt",
    ]
    assert verb.read_prompts(Args(prompt=None, prompts=str(listed))) == ["multi\nline", "two"]
    listed.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(LoomError, match="JSON list of strings"):
        verb.read_prompts(Args(prompt=None, prompts=str(listed)))
    with pytest.raises(LoomError, match="not found"):
        verb.read_prompts(Args(prompt=None, prompts=str(tmp_path / "nope")))


@pytest.fixture
def fakes(make_fake, monkeypatch):
    hostile = "[bold]tuned\x1b[31m-instruct-with-a-long-name-Q4_1[/bold]"
    models = {
        "base": make_fake(name="base-model-with-a-long-name-Q8_0", seed=1),
        "tuned": make_fake(name=hostile, seed=2),
    }
    monkeypatch.setattr(verb, "backend_from_args", lambda args, model: models[model])
    monkeypatch.setenv("COLUMNS", "80")
    return models


def test_report_fits_80_columns_and_shows_model_text_as_data(fakes, capsys, tmp_path):
    out = tmp_path / "s.json"
    argv = ["collapse", "--model", "base", "--model", "tuned", "--prompt", PROMPT,
            "--range", "1", "9", "--n", "4", "--temperatures", "0.5,1", "--max-tokens", "4",
            "--greedy-tokens", "5", "--seed", "1", "--chat-for", "B", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert "\x1b" not in text  # piped: no colour codes, and the name's ESC is shown, not sent
    assert "B [bold]tuned␛[31m-instr" in text  # brackets are text, not markup; ESC shown
    assert "(chat)" in text
    # The two answer plots, A above B, each with its answers 1..9 as labels.
    a_at = next(i for i, ln in enumerate(lines) if ln.startswith("A base-model-with"))
    b_at = next(i for i, ln in enumerate(lines) if ln.startswith("B [bold]tuned"))
    assert a_at < b_at
    assert lines[b_at - 1].split() == [str(i) for i in range(1, 10)]
    # Every measure's name is shown whole (the model columns give way, not the names).
    for name in ("next-token H (nats)", "answer mass covered", "T matching other's H"):
        assert any(ln.startswith(name) for ln in lines), name
    assert "KL(A‖B)" in text
    session = load_session(out)
    below = [c for c in session.children(session.root_id) if c.plain == PROMPT]
    models = {c.model for c in session.children(below[0].id)}
    assert models == {fakes["base"].name, fakes["tuned"].name}
    assert session.current_id == below[0].id  # the file opens at the prompt


def test_json_and_output_session_agree(fakes, capsys, tmp_path):
    out = tmp_path / "s.json"
    argv = ["collapse", "--model", "base", "--model", "tuned", "--prompt", PROMPT,
            "--prompt", "The dog ran home.", "--n", "3", "--temperatures", "1",
            "--max-tokens", "3", "--greedy-tokens", "3", "--json", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    js = json.loads(capsys.readouterr().out)
    assert [p["prompt"] for p in js["prompts"]] == [PROMPT, "The dog ran home."]
    assert js["prompts"][0]["kl_answers_a_b"] is None  # no answers asked for
    session = load_session(out)
    for p in js["prompts"]:
        for m in p["by_model"]:
            for row in m["by_temperature"]:
                assert [session.node(i).text for i in row["sample_node_ids"]] == row["samples"]
    # A second run adds beside the first under the same prompt node (no duplicate prompt).
    assert main(argv) == 0
    capsys.readouterr()
    session = load_session(out)
    prompts = [c for c in session.children(session.root_id) if c.plain == PROMPT]
    assert len(prompts) == 1 and len(session.children(prompts[0].id)) == 2 * 2 * (3 + 1)


def test_shipped_example_holds_both_models_evidence_and_opens_without_a_model(capsys):
    from loomtui.core import resources

    path = resources.example_path("mode-collapse")
    assert path is not None, "the mode-collapse example ships in the package"
    session = load_session(path)
    prompts = {c.plain: c for c in session.children(session.root_id)}
    assert session.current.plain == "Are bugs real?"  # the last run's prompt
    assert set(prompts) == {"Pick a random number between 1 and 20. My number is", "Are bugs real?"}
    for prompt in prompts.values():
        below = session.children(prompt.id)
        models = {n.model for n in below}
        assert models == {"gemma-3-270m-q4_k_m", "SmolLM2-135M-Instruct-Q4_1"}
        for model in models:
            mine = [n for n in below if n.model == model]
            roles = [n.meta["collapse"]["role"] for n in mine]
            assert roles.count("greedy") == 1 and roles.count("sample") == 8 * 3
            assert {
                n.meta["collapse"]["t"] for n in mine if n.meta["collapse"]["role"] == "sample"
            } == {0.7, 1.0, 1.5}
            assert all(n.tokens and n.tokens[0].top for n in mine)  # numbers kept per token
    # Read with no model: info and show of a sample branch.
    assert main(["info", str(path)]) == 0
    sample = next(n for n in session.children(prompts["Are bugs real?"].id) if n.tokens)
    assert main(["show", str(path), "--node", sample.id]) == 0
    out = capsys.readouterr().out
    assert "gemma-3-270m-q4_k_m" in out and "SmolLM2-135M-Instruct-Q4_1" in out
