"""The colour legend widget: one line, drawn by :func:`loomtui.render.legend.legend`."""

from __future__ import annotations

from textual.widgets import Static

from ...core.scale import Theme
from ...render.legend import legend


class Legend(Static):
    DEFAULT_CSS = "Legend { height: 1; padding: 0 1; }"

    def show_theme(self, theme: Theme, mode: str | None = None) -> None:
        text = legend(theme, mode)
        text.no_wrap, text.overflow = True, "ellipsis"  # one line; cut, never wrapped
        self.update(text)
