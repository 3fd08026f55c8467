"""The colour legend: what each colour of the probability scale means."""

from __future__ import annotations

from dataclasses import replace

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ...core.scale import Theme


def legend_text(theme: Theme, mode: str | None = None) -> Text:
    """``p: ██100% ██13% ...`` with the theme's colours and second cues."""
    text = Text(no_wrap=True, overflow="ellipsis")
    scale = mode or theme.mode
    theme = replace(theme, mode=scale)
    text.append(f"{theme.name} ({'prob' if scale == 'prob' else 'logprob'}): ", style="dim")
    for label, color in theme.legend(6):
        text.append("█", style=Style(color=color))
        text.append(f"{label} ", style=Style(color=color))
    if theme.unscored is not None:
        text.append("unscored", style=Style(color=theme.unscored))
    else:
        text.append("plain=unscored", style="dim")
    return text


class Legend(Static):
    DEFAULT_CSS = "Legend { height: 1; padding: 0 1; }"

    def show_theme(self, theme: Theme, mode: str | None = None) -> None:
        self.update(legend_text(theme, mode))
