"""The top-k menu: the alternatives at the token cursor, with numbers and bars."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...core.display import visible_token
from ...core.tokens import Alt, Token
from ...render.tokens import dist_name, sampler_label

BAR = 12


def alt_label(i: int, alt: Alt, chosen: bool, color: str | None = None) -> Text:
    """`` 1 ████▌       53.2% ‹ the›  ◀ chosen``"""
    p = math.exp(alt.logprob)
    cells = p * BAR
    full = int(cells)
    bar = "█" * full + ("▌" if cells - full >= 0.5 else "")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{i + 1:>2} ")
    text.append(bar.ljust(BAR), style=color or "")
    text.append(f" {p:6.1%} " if p >= 0.001 else f" {p:.0e} ")
    text.append("‹" + visible_token(alt.text, alt.bytes) + "›", style="bold" if chosen else "")
    if chosen:
        text.append("  ◀ chosen", style="bold")
    return text


def is_chosen(token: Token, alt: Alt) -> bool:
    if token.token_id is not None and alt.token_id is not None:
        return token.token_id == alt.token_id
    return token.bytes == alt.bytes


class TopKMenu(ModalScreen[Alt | None]):
    """Pick an alternative (enter or its number); escape closes."""

    DEFAULT_CSS = """
    TopKMenu { align: center middle; }
    TopKMenu > Vertical { width: 60; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; }
    TopKMenu OptionList { height: auto; max-height: 18; border: none; }
    TopKMenu #topk-head, TopKMenu #topk-sampled { padding: 0 1; }
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="topk-close")] + [
        Binding(str(d), f"pick_number({d})", show=False) for d in range(1, 10)
    ]

    def __init__(
        self,
        token: Token,
        colors: list[str | None] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.settings = settings  # the token's node's (labels its sampled probability)
        self.alts = list(token.top)
        self.alt_colors = colors or [None] * len(self.alts)

    def compose(self) -> ComposeResult:
        tok = self.token
        with Vertical():
            head = Text(no_wrap=True, overflow="ellipsis")
            head.append("alternatives to ")
            head.append("‹" + visible_token(tok.text, tok.bytes) + "›", style="bold")
            head.append(f"  ({dist_name(tok)} dist)", style="dim")
            yield Static(head, id="topk-head")
            if tok.logprob is not None and tok.sampling_logprob is not None:
                # The bars are the listed distribution's; the sampler's own probability of
                # the chosen token is known too: both, labelled.
                label = sampler_label(self.settings)
                line = Text(no_wrap=True, overflow="ellipsis", style="dim")
                line.append(f"chosen: {math.exp(tok.logprob):.1%} {dist_name(tok)} · ")
                line.append(f"{math.exp(tok.sampling_logprob):.1%} sampled")
                line.append(f" ({label})" if label else "")
                yield Static(line, id="topk-sampled")
            chosen = [i for i, a in enumerate(self.alts) if is_chosen(tok, a)]
            options = [
                Option(alt_label(i, a, i in chosen, self.alt_colors[i]), id=str(i))
                for i, a in enumerate(self.alts)
            ]
            if not options:
                options = [Option(Text("no alternatives stored for this token"), disabled=True)]
            menu = OptionList(*options, id="topk-list")
            if chosen:
                menu.highlighted = chosen[0]
            yield menu

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.dismiss(self.alts[int(event.option.id)])

    def action_pick_number(self, number: int) -> None:
        if 0 < number <= len(self.alts):
            self.dismiss(self.alts[number - 1])
