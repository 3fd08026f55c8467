"""Tokens coloured by probability: one style per logprob, from a :class:`core.scale.Theme`.

The app's token view, ``loomtui show`` and ``generate``/``score`` all colour a token here, so
a token has the same colour and second cue (bold/underline) everywhere.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable

from rich.style import Style
from rich.text import Text

from ..core.display import MAX_TOKEN_CHARS, visible, visible_token
from ..core.scale import Theme
from ..core.tokens import Token
from ..core.tree import Session
from .text import one_line


def token_style(theme: Theme, logprob: float | None, mode: str | None = None) -> Style:
    """The style of a scored token: the scale's colour, plus bold/underline when unlikely.

    ``mode`` overrides the theme's scale ("prob" or "logprob"); a logprob of None (a token
    the model did not score) gets the theme's unscored colour.
    """
    bold, underline = theme.emphasis_for(logprob)
    return Style(
        color=theme.color_for(logprob, mode), bold=bold or None, underline=underline or None
    )


def unscored_style(theme: Theme) -> Style:
    """The style of text no model scored (typed or pasted text)."""
    return Style(color=theme.unscored) if theme.unscored else Style()


def token_display(text: str, data: bytes) -> str:
    """One token's own text, newlines kept: controls visible, an unfinished UTF-8 byte run
    shown as ``‹e2 80›``, a huge token cut with a note."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return visible_token(text, data)
    return visible(text, max_chars=MAX_TOKEN_CHARS)


#: The style of a chat turn's marker line (quiet: it is not text of the branch).
TURN_STYLE = Style(dim=True, italic=True)


def turn_marker(role: str) -> str:
    """The marker line that starts a chat turn (``── assistant ──``)."""
    return f"── {role} ──"


def branch_text(session: Session, node_id: str, theme: Theme) -> Text:
    """The branch ending at ``node_id``, each token coloured by its logprob (each token's
    bytes shown on their own, so every token keeps its colour). In a chat session each turn
    starts on its own line under a quiet marker line with its role."""
    out = Text()
    unscored = unscored_style(theme)
    turns = session.turn_nodes(node_id, True) if session.is_chat() else []
    starts = {id(nodes[0]): role for role, nodes in turns}
    for seg in session.path(node_id):
        role = starts.get(id(seg))
        if role is not None:
            if out.plain and not out.plain.endswith("\n"):
                out.append("\n")
            out.append(turn_marker(role) + "\n", TURN_STYLE)
        if seg.tokens is None:
            if seg.plain:
                out.append(visible(seg.plain), unscored)
            continue
        for tok in seg.tokens:
            out.append(token_display(tok.text, tok.bytes), token_style(theme, tok.logprob))
        if seg.error:
            out.append(f" [failed: {one_line(seg.error)}]", Style(italic=True))
    return out


def tokens_text(tokens: Iterable[Token], theme: Theme) -> Text:
    """The tokens as one text, each character coloured by the probability of the token that
    completed it (bytes are joined first, so split characters come out whole)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = Text()
    for tok in tokens:
        chars = decoder.decode(tok.bytes)
        if chars:
            out.append(visible(chars), token_style(theme, tok.logprob))
    tail = decoder.decode(b"", final=True)
    if tail:
        out.append(visible(tail))
    return out
