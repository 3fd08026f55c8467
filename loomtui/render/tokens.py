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
from ..core.tokens import DIST_SAMPLING, Token
from ..core.tree import Session
from .text import one_line

#: What colours a token (the ``[ui] color_by`` setting): its raw probability, or the one the
#: sampler drew it with (after temperature, top-k and top-p).
COLOR_BY = ("raw", "sampled")


def colour_logprob(token: Token, color_by: str = "raw") -> float | None:
    """The logprob that colours ``token``: its sampled one when ``color_by`` is "sampled" and
    the token has one (greedy and most API tokens do not: they keep their own logprob)."""
    if color_by == "sampled" and token.sampling_logprob is not None:
        return token.sampling_logprob
    return token.logprob


def sampler_label(settings: dict | None) -> str:
    """What the sampler did, from a node's settings: ``T 0.7, top-p 0.9`` (top-p and top-k
    only when they cut anything); empty when the settings are not known."""
    if not settings or not isinstance(settings.get("temperature"), int | float):
        return ""
    parts = [f"T {settings['temperature']:g}"]
    top_p = settings.get("top_p")
    if isinstance(top_p, int | float) and top_p < 1:
        parts.append(f"top-p {top_p:g}")
    top_k = settings.get("top_k")
    if isinstance(top_k, int) and top_k > 0:
        parts.append(f"top-k {top_k}")
    return ", ".join(parts)


def dist_name(token: Token) -> str:
    """The label of the distribution a token's ``logprob`` comes from: "raw" (the model's own
    softmax) or "sampling" (a server's processed one)."""
    return "sampling" if token.dist == DIST_SAMPLING else "raw"


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


def branch_text(session: Session, node_id: str, theme: Theme, color_by: str = "raw") -> Text:
    """The branch ending at ``node_id``, each token coloured by its logprob (each token's
    bytes shown on their own, so every token keeps its colour; ``color_by``: see
    :func:`colour_logprob`). In a chat session each turn starts on its own line under a quiet
    marker line with its role."""
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
            lp = colour_logprob(tok, color_by)
            out.append(token_display(tok.text, tok.bytes), token_style(theme, lp))
        if seg.error:
            out.append(f" [failed: {one_line(seg.error)}]", Style(italic=True))
    return out


def tokens_text(tokens: Iterable[Token], theme: Theme, color_by: str = "raw") -> Text:
    """The tokens as one text, each character coloured by the probability of the token that
    completed it (bytes are joined first, so split characters come out whole; ``color_by``:
    see :func:`colour_logprob`)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = Text()
    for tok in tokens:
        chars = decoder.decode(tok.bytes)
        if chars:
            out.append(visible(chars), token_style(theme, colour_logprob(tok, color_by)))
    tail = decoder.decode(b"", final=True)
    if tail:
        out.append(visible(tail))
    return out
