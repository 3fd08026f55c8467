"""The info line (the token under the cursor) and the status bar (model, settings, speed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import Static

from ...backends.base import GenerationSettings
from ...core.display import visible, visible_token
from ...core.metrics import confidence, token_entropy
from ...core.tokens import DIST_SAMPLING
from ...core.tree import Session
from ...render.tokens import dist_name, sampler_label
from ..document import Unit


def info_for(unit: Unit | None, session: Session, vocab_size: int | None, empty: str) -> Text:
    """The info line for the unit under the cursor (``empty``: the hint when the document
    is empty), with its node's error and sampler settings."""
    if unit is None:
        return Text(empty, style="dim")
    node = session.nodes.get(unit.node_id)
    error = node.error if node is not None else session.current.error
    return describe_unit(
        unit,
        error,
        vocab_size=vocab_size,
        settings=node.settings if node is not None else None,
    )


def describe_unit(
    unit: Unit | None,
    node_error: str | None = None,
    *,
    vocab_size: int | None = None,
    settings: dict[str, Any] | None = None,
) -> Text:
    """One line about a unit: its exact text, probability, logprob, rank, entropy and
    confidence (``conf(k=20)=2.31``: −mean of its top-k logprobs).

    A token the sampler drew with a known probability shows both, labelled: ``p=0.3100 raw
    · 0.5200 sampled (T 0.7, top-p 0.9)`` (``settings``: its node's). Where only a top-k list
    is known the entropy is a range, ``H 1.20–3.40 nats (bounds: top-20 only)``, with a finite
    upper end when ``vocab_size`` is known (else ``H ≥1.20``).
    """
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
    # Both numbers when they are of two distributions; a server's post-sampling value is
    # the token's logprob already (labelled "sampling dist" below), never shown twice.
    both = (
        tok.logprob is not None and tok.sampling_logprob is not None and tok.dist != DIST_SAMPLING
    )
    if tok.logprob is None:
        out.append("  no logprob (first token, nothing before it)", style="dim")
    else:
        out.append(f"  p={math.exp(tok.logprob):.4f}")
        if both:
            out.append(f" {dist_name(tok)} · {math.exp(tok.sampling_logprob):.4f} sampled")
            label = sampler_label(settings)
            if label:
                out.append(f" ({label})", style="dim")
        out.append(f"  logprob={tok.logprob:.3f}")
        rank = tok.rank()
        if tok.top:
            out.append(f"  rank={rank if rank is not None else '>' + str(len(tok.top))}")
    bounds = token_entropy(tok, vocab_size)
    if tok.entropy is not None:
        out.append(f"  H={tok.entropy:.2f} nats")
    elif bounds is not None:
        lo, hi = bounds
        shown = f"{lo:.2f}–{hi:.2f}" if math.isfinite(hi) else f"≥{lo:.2f}"
        out.append(f"  H {shown} nats")
        out.append(f" (bounds: top-{len(tok.top)} only)", style="dim")
    if not both:  # with both shown, each number carries its own label
        out.append(f"  ({dist_name(tok)} dist)", style="dim")
    conf = confidence(tok.top) if tok.top else None
    if conf is not None:  # −mean top-k logprob: compares only at equal k, so k is said
        # Last, and one word: where the line wraps it moves down whole.
        out.append("  conf")
        out.append(f"(k={conf[1]})", style="dim")
        out.append(f"={conf[0]:.2f}")
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
        lacks: Sequence[str] = (),
    ) -> None:
        text = Text(overflow="fold")
        text.append(visible(model, keep_newlines=False), style="bold")
        if backend:
            text.append(f" [{backend}]")
        if lacks:  # what `loomtui doctor` found the server does not do
            text.append(
                " no " + ", ".join(visible(w, keep_newlines=False) for w in lacks), style="yellow"
            )
        if progress:
            text.append("  " + progress, style="bold")
        text.append("  " + settings_summary(settings), style="dim")
        if note:
            text.append("  " + visible(note, keep_newlines=False))
        self.update(text)
