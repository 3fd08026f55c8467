"""F1: every key binding as the active keymap has it, generated from the declarations
(:mod:`loomtui.ui.keys`) and the widgets' own bindings."""

from __future__ import annotations

from typing import Protocol

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keys import Key


class HelpHost(Protocol):
    """What F1 needs from the app."""

    def declared_keys(self) -> list[Key]: ...

    def keys_of(self, binding_id: str, default: str | None = None) -> str: ...


def binding_rows(app: HelpHost) -> list[tuple[str, Text, str]]:
    """(keys, what they do, keymap id) for the app's keys, then the token view's and the
    top-k menu's."""
    from ..widgets.token_view import TokenView
    from ..widgets.topk import TopKMenu

    rows: list[tuple[str, Text, str]] = []
    for key in app.declared_keys():
        what = Text(key.name)
        what.append(f"  {key.help}", style="dim")
        rows.append((app.keys_of(key.id), what, key.id))
    for binding in [*TokenView.BINDINGS, *TopKMenu.BINDINGS]:
        if isinstance(binding, Binding) and binding.id:
            keys = app.keys_of(binding.id, binding.key)
            rows.append((keys, Text(binding.description), binding.id))
    rows.append(("1-9 / enter", Text("In the top-k menu: pick an alternative"), ""))
    return rows


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: 90%;
        border: round $accent; background: $surface; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("f1", "dismiss(None)", "Close", show=False),
        Binding("q", "dismiss(None)", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, expand=True, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        table.add_column(Text("keymap id"), style="dim", no_wrap=True)
        for keys, desc, bid in binding_rows(self.app):  # type: ignore[arg-type]
            table.add_row(Text(keys), desc, Text(bid))
        scroll = VerticalScroll()
        scroll.border_title = "keys (rebind: keymap section of the config file)"
        with scroll:
            yield Static(table)
