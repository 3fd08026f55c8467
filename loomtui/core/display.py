"""Make untrusted text inert for a terminal: control characters become visible symbols.

Model output, session files and pasted text may hold ANSI escapes, C0/C1 controls, NUL,
bells, carriage returns, bidi overrides and zero-width characters. Stored text stays
byte-exact; only what is *shown* passes through :func:`visible`.
"""

from __future__ import annotations

import re
import unicodedata

#: A single token longer than this is cut for display (never for storage or export).
MAX_TOKEN_CHARS = 2000
#: More combining marks than this on one base character ("zalgo") are shown as code points,
#: so a token cannot paint over the lines above and below it.
MAX_COMBINING = 4

_COMBINING_RUN = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f"
    "\u0e31-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
    "\ufe20-\ufe2f]{" + str(MAX_COMBINING + 1) + ",}"
)

# Which characters are made visible is decided by Unicode category, not by a hand list:
# Cc (controls), Cf (format: bidi, zero-width, tags), Zl/Zp (line/paragraph separators), Zs
# other than the plain space (no-break, em, ideographic... spaces: a token explorer must tell
# them from " "), Co (private use), Cs (lone surrogates, e.g. from surrogateescape) and Cn
# (unassigned). That is exactly what ``str.isprintable()`` rejects, so the fast path is one
# C call. On top come the characters of other categories that draw nothing (the Unicode
# default-ignorable and blank-looking ones), named here.
#: Category prefixes / categories shown as ‹U+XXXX› (besides tab and newline).
SHOWN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Cn"})

# fmt: off
#: Letters, marks and symbols that draw nothing: shown as ‹U+XXXX› wherever they stand.
BLANK_LOOKING = frozenset({
    0x034F,  # combining grapheme joiner
    0x115F, 0x1160, 0x3164, 0xFFA0,  # Hangul fillers: letters that draw nothing
    0x17B4, 0x17B5,  # Khmer inherent vowels (default-ignorable)
    0x180B, 0x180C, 0x180D, 0x180F,  # Mongolian free variation selectors
    0x2800,  # braille pattern blank
    0x16FE4,  # Khitan small script filler
    0x1D159,  # musical symbol null notehead
})
# fmt: on

#: Variation selectors pick a glyph for the character before them (❤ + U+FE0F is the
#: emoji). One right after a shown character passes; a stray or repeated one is shown
#: (runs of them can smuggle hidden text).
_VARIATION_SELECTORS = frozenset(range(0xFE00, 0xFE10)) | frozenset(range(0xE0100, 0xE01F0))

_NEEDS_SLOW_PATH = re.compile(
    "[" + "".join(re.escape(chr(cp)) for cp in sorted(BLANK_LOOKING)) + "\ufe00-\ufe0f"
    "\U000e0100-\U000e01ef]"
)


def is_shown_as_code_point(ch: str) -> bool:
    """Whether ``ch`` (any character but tab and newline) is shown as a symbol or code
    point rather than drawn: a control, format, separator, unusual space, private-use,
    surrogate or unassigned character, or one of :data:`BLANK_LOOKING`. (Variation
    selectors depend on what precedes them; see :func:`visible`.)"""
    cp = ord(ch)
    return cp in BLANK_LOOKING or (ch != " " and unicodedata.category(ch) in SHOWN_CATEGORIES)


def _visible_char(ch: str, keep_newlines: bool, keep_tabs: bool) -> str:
    cp = ord(ch)
    if ch == "\n":
        return "\n" if keep_newlines else "↵"
    if ch == "\t":
        return "\t" if keep_tabs else "→"
    if cp < 0x20:
        return chr(0x2400 + cp)  # Control Pictures: ␀ ␁ ... ␟
    if cp == 0x7F:
        return "␡"
    if is_shown_as_code_point(ch):
        return f"‹U+{cp:04X}›"
    return ch


def _visible_slow(text: str, keep_newlines: bool, keep_tabs: bool) -> str:
    out: list[str] = []
    prev_drawn = False  # whether the previous character was drawn as itself
    prev_vs = False
    for ch in text:
        if ord(ch) in _VARIATION_SELECTORS:
            if prev_drawn and not prev_vs:
                out.append(ch)
                prev_vs = True
            else:
                out.append(f"‹U+{ord(ch):04X}›")
                prev_drawn = prev_vs = False
            continue
        shown = _visible_char(ch, keep_newlines, keep_tabs)
        out.append(shown)
        prev_drawn = shown == ch and not ch.isspace()
        prev_vs = False
    return "".join(out)


def visible(
    text: str,
    *,
    keep_newlines: bool = True,
    keep_tabs: bool = False,
    max_chars: int | None = None,
) -> str:
    """``text`` with every control or invisible character made visible.

    Newlines are kept (the layout needs them) unless ``keep_newlines`` is False; tabs become
    ``→`` unless ``keep_tabs``; other C0 controls become Control Pictures (␛, ␀...) and DEL
    ␡; every other character of :data:`SHOWN_CATEGORIES` (but the plain space) or of
    :data:`BLANK_LOOKING` becomes ‹U+XXXX›. Printable text, emoji and combining marks pass
    unchanged, except runs of more than :data:`MAX_COMBINING` marks, shown as ‹U+XXXX›.
    With ``max_chars``, longer text is cut and ends with ``…‹+N chars›`` (see :func:`clip`).
    """
    if max_chars is not None:
        text = clip(text, max_chars)
    if text.isprintable() and not _NEEDS_SLOW_PATH.search(text):
        out = text
    else:
        out = _visible_slow(text, keep_newlines, keep_tabs)
    if _COMBINING_RUN.search(out):
        out = _COMBINING_RUN.sub(_show_combining, out)
    return out


def _show_combining(m: re.Match[str]) -> str:
    run = m.group()
    return run[:MAX_COMBINING] + "".join(f"‹U+{ord(c):04X}›" for c in run[MAX_COMBINING:])


def clip(text: str, max_chars: int = MAX_TOKEN_CHARS) -> str:
    """``text`` cut to ``max_chars`` characters for display, with a note of what was cut.

    Only for showing: stored and exported text is never clipped.
    """
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if cut and 0xD800 <= ord(cut[-1]) <= 0xDBFF:
        cut = cut[:-1]  # never leave half of a surrogate pair
    return f"{cut}…‹+{len(text) - len(cut)} chars›"


def visible_token(text: str, data: bytes, max_chars: int | None = 200) -> str:
    """A token's text for the info line: controls visible, unfinished UTF-8 as ‹e2 80›,
    cut at ``max_chars`` (a huge token is noted, not printed whole)."""
    if max_chars is not None and len(data) > 4 * max_chars:
        data = data[: 4 * max_chars]  # no need to decode megabytes to show 200 characters
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return clip(_visible_partial(data), max_chars) if max_chars else _visible_partial(data)
    return visible(text, keep_newlines=False, max_chars=max_chars)


_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def visible_bytes(data: bytes, *, keep_newlines: bool = True, keep_tabs: bool = True) -> str:
    """Raw bytes (an export, a file) as text fit for a terminal: UTF-8 decoded, every
    undecodable byte run shown as hex in ‹›, controls made visible (see :func:`visible`);
    newlines and tabs kept unless asked otherwise. Never clipped."""
    text = data.decode("utf-8", "surrogateescape")
    parts = _ESCAPED_BYTES.split(text)
    if len(parts) == 1:
        return visible(text, keep_newlines=keep_newlines, keep_tabs=keep_tabs)
    runs = _ESCAPED_BYTES.findall(text)
    out = [visible(parts[0], keep_newlines=keep_newlines, keep_tabs=keep_tabs)]
    for run, part in zip(runs, parts[1:], strict=True):
        out.append("‹" + " ".join(f"{ord(c) - 0xDC00:02x}" for c in run) + "›")
        out.append(visible(part, keep_newlines=keep_newlines, keep_tabs=keep_tabs))
    return "".join(out)


def _visible_partial(data: bytes) -> str:
    """Decode what decodes; show each undecodable byte run as hex in ‹›."""
    out: list[str] = []
    run: list[str] = []  # decoded characters, made visible together (a selector needs its base)
    i = 0
    while i < len(data):
        try:
            ch_len = _utf8_len(data[i])
            chunk = data[i : i + ch_len]
            run.append(chunk.decode("utf-8"))
            i += ch_len
        except (UnicodeDecodeError, ValueError):
            j = i + 1
            while j < len(data) and 0x80 <= data[j] <= 0xBF:
                j += 1
            out.append(visible("".join(run), keep_newlines=False))
            run = []
            out.append("‹" + " ".join(f"{b:02x}" for b in data[i:j]) + "›")
            i = j
    out.append(visible("".join(run), keep_newlines=False))
    return "".join(out)


def _utf8_len(first: int) -> int:
    if first < 0x80:
        return 1
    if 0xC2 <= first <= 0xDF:
        return 2
    if 0xE0 <= first <= 0xEF:
        return 3
    if 0xF0 <= first <= 0xF4:
        return 4
    raise ValueError("not a UTF-8 lead byte")


# --------------------------------------------------------------------------- secrets
_SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_KEY")
_SECRET_PATTERNS = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"  # Authorization headers
    r"|\b(sk|rk|pk|hf|gsk|xai)[-_][A-Za-z0-9_-]{12,}"  # common key shapes (OpenAI, HF...)
    r"|([?&](?:api[_-]?key|key|token|access_token)=)[^&\s]+"  # keys in URLs
)


def _secret_values() -> list[str]:
    """Values of environment variables that look like credentials (long enough to matter)."""
    import os

    return sorted(
        (
            v
            for k, v in os.environ.items()
            if k.upper().endswith(_SECRET_ENV_SUFFIXES) and len(v) >= 8
        ),
        key=len,
        reverse=True,
    )


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with API keys replaced by ``***``: the values of ``*_API_KEY``/``*_TOKEN``
    environment variables (and ``secrets``), bearer tokens, ``sk-...``-shaped keys and
    ``key=`` URL parameters. For error lines and logs, never for stored data."""
    for value in (secrets or []) + _secret_values():
        if value and value in text:
            text = text.replace(value, "***")

    def _sub(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1) + "***"
        if m.group(3):
            return m.group(3) + "***"
        return "***"

    return _SECRET_PATTERNS.sub(_sub, text)


def safe_line(text: str, max_chars: int = 500) -> str:
    """One line fit for a terminal: secrets redacted, controls visible, cut to ``max_chars``."""
    return visible(redact(text), keep_newlines=False, max_chars=max_chars)
