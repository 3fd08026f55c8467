"""The colour legend: what each colour of a probability scale means, for the CLI and the app."""

from __future__ import annotations

from dataclasses import replace

from rich.style import Style
from rich.text import Text

from ..core.scale import Theme

#: How many colour stops the legend shows (the same in ``loomtui show`` and in the app).
LEGEND_STEPS = 6


def legend(theme: Theme, mode: str | None = None) -> Text:
    """``green-red (logprob): █100% █19% ... plain=unscored`` in the theme's colours.

    ``mode`` ("prob" or "logprob") overrides the theme's own scale, as the app's toggle does.
    """
    scale = mode or theme.mode
    theme = replace(theme, mode=scale)
    text = Text()
    text.append(f"{theme.name} ({'prob' if scale == 'prob' else 'logprob'}): ", style="dim")
    for label, color in theme.legend(LEGEND_STEPS):
        style = Style(color=color)
        text.append("█", style=style)
        text.append(f"{label} ", style=style)
    if theme.unscored is not None:
        text.append("unscored", style=Style(color=theme.unscored))
    else:
        text.append("plain=unscored", style="dim")
    return text
