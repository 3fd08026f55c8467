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

# Format characters that reorder or hide text: shown as ‹U+XXXX›.
# fmt: off
_BIDI_AND_INVISIBLE = {
    0x200B, 0x200C, 0x200D, 0x200E, 0x200F,  # zero-width space/joiners, LRM, RLM
    0x202A, 0x202B, 0x202C, 0x202D, 0x202E,  # embeddings and overrides
    0x2066, 0x2067, 0x2068, 0x2069,  # isolates
    0x2028, 0x2029, 0xFEFF, 0x00AD, 0x061C, 0x180E,
    0x034F,  # combining grapheme joiner
    0x115F, 0x1160, 0x3164, 0xFFA0,  # Hangul fillers: letters that draw nothing
    0x2800,  # braille blank
}
# fmt: on


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
    if 0x80 <= cp <= 0x9F:
        return f"‹U+{cp:04X}›"
    if 0xD800 <= cp <= 0xDFFF:
        return f"‹U+{cp:04X}›"
    if cp in _BIDI_AND_INVISIBLE:
        return f"‹U+{cp:04X}›"
    if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn") and cp > 0xFF:
        return f"‹U+{cp:04X}›"
    return ch


def visible(
    text: str,
    *,
    keep_newlines: bool = True,
    keep_tabs: bool = False,
    max_chars: int | None = None,
) -> str:
    """``text`` with every control or invisible formatting character made visible.

    Newlines are kept (the layout needs them) unless ``keep_newlines`` is False; tabs become
    ``→`` unless ``keep_tabs``. Printable text, emoji and combining marks pass unchanged,
    except runs of more than :data:`MAX_COMBINING` marks, shown as ‹U+XXXX›. With
    ``max_chars``, longer text is cut and ends with ``…‹+N chars›`` (see :func:`clip`).
    """
    if max_chars is not None:
        text = clip(text, max_chars)
    if text.isprintable() and "\u00ad" not in text:
        out = text
    else:
        out = "".join(_visible_char(ch, keep_newlines, keep_tabs) for ch in text)
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


def _visible_partial(data: bytes) -> str:
    """Decode what decodes; show each undecodable byte run as hex in ‹›."""
    out: list[str] = []
    i = 0
    while i < len(data):
        try:
            ch_len = _utf8_len(data[i])
            chunk = data[i : i + ch_len]
            ch = chunk.decode("utf-8")
            out.append(visible(ch, keep_newlines=False))
            i += ch_len
        except (UnicodeDecodeError, ValueError):
            j = i + 1
            while j < len(data) and 0x80 <= data[j] <= 0xBF:
                j += 1
            out.append("‹" + " ".join(f"{b:02x}" for b in data[i:j]) + "›")
            i = j
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
