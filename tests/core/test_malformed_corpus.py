"""Every file in tests/core/malformed/ is refused by ``loomtui info`` with one line on
stderr naming the problem, exit status 2, and the file left exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loomtui.cli import main

CORPUS = Path(__file__).with_name("malformed")
MANIFEST: dict[str, str] = json.loads((CORPUS / "manifest.json").read_text("ascii"))


def test_corpus_is_complete() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.name != "manifest.json"}
    assert files == set(MANIFEST)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_malformed_file_is_refused_cleanly(name: str, capsys) -> None:
    path = CORPUS / name
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"loomtui: {path}: ")
    assert MANIFEST[name] in lines[0]
    assert "Traceback" not in captured.err
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
