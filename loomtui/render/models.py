"""Each model of a session in its own colour: the mark the tree and branch panels put on a
model's nodes, the legend (model name -> colour), and two siblings of different models
diffed word by word in their colours (the model diff screen opens on them).

A model's colour is fixed by the order models are first seen (the session's nodes in file
order when it opens, then new models as they generate), from a fixed palette chosen apart
from the probability scales' red-green. Marks and legend show only when a session holds
two models or more: one colour for everything says nothing. Model names are data: shown
through :func:`loomtui.core.display.visible`, never read as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def other_model_siblings(session: Session, node_id: str) -> tuple[str, list[str]] | None:
    """The nearest node from ``node_id`` up that has siblings written by another model, and
    every such sibling in order (the model diff's choices: ``(node, siblings)`` ids); None
    when there is none. Hidden siblings are left out, as the views leave them out."""
    probe = session.nodes.get(node_id)
    while probe is not None and probe.parent is not None:
        if probe.model:
            others = [
                sib.id
                for sib in session.siblings(probe.id)
                if sib.id != probe.id and sib.model and sib.model != probe.model and not sib.hidden
            ]
            if others:
                return probe.id, others
        probe = session.nodes.get(probe.parent)
    return None


def sibling_diff(
    sides: Sequence[tuple[str, str, Sequence[float | None]]], colours: ModelColours
) -> Text:
    """Two siblings of different models, each given as ``(model, text, its tokens'
    logprobs)``: per side its model (in its colour), joint logprob and length, then each text
    with the words the other lacks in its model's colour (difflib's word matching; the words
    both share dim)."""
    import difflib

    from ..core.metrics import joint_logprob

    rows = [(label, m, text, list(lps)) for label, (m, text, lps) in zip("AB", sides, strict=True)]
    colours.see_all(r[1] for r in rows)
    out = Text()
    for label, model, _, logprobs in rows:
        jl = joint_logprob(logprobs)
        out.append(f"{label} ")
        out.append(MODEL_MARK + " ", style=Style(color=colours.see(model), bold=True))
        out.append(model_name_text(model, 40))
        total = "plain text" if jl is None else f"Σ logprob {jl:.3f}"
        out.append(f"  {total} over {len(logprobs)} tokens\n", style="dim")
    words = [r[2].split(" ") for r in rows]
    matcher = difflib.SequenceMatcher(a=words[0], b=words[1], autojunk=False)
    for side, (label, model, _, _) in enumerate(rows):
        out.append(f"\n{label}:", style="bold")
        colour = Style(color=colours.see(model), bold=True)
        for op, a0, a1, b0, b1 in matcher.get_opcodes():
            lo, hi = (a0, a1) if side == 0 else (b0, b1)
            if lo == hi:
                continue
            chunk = visible(" ".join(words[side][lo:hi]))
            out.append(chunk + " ", style="dim" if op == "equal" else colour)
        out.append("\n")
    return out
