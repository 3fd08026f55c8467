"""The document layout: wrapping, newlines, wide characters and bytes split across tokens."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui.layout import DocLayout


def _session(pieces: list[bytes], prompt: str = "") -> Session:
    s = Session.new(prompt)
    toks = [Token(p.decode("utf-8", "replace"), p, i, -0.5) for i, p in enumerate(pieces)]
    node = s.add_child(s.current_id, tokens=toks, origin="model")
    s.current_id = node.id
    return s


def _line_texts(layout: DocLayout) -> list[str]:
    return ["".join(t for _, t in line) for line in layout.lines]


def test_wraps_at_width_and_keeps_words_whole():
    s = _session([b" alpha", b" beta", b" gamma", b" delta"], prompt="Go")
    layout = DocLayout(14)
    layout.load(s, s.current_id)
    assert _line_texts(layout) == ["Go alpha beta", " gamma delta"]


def test_newlines_break_lines_and_controls_are_visible():
    s = _session([b"one\ntwo", b"\x1b[0m", b"\n", b"three"])
    layout = DocLayout(40)
    layout.load(s, s.current_id)
    assert _line_texts(layout) == ["one", "two␛[0m", "three"]


def test_character_split_across_tokens_shows_whole():
    smile = "😀".encode()
    s = _session([b" hi ", smile[:2], smile[2:], b"!"])
    layout = DocLayout(40)
    layout.load(s, s.current_id)
    assert _line_texts(layout) == [" hi 😀!"]
    assert [u.text for u in layout.units] == [" hi ", "", "😀", "!"]


def test_wide_characters_count_two_cells():
    s = _session(["漢字".encode()] * 5)
    layout = DocLayout(9)
    layout.load(s, s.current_id)
    assert all(cell_len(t) <= 9 for t in _line_texts(layout))
    assert "".join(_line_texts(layout)) == "漢字" * 5


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.text(alphabet=st.sampled_from("ab \n漢x"), max_size=12), max_size=40),
    width=st.integers(4, 30),
    split=st.integers(0, 40),
)
def test_incremental_append_equals_full_layout(pieces, width, split):
    """Streaming tokens in two steps lays out exactly as laying out everything at once."""
    data = [p.encode() for p in pieces]
    s = _session(data[:split])
    inc = DocLayout(width)
    inc.load(s, s.current_id)
    s.current.tokens.extend(Token(p.decode(), p, None, -1.0) for p in data[split:])
    first = inc.load(s, s.current_id)
    full = DocLayout(width)
    full.load(s, s.current_id)
    assert inc.lines == full.lines and first <= len(full.lines)
    assert all(cell_len(t) <= width for t in _line_texts(full))
    assert "".join(_line_texts(full)) == "".join(pieces).replace("\n", "")
