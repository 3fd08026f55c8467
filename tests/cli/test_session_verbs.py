"""``loomtui export``, ``show`` and ``info`` on real session files, and their errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.cli import main
from loomtui.core.sessionfile import save_session
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    s = Session.new("Prompt \x1b[2J[bold red]not markup[/] ")
    prompt_id = s.current_id
    gen = s.add_child(
        prompt_id,
        tokens=[
            Token(
                "Hello",
                b"Hello",
                1,
                -0.05,
                (Alt("Hello", b"Hello", 1, -0.05), Alt("Bye", b"Bye", 2, -3.0)),
            ),
            Token("\ufffd", b"\xe2\x80", 2, -9.0),
            Token("\ufffd", b"\xa6", 3, -0.5),
            Token("\r\x07", b"\r\x07", 4, -20.0),
        ],
        model="smol",
    )
    other = s.add_child(prompt_id, plain="by hand", origin="edit")
    s.set_bookmark(other.id)
    s.goto(gen.id)
    path = tmp_path / "s.json"
    save_session(s, path)
    return path


def _ids(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {n.get("plain") or n["origin"]: n["id"] for n in data["nodes"]}


def test_export_current_branch_is_exact_bytes(session_file: Path, capsysbinary) -> None:
    assert main(["export", str(session_file)]) == 0
    out = capsysbinary.readouterr().out
    assert out == "Prompt \x1b[2J[bold red]not markup[/] Hello\u2026\r\x07".encode()


def test_export_all_and_to_file(session_file: Path, tmp_path: Path, capsysbinary) -> None:
    target = tmp_path / "out.jsonl"
    assert main(["export", str(session_file), "--all", "--format", "jsonl", "-o", str(target)]) == 0
    assert capsysbinary.readouterr().out == b""
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["text"].endswith(("\r\x07", "by hand")) for r in records] == [True, True]
    model_rec = next(r for r in records if r["origins"][-1] == "model")
    assert model_rec["logprob"] == pytest.approx(-29.55, abs=1e-4)
    assert model_rec["depth"] == 2 and model_rec["models"] == ["smol"]
    edit_rec = next(r for r in records if r["origins"][-1] == "edit")
    assert edit_rec["bookmark"] is True and "logprob" not in edit_rec


def test_export_markdown_marks_who_wrote_what(session_file: Path, capsysbinary) -> None:
    assert main(["export", str(session_file), "--format", "markdown"]) == 0
    md = capsysbinary.readouterr().out.decode()
    ids = _ids(session_file)
    assert f"**you** `{ids['Prompt ' + chr(27) + '[2J[bold red]not markup[/] ']}`" in md
    assert f"**model (smol)** `{ids['model']}`" in md
    assert "```text\nPrompt" in md


def test_export_node_prefix_and_unknown_node(session_file: Path, capsysbinary) -> None:
    edit_id = _ids(session_file)["by hand"]
    assert main(["export", str(session_file), "--node", edit_id[:6]]) == 0
    assert capsysbinary.readouterr().out.endswith(b"by hand")
    assert main(["export", str(session_file), "--node", "zzzz"]) == 2
    assert "no node with id 'zzzz'" in capsysbinary.readouterr().err.decode()


def test_show_colours_tokens_and_keeps_text_inert(session_file: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["show", str(session_file)]) == 0
    out = capsys.readouterr().out
    # The file's escape sequence and bell are shown as symbols, never sent to the terminal.
    assert "\x1b[2J" not in out and "\x07" not in out and "\r" not in out
    assert "␛[2J[bold red]not markup[/]" in out  # markup-like text printed literally
    assert "␍␇" in out
    assert "\x1b[" in out  # but the tokens are coloured
    last = re.sub(r"\x1b\[[0-9;]*m", "", out.splitlines()[-1])
    assert last.startswith("green-red (logprob): ")  # the app's legend line


def test_show_no_color_has_no_escapes(session_file: Path, capsys) -> None:
    assert main(["show", str(session_file), "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "Hello" in out and "‹e2 80›" in out  # an unfinished byte run is visible


def test_show_unknown_theme(session_file: Path, capsys) -> None:
    assert main(["show", str(session_file), "--theme", "nope"]) == 2
    assert "unknown theme" in capsys.readouterr().err


def test_info_summarises(session_file: Path, capsys) -> None:
    assert main(["info", str(session_file)]) == 0
    out = capsys.readouterr().out
    assert "nodes       4" in out and "leaves      2" in out and "depth       2" in out
    assert "tokens      4" in out and "models      smol" in out and "bookmarks   1" in out
    assert main(["info", str(session_file), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["nodes"] == 4 and stats["models"] == ["smol"]


@pytest.mark.parametrize("verb", ["export", "show", "info"])
def test_verbs_have_help(verb: str, capsys) -> None:
    assert main([verb, "--help"]) == 0
    assert "SESSION" in capsys.readouterr().out


def _bad_files(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    data = json.loads(good.read_text())
    newer = dict(data, schema_version=999)
    files = {
        "not_json": (b"this is not json", "not JSON"),
        "other_shape": (json.dumps({"messages": []}).encode(), "not a loomtui session"),
        "truncated": (good.read_bytes()[:-40], "truncated JSON"),
        "newer": (json.dumps(newer).encode(), "newer loomtui"),
    }
    out = {}
    for name, (raw, expect) in files.items():
        p = tmp_path / f"{name}.json"
        p.write_bytes(raw)
        out[name] = (p, expect)
    out["missing"] = (tmp_path / "missing.json", "no such file")
    return out


@pytest.mark.parametrize("case", ["not_json", "other_shape", "truncated", "newer", "missing"])
def test_bad_files_via_the_real_command(case: str, session_file: Path, tmp_path: Path) -> None:
    path, expect = _bad_files(tmp_path, session_file)[case]
    before = (path.read_bytes(), path.stat().st_mtime_ns) if path.exists() else None
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for verb in ("info", "export", "show"):
        proc = subprocess.run(
            [sys.executable, "-m", "loomtui", verb, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("loomtui: ")
        assert expect in proc.stderr
        if before is None:
            assert not path.exists()
        else:
            assert (path.read_bytes(), path.stat().st_mtime_ns) == before
