"""The visible-text path against the whole of Unicode: every code point of the categories that
draw nothing (or act on the terminal) is shown as a symbol, every other one is drawn as is,
and what comes out never holds a character of those categories."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from loomtui.core.display import visible, visible_bytes, visible_token

#: Categories that never draw themselves: controls, format, separators, spaces other than
#: " ", private use, surrogates, unassigned. Written out here, not imported.
HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Cn"}

#: Letters, marks and symbols that draw nothing (Unicode's default-ignorable and
#: blank-looking code points outside the categories above).
BLANK_LOOKING = {
    0x034F: "COMBINING GRAPHEME JOINER",
    0x115F: "HANGUL CHOSEONG FILLER",
    0x1160: "HANGUL JUNGSEONG FILLER",
    0x17B4: "KHMER VOWEL INHERENT AQ",
    0x17B5: "KHMER VOWEL INHERENT AA",
    0x180B: "MONGOLIAN FREE VARIATION SELECTOR ONE",
    0x180C: "MONGOLIAN FREE VARIATION SELECTOR TWO",
    0x180D: "MONGOLIAN FREE VARIATION SELECTOR THREE",
    0x180F: "MONGOLIAN FREE VARIATION SELECTOR FOUR",
    0x2800: "BRAILLE PATTERN BLANK",
    0x3164: "HANGUL FILLER",
    0xFFA0: "HALFWIDTH HANGUL FILLER",
    0x16FE4: "KHITAN SMALL SCRIPT FILLER",
    0x1D159: "MUSICAL SYMBOL NULL NOTEHEAD",
}
VARIATION_SELECTORS = set(range(0xFE00, 0xFE10)) | set(range(0xE0100, 0xE01F0))


def _must_hide(ch: str) -> bool:
    cp = ord(ch)
    if ch in " \n":
        return False
    return cp in BLANK_LOOKING or unicodedata.category(ch) in HIDDEN


def _clean(out: str) -> bool:
    """Nothing left in ``out`` that a terminal would not draw (newlines aside)."""
    return not any(_must_hide(c) or ord(c) in VARIATION_SELECTORS for c in out)


def test_the_blank_looking_list_names_what_it_means():
    for cp, name in BLANK_LOOKING.items():
        if unicodedata.name(chr(cp), "") != name:
            pytest.skip(f"this Python's Unicode ({unicodedata.unidata_version}) lacks {name}")
        assert unicodedata.category(chr(cp)) not in HIDDEN, name  # else it needs no naming


def test_every_code_point_of_the_hidden_categories_is_shown_and_no_other():
    wrong_hidden: list[str] = []
    wrong_drawn: list[str] = []
    for cp in range(sys.maxunicode + 1):
        if cp in VARIATION_SELECTORS:
            continue  # depend on what precedes them (below)
        ch = chr(cp)
        out = visible(ch, keep_newlines=True, keep_tabs=False)
        if _must_hide(ch):
            if out == ch or not _clean(out):
                wrong_hidden.append(f"U+{cp:04X} {unicodedata.category(ch)} -> {out!r}")
        elif out != ch:
            wrong_drawn.append(f"U+{cp:04X} {unicodedata.category(ch)} -> {out!r}")
    assert not wrong_hidden, (len(wrong_hidden), wrong_hidden[:20])
    assert not wrong_drawn, (len(wrong_drawn), wrong_drawn[:20])


def test_hidden_characters_inside_text_and_after_marks_are_shown_too():
    # The fast path (printable text) must not let a blank-looking letter through.
    for cp in BLANK_LOOKING:
        text = f"ab{chr(cp)}cd"
        out = visible(text)
        assert out == f"ab‹U+{cp:04X}›cd", (hex(cp), out)
    for sample in ("a\u00a0b", "a\u3000b", "a\u2028b", "x\ue000", "\U000e0041tag", "a\u2065"):
        out = visible(sample)
        assert _clean(out) and "‹U+" in out, (sample, out)


def test_a_variation_selector_passes_after_its_base_only_once():
    assert visible("\u2764\ufe0f") == "\u2764\ufe0f"  # the red heart emoji
    assert visible("\u845b\U000e0100") == "\u845b\U000e0100"  # an ideographic variant
    assert visible("\ufe0f") == "‹U+FE0F›"  # nothing to select
    assert visible(" \ufe0f") == " ‹U+FE0F›"
    # A run of selectors after one letter can carry hidden text ("ASCII smuggling").
    assert visible("a\U000e0148\U000e0149") == "a\U000e0148‹U+E0149›"
    assert visible("\u200b\ufe0f") == "‹U+200B›‹U+FE0F›"
    assert visible_token("\u3164\ufe0f", "\u3164\ufe0f".encode()) == "‹U+3164›‹U+FE0F›"


def test_visible_bytes_shows_undecodable_bytes_and_controls():
    data = b"line\n\tx\x1b]0;title\x07 \xe2\x80 \xff\xfe\xc3\xa9" + "\u00a0".encode()
    out = visible_bytes(data)
    assert out == "line\n\tx␛]0;title␇ ‹e2 80› ‹ff fe›é‹U+00A0›", out
    assert visible_bytes("plain é 😀\n".encode()) == "plain é 😀\n"
    assert visible_bytes(b"a\tb\n", keep_tabs=False, keep_newlines=False) == "a→b↵"
