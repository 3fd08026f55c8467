"""The info line (the token under the cursor) and the status bar (model, settings, speed)."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from ...backends.base import GenerationSettings
from ...core.display import visible, visible_token
from ...core.tokens import DIST_SAMPLING
from ..layout import Unit


def describe_unit(unit: Unit | None, node_error: str | None = None) -> Text:
    """One line about a unit: its exact text, probability, logprob, rank and entropy."""
    if unit is None:
        return Text("empty document: type a prompt, then ctrl+g to generate", style="dim")
    tok = unit.token
    if tok is None:
        out = Text()
        out.append("‹" + visible(unit.text, keep_newlines=False) + "›", style="bold")
        out.append("  text you wrote, not scored (palette: Score text)", style="dim")
        return out
    out = Text()
    out.append("‹" + visible_token(tok.text, tok.bytes) + "›", style="bold")
    if tok.logprob is None:
        out.append("  no logprob (first token, nothing before it)", style="dim")
    else:
        out.append(f"  p={math.exp(tok.logprob):.4f}  logprob={tok.logprob:.3f}")
        rank = tok.rank()
        if tok.top:
            out.append(f"  rank={rank if rank is not None else '>' + str(len(tok.top))}")
    if tok.entropy is not None:
        out.append(f"  H={tok.entropy:.2f} nats")
    out.append("  (sampling dist)" if tok.dist == DIST_SAMPLING else "  (raw dist)", style="dim")
    if node_error:
        out.append(f"  failed: {visible(node_error, keep_newlines=False)}", style="red")
    return out


class InfoLine(Static):
    """The token under the cursor, described exactly."""

    DEFAULT_CSS = "InfoLine { height: 1; background: $panel; padding: 0 1; }"


def settings_summary(s: GenerationSettings) -> str:
    seed = "" if s.seed is None else f" seed={s.seed}"
    mode = "chat" if s.chat else "completion"
    return f"T={s.temperature:g} p={s.top_p:g} max={s.max_tokens} n={s.n} k={s.logprobs_k}{seed} {mode}"


class StatusBar(Static):
    """Model, backend, settings, generation progress and tokens/s."""

    DEFAULT_CSS = "StatusBar { height: 1; background: $primary-background; padding: 0 1; }"

    def update_status(
        self,
        *,
        model: str,
        backend: str,
        settings: GenerationSettings,
        progress: str = "",
        note: str = "",
    ) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(visible(model, keep_newlines=False), style="bold")
        if backend:
            text.append(f" [{backend}]")
        if progress:
            text.append("  " + progress, style="bold")
        text.append("  " + settings_summary(settings), style="dim")
        if note:
            text.append("  " + visible(note, keep_newlines=False))
        self.update(text)
