"""Each model of a session in its own colour: the mark the tree and branch panels put on a
model's nodes, and the legend (model name -> colour).

A model's colour is fixed by the order models are first seen (the session's nodes in file
order when it opens, then new models as they generate), from a fixed palette chosen apart
from the probability scales' red-green. Marks and legend show only when a session holds
two models or more: one colour for everything says nothing. Model names are data: shown
through :func:`loomtui.core.display.visible`, never read as markup.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style
from rich.text import Text

from ..core.display import visible
from ..core.tree import Session

#: The models' colours, in the order models are first seen (xterm-256 cube values, so a
#: 256-colour terminal shows them exactly); a ninth model takes the first colour again.
MODEL_COLOURS: tuple[str, ...] = (
    "#5f87ff",  # blue
    "#ff87d7",  # pink
    "#ffaf5f",  # orange
    "#5fd7d7",  # teal
    "#d7d75f",  # olive
    "#af87ff",  # violet
    "#ff5f5f",  # red
    "#87d787",  # green
)

#: The glyph that marks a node with its model's colour.
MODEL_MARK = "●"


def session_models(session: Session) -> list[str]:
    """The models that wrote the session's nodes, in the order they are first seen."""
    return list(dict.fromkeys(n.model for n in session.nodes.values() if n.model))


class ModelColours:
    """Model name -> colour, assigned in the order names are first seen and then kept."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._colours: dict[str, str] = {}
        for name in names:
            self.see(name)

    def see(self, name: str | None) -> str | None:
        """``name``'s colour (a new name takes the next one); None for no model."""
        if not name:
            return None
        colour = self._colours.get(name)
        if colour is None:
            colour = self._colours[name] = MODEL_COLOURS[len(self._colours) % len(MODEL_COLOURS)]
        return colour

    def see_all(self, names: Iterable[str]) -> None:
        for name in names:
            self.see(name)

    @property
    def names(self) -> list[str]:
        return list(self._colours)

    def __len__(self) -> int:
        return len(self._colours)

    @property
    def shown(self) -> bool:
        """Whether marks and legend are shown: two models or more."""
        return len(self._colours) > 1

    def style(self, name: str | None) -> Style | None:
        """The style of ``name``'s mark (a new name is seen here); None when marks are not
        shown (fewer than two models) or for no model."""
        colour = self.see(name)
        return None if colour is None or not self.shown else Style(color=colour, bold=True)


def model_name_text(name: str, width: int | None = None) -> str:
    """A model name as one inert line, cut to ``width`` cells with an ellipsis."""
    text = visible(name, keep_newlines=False)
    if width is not None and len(text) > width:
        text = text[: max(1, width - 1)] + "…"
    return text


def model_legend(colours: ModelColours, width: int = 28, max_lines: int = 4) -> Text:
    """``● name`` per model, one line each, in the models' colours; past ``max_lines`` the
    last line says how many more. Empty when fewer than two models."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not colours.shown:
        return text
    names = colours.names
    shown = names if len(names) <= max_lines else names[: max_lines - 1]
    for i, name in enumerate(shown):
        if i:
            text.append("\n")
        text.append(MODEL_MARK + " ", style=colours.style(name) or "")
        text.append(model_name_text(name, max(4, width - 2)))
    if len(shown) < len(names):
        text.append(f"\n+{len(names) - len(shown)} more models", style="dim")
    return text
