"""Text primitives of the renderer: one-line visible text and bars (plain strings)."""

from __future__ import annotations

from ..core.display import visible

#: Partial blocks for a bar's last cell, one to seven eighths.
_EIGHTHS = "▏▎▍▌▋▊▉"


def one_line(text: str) -> str:
    """Outside text on one line: newlines, tabs and other controls shown as symbols."""
    return visible(text, keep_newlines=False)


def bar(share: float, width: int = 24) -> str:
    """A horizontal bar of ``share`` (clamped to 0..1) of ``width`` cells, in eighths."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part - 1] if part else "")
