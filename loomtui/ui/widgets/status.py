"""The info line (the token under the cursor) and the status bar (model, settings, speed)."""

from __future__ import annotations

import math
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from ...backends.base import GenerationSettings
from ...core.display import visible, visible_token
from ...core.tokens import DIST_SAMPLING
from ..document import Unit


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
        # Wrapped onto the next line by InfoLine when long: the reason is never cut.
        out.append("  failed: ", style="red")
        out.append(visible(node_error, keep_newlines=False), style="red")
    return out


class InfoLine(Static):
    """The token under the cursor, described exactly."""

    # One line, two when a failure reason or a long token needs them (wrapped, never cut).
    DEFAULT_CSS = "InfoLine { height: auto; max-height: 2; background: $panel; padding: 0 1; }"


def settings_summary(s: GenerationSettings) -> str:
    seed = "" if s.seed is None else f" seed={s.seed}"
    mode = "chat" if s.chat else "completion"
    return f"T={s.temperature:g} p={s.top_p:g} max={s.max_tokens} n={s.n} k={s.logprobs_k}{seed} {mode}"


def short_path(path: Path, limit: int = 40) -> str:
    """``path`` as the status line shows it: relative to the working directory when under
    it, and no longer than ``limit`` (``…/parent/name`` then), so the line fits 80 columns."""
    text = str(path)
    try:
        text = str(path.absolute().relative_to(Path.cwd().absolute()))
    except (ValueError, OSError):
        pass
    if len(text) <= limit:
        return text
    tail = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return "…/" + tail


class StatusBar(Static):
    """Model, backend, settings, generation progress and tokens/s."""

    # Wraps onto a second line at narrow widths (80 columns, a long model name or path).
    DEFAULT_CSS = (
        "StatusBar { height: auto; max-height: 2; background: $primary-background; padding: 0 1; }"
    )

    def update_status(
        self,
        *,
        model: str,
        backend: str,
        settings: GenerationSettings,
        progress: str = "",
        note: str = "",
    ) -> None:
        text = Text(overflow="fold")
        text.append(visible(model, keep_newlines=False), style="bold")
        if backend:
            text.append(f" [{backend}]")
        if progress:
            text.append("  " + progress, style="bold")
        text.append("  " + settings_summary(settings), style="dim")
        if note:
            text.append("  " + visible(note, keep_newlines=False))
        self.update(text)
