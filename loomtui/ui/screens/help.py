"""F1: every key binding, with the keymap's overrides applied."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def binding_rows(app) -> list[tuple[str, str, str]]:
    """(keys, description, binding id) for the app's, the view's and instruments' bindings."""
    from ..widgets.token_view import TokenView

    keymap = getattr(app, "_keymap", {}) or {}
    rows: list[tuple[str, str, str]] = []
    for binding in [*type(app).BINDINGS, *TokenView.BINDINGS]:
        if not isinstance(binding, Binding):
            continue
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        rows.append((_pretty(keys), binding.description, binding.id or ""))
    for name, spec in getattr(app, "instruments", {}).items():
        if getattr(spec, "key", None):
            rows.append((_pretty(spec.key), spec.title, f"instrument:{name}"))
    rows.append(("ctrl+p", "Command palette: every action", ""))
    rows.append(("1-9 / enter", "In the top-k menu: pick an alternative", ""))
    return rows


_NAMES = {
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "less_than_sign": "<",
    "greater_than_sign": ">",
}


def _pretty(keys: str) -> str:
    return ",".join(_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


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
        for keys, desc, bid in binding_rows(self.app):
            table.add_row(Text(keys), Text(desc), Text(bid))
        scroll = VerticalScroll()
        scroll.border_title = "keys (rebind: keymap section of the config file)"
        with scroll:
            yield Static(table)
