"""Hostile text (markup, escapes, controls, bidi, joiners, partial UTF-8, huge tokens) is
stored byte-exact, exported byte-exact, and shown inertly by ``show`` and by the app."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from loomtests.hostile import HOSTILE_PROMPT, HOSTILE_TOKENS, HUGE_TOKEN

from loomtui.core.display import MAX_TOKEN_CHARS, clip, visible, visible_token
from loomtui.core.sessionfile import load_session
from loomtui.core.store import SessionStore

#: C0 controls except newline (and tab, which we also expect to be made visible), DEL, C1.
_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]")
_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # the colour codes rich emits itself


def _expected_bytes(session) -> bytes:
    return HOSTILE_PROMPT.encode() + b"".join(HOSTILE_TOKENS) + HUGE_TOKEN


def test_hostile_text_is_stored_byte_exact(tmp_path, hostile):
    path = tmp_path / "hostile.json"
    with SessionStore.create(path, hostile):
        pass
    loaded = load_session(path)
    assert loaded.branch_bytes(hostile.current_id) == _expected_bytes(hostile)
    node = loaded.node(hostile.current_id)
    assert [t.bytes for t in node.tokens] == HOSTILE_TOKENS + [HUGE_TOKEN]
    assert node.tokens[0].top[1].bytes == b"[b]\x1b[1m"
    assert loaded.node(node.parent).label == "[red]label\x1b[5m"
    assert loaded.node(node.parent).plain == HOSTILE_PROMPT
    # The character split over two tokens comes out whole when the branch is decoded.
    assert "\u201cquoted" in loaded.branch_text(node.id)


def test_hostile_tokens_survive_the_journal_byte_exact(tmp_path, hostile, driver):
    """Through the crash journal too (a token streamed, then the process killed)."""
    from loomtui.core.store import apply_records, token_from_record, token_record

    for tok in hostile.current.tokens:
        back = token_from_record(token_record(tok))
        assert back == tok
    path = tmp_path / "j.json"
    store = SessionStore.open(path)
    store.full_save_budget_s = 0
    node = store.session.add_generation(store.session.root_id)
    for tok in hostile.current.tokens:
        node.tokens.append(tok)
        store.on_token(node, tok)
    records = [
        __import__("json").loads(line) for line in store.journal.read_bytes().splitlines()[1:]
    ]
    from loomtui.core.sessionfile import load_session as _load

    base = _load(path)
    apply_records(base, records)
    assert base.branch_bytes(node.id) == _expected_bytes(hostile)[len(HOSTILE_PROMPT.encode()) :]
    store.close()


def test_visible_makes_every_control_visible_and_keeps_markup_literal():
    shown = visible(HOSTILE_PROMPT)
    assert not _RAW_CONTROL.search(shown)
    assert "[bold red]not bold[/bold red]" in shown
    assert "␛[31m" in shown and "␍" in shown and "␀" in shown and "␇" in shown
    assert "‹U+202E›" in shown and "‹U+200D›" in shown and "‹U+0085›" in shown
    assert "e\u0301" in shown  # a normal accent stays an accent
    zalgo = visible("z" + "\u0300" * 40)
    assert zalgo.count("\u0300") == 4 and "‹U+0300›" in zalgo
    assert visible_token("\ufffd", b" \xe2\x80") == " ‹e2 80›"


def test_huge_tokens_are_clipped_for_display_only(hostile):
    huge = HUGE_TOKEN.decode()
    shown = visible(huge, max_chars=MAX_TOKEN_CHARS)
    assert len(shown) < MAX_TOKEN_CHARS + 30
    assert shown.endswith(f"…‹+{len(huge) - MAX_TOKEN_CHARS} chars›")
    assert len(visible_token(huge, HUGE_TOKEN)) < 250
    assert clip("😀" * 5, 3) == "😀😀😀…‹+2 chars›"
    assert hostile.current.tokens[-1].bytes == HUGE_TOKEN  # storage untouched


def _verb_available(verb: str) -> None:
    if importlib.util.find_spec(f"loomtui.cli.{verb}") is None:
        pytest.skip(f"`loomtui {verb}` is not built yet")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "loomtui", *args], capture_output=True, env=full_env, timeout=120
    )


@pytest.fixture
def hostile_file(tmp_path, hostile):
    path = tmp_path / "hostile.json"
    with SessionStore.create(path, hostile):
        pass
    return path


def test_export_is_byte_exact(hostile_file, hostile):
    _verb_available("export")
    proc = _run("export", str(hostile_file))
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-500:]
    out = proc.stdout
    expected = _expected_bytes(hostile)
    assert out in (expected, expected + b"\n"), (len(out), len(expected))


def _assert_inert(out: bytes, allow_sgr: bool) -> str:
    if allow_sgr:
        out = _SGR.sub(b"", out)
    assert b"\x1b" not in out, out[max(0, out.find(b"\x1b") - 40) : out.find(b"\x1b") + 40]
    text = out.decode("utf-8")  # show never writes invalid UTF-8
    bad = _RAW_CONTROL.search(text.replace("\t", ""))
    assert bad is None, repr(text[max(0, bad.start() - 30) : bad.end() + 30])
    return text


def test_show_prints_hostile_text_inertly(hostile_file):
    _verb_available("show")
    proc = _run("show", str(hostile_file))  # piped: plain text
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-500:]
    text = _assert_inert(proc.stdout, allow_sgr=False)
    assert "[bold red]not bold[/bold red]" in text  # markup printed literally
    assert "[link=file:///etc/passwd]x[/link]" in text
    assert "␛[2J" in text and "‹U+202E›" in text
    assert len(text) < 100_000, "a huge token must be clipped for display"


def test_show_in_colour_emits_only_colour_codes(hostile_file):
    _verb_available("show")
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = _run("show", str(hostile_file), env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-500:]
    _assert_inert(proc.stdout, allow_sgr=True)
    assert b"\x1b]" not in proc.stdout and b"\x1bP" not in proc.stdout
