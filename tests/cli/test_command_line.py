"""The command line on click: a default command opens the app, verbs by name, global options
before or after the verb, an unknown word never taken as a new session file, --file bytes kept."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.cli import app_cmd, main
from loomtui.cli.generate import read_text
from loomtui.core import resources


@pytest.fixture
def launched(monkeypatch):
    """Replace the app with a recorder: what it would have opened."""
    calls: list[dict] = []

    def fake_launch(**kwargs):
        calls.append(kwargs)
        return 0

    monkeypatch.setattr(app_cmd, "launch_app", fake_launch)
    return calls


def test_unknown_word_is_refused_and_creates_nothing(tmp_path, monkeypatch, capsys, launched):
    monkeypatch.chdir(tmp_path)
    for word in ("doctr", "shw", "notes"):
        assert main([word]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and word in err and "Traceback" not in err
    assert main(["shw"]) == 2 and "did you mean 'show'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [] and launched == []


def test_a_file_named_like_a_verb_opens_with_a_path(tmp_path, monkeypatch, capsys, launched):
    monkeypatch.chdir(tmp_path)
    assert main(["./info"]) == 0
    assert len(launched) == 1 and launched[0]["store"].path.name == "info"
    assert launched[0]["new_session"] is True
    assert main(["notes.json", "--readonly"]) == 2  # read-only needs an existing file
    capsys.readouterr()


def test_existing_file_opens_and_options_go_after_session(tmp_path, launched, capsys):
    example = resources.example_path("are-bugs-real")
    assert main([str(example), "--theme", "mono"]) == 0
    assert launched[-1]["config"].ui.theme == "mono"
    assert launched[-1]["store"].readonly  # a packaged example
    assert main(["--example", "random-number"]) == 0
    assert launched[-1]["store"].example


def test_version_and_help(capsys):
    from loomtui import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"loomtui {__version__}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("--readonly", "--theme", "--device", "--model", "--api-base", "--version",
                 "export", "show", "generate", "probe", "sweep", "examples"):
        assert word in out, word


def test_global_options_before_or_after_the_verb(capsys):
    example = str(resources.example_path("are-bugs-real"))
    assert main(["--theme", "mono", "show", example, "--no-color"]) == 0
    before = capsys.readouterr().out
    assert main(["show", example, "--theme", "mono", "--no-color"]) == 0
    assert capsys.readouterr().out == before and before
    # An option the verb does not take is refused, not dropped.
    assert main(["--readonly", "info", example]) == 2
    assert "--readonly does not apply" in capsys.readouterr().err
    assert main(["show", example, "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--bogus" in err


def test_file_text_keeps_its_bytes(tmp_path, monkeypatch):
    raw = "a\r\nb\rc\n\u00e9\x00".encode()
    path = tmp_path / "p.txt"
    path.write_bytes(raw)
    assert read_text(None, str(path), "prompt").encode() == raw

    class Stdin:
        buffer = io.BytesIO(raw)

    monkeypatch.setattr(sys, "stdin", Stdin())
    assert read_text(None, "-", "prompt").encode() == raw


def test_the_installed_command_refuses_a_bare_word(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "loomtui", "doctr"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, CI="true"), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert not any(Path(tmp_path).iterdir())
