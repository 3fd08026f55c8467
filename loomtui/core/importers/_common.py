"""Helpers more than one importer needs: API-style token bytes, sane numbers."""

from __future__ import annotations

import re
from typing import Any

_BYTES_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def api_token_bytes(text: str) -> bytes:
    """OpenAI-style ``bytes:\\xe2\\x80`` tokens carry raw bytes; others are UTF-8 text."""
    if text.startswith("bytes:") and re.fullmatch(r"(?:\\x[0-9a-fA-F]{2})+", text[6:]):
        return bytes(int(h, 16) for h in _BYTES_ESCAPE.findall(text[6:]))
    return text.encode("utf-8", "surrogatepass")


def finite(x: Any) -> float | None:
    """A number as a float when it is a plain finite int/float within a million, else None."""
    if type(x) in (int, float) and -1e6 <= x <= 1e6:
        return float(x)
    return None
