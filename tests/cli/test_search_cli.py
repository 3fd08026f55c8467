"""``loomtui search`` (node ids, offsets, snippets; --regex, --json; one-line errors; model
text shown inert), ``loomtui rate`` (saved through the store, -1 without ``--``) and the
ratings in ``info``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loomtui.cli import main
from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session


def toks(*texts: str) -> list[Token]:
    return [Token(t, t.encode(), i, -0.5, (), 1.0) for i, t in enumerate(texts)]


@pytest.fixture
def session_file(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    s = Session.new("Once upon a")
    prompt = s.current_id
    a = s.add_child(prompt, tokens=toks(" time", " the", " cat", " sat"), model="m")
    b = s.add_child(prompt, tokens=toks(" hill", " a", " Cat", "\x1b[31m", " ran"), model="m")
    path = tmp_path / "s.json"
    save_session(s, path)
    return path, {"prompt": prompt, "a": a.id, "b": b.id}


def test_search_prints_each_match_with_where_it_starts_and_a_snippet(session_file, capsys):
    path, ids = session_file
    assert main(["search", str(path), "the cat"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == [ids["a"], f"{ids['a']}:1"]
    # The snippet's context runs back over the node boundary into the prompt.
    assert out[0].endswith("Once upon a time «the cat» sat") and out[-1] == "1 match"
    # Across the prompt and the reply: "a time" starts at character 10 of the prompt.
    assert main(["search", str(path), "A TIME"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.split()[:2] == [ids["a"], f"{ids['prompt']}:10"]


def test_search_json_and_regex_and_case(session_file, capsys):
    path, ids = session_file
    assert main(["search", str(path), r"\bcat\b", "--regex", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 2 and data["regex"] is True and not data["timed_out"]
    assert [m["node"] for m in data["matches"]] == [ids["a"], ids["b"]]
    assert data["matches"][1]["spans"] == [[ids["b"], 2, 3]]
    assert data["matches"][1]["start"] == {"node": ids["b"], "offset": 2}
    assert main(["search", str(path), "Cat", "--case", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 1


def test_no_match_exits_1_and_a_bad_regex_is_one_line(session_file, capsys):
    path, _ = session_file
    assert main(["search", str(path), "zebra"]) == 1
    assert capsys.readouterr().out.strip() == "0 matches"
    assert main(["search", str(path), "(oops", "--regex"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loomtui: invalid regular expression") and err.count("\n") == 1


def test_snippets_show_control_characters_inert(session_file, capsys):
    path, _ = session_file
    assert main(["search", str(path), "Cat"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "␛[31m" in out


def test_a_pathological_regex_stops_at_the_timeout(tmp_path, capsys):
    path = tmp_path / "a.json"
    save_session(Session.new("a" * 30 + "!"), path)
    assert main(["search", str(path), "(a|a)+b", "--regex", "--timeout", "0.2"]) == 1
    assert "too costly" in capsys.readouterr().out


def test_rate_saves_shows_in_info_and_takes_minus_one(session_file, capsys):
    path, ids = session_file
    assert main(["rate", str(path), "--node", ids["a"], "+1"]) == 0
    assert main(["rate", str(path), "--node", ids["b"][:6], "-1"]) == 0
    out = capsys.readouterr().out
    assert f"{ids['a']}  ▲ +1" in out and f"{ids['b']}  ▼ -1" in out
    s = load_session(path)
    assert s.node(ids["a"]).rating == 1 and s.node(ids["b"]).rating == -1
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ratings"] == {ids["a"]: 1, ids["b"]: -1}
    assert main(["info", str(path)]) == 0
    assert "ratings     2: ▲ 1  ◇ 0  ▼ 1" in capsys.readouterr().out
    assert main(["rate", str(path), "--node", ids["a"], "none"]) == 0
    assert load_session(path).node(ids["a"]).rating is None


def test_rate_refuses_a_bad_value_in_one_line(session_file, capsys):
    path, ids = session_file
    before = path.read_bytes()
    assert main(["rate", str(path), "--node", ids["a"], "5"]) == 2
    err = capsys.readouterr().err
    assert "a rating is -1, 0 or +1" in err and err.count("\n") == 1
    assert main(["rate", str(path), "--node", "nope", "1"]) == 2
    assert "no node with id 'nope'" in capsys.readouterr().err
    assert path.read_bytes() == before
