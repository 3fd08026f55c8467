"""Make untrusted text inert for a terminal: control characters become visible symbols.

Model output, session files and pasted text may hold ANSI escapes, C0/C1 controls, NUL,
bells, carriage returns, bidi overrides and zero-width characters. Stored text stays
byte-exact; only what is *shown* passes through :func:`visible`.
"""

from __future__ import annotations

import unicodedata

# Format characters that reorder or hide text: shown as ‹U+XXXX›.
_BIDI_AND_INVISIBLE = {
    0x200B, 0x200C, 0x200D, 0x200E, 0x200F,  # zero-width space/joiners, LRM, RLM
    0x202A, 0x202B, 0x202C, 0x202D, 0x202E,  # embeddings and overrides
    0x2066, 0x2067, 0x2068, 0x2069,  # isolates
    0x2028, 0x2029, 0xFEFF, 0x00AD, 0x061C, 0x180E,
}


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


def visible(text: str, *, keep_newlines: bool = True, keep_tabs: bool = False) -> str:
    """``text`` with every control or invisible formatting character made visible.

    Newlines are kept (the layout needs them) unless ``keep_newlines`` is False; tabs become
    ``→`` unless ``keep_tabs``. Printable text, emoji and combining marks pass unchanged.
    """
    if text.isprintable() and "\u00ad" not in text:
        return text
    return "".join(_visible_char(ch, keep_newlines, keep_tabs) for ch in text)


def visible_token(text: str, data: bytes) -> str:
    """A token's text for the info line: controls visible, unfinished UTF-8 as ‹e2 80›."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return _visible_partial(data)
    return visible(text, keep_newlines=False)


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
