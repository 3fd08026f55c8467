"""F1: every key binding as the active keymap has it, generated from the declarations
(:mod:`loomtui.ui.keys`) and the widgets' own bindings."""

from __future__ import annotations

from typing import Protocol

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget

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


def key_table(rows: list[tuple[str, Text, str]], width: int, console: Console) -> Text:
    """The rows as three columns in ``width`` cells: keys and keymap id never wrap, the
    action wraps within its own column. (Laid out here rather than by a rich ``Table``: F1
    opens in half the time, since the table measured and rendered every cell several times.)"""
    header = ("key", Text("action"), "keymap id")
    key_w = max(cell_len(keys) for keys, _, _ in (header, *rows))
    id_w = max(cell_len(bid) for _, _, bid in (header, *rows))
    what_w = max(8, width - key_w - id_w - 4)  # two cells between columns, as a table has
    out = Text(no_wrap=True, overflow="crop")
    for i, (keys, what, bid) in enumerate((header, *rows)):
        lines = what.wrap(console, what_w) or [Text()]
        for j, line in enumerate(lines):
            if i or j:
                out.append("\n")
            line.pad_right(what_w - line.cell_len)
            if i == 0:  # the header: bold throughout
                out.append(f"{keys:<{key_w}}  {line.plain}  {bid:<{id_w}}", style="bold")
                continue
            # Styled as the table was: bold keys, the keymap id dim, the padding between.
            out.append(f"{keys if j == 0 else '':<{key_w}} ", style="bold" if j == 0 else "")
            out.append(" ")
            out.append_text(line)
            if j == 0:
                out.append(" ")
                out.append(f" {bid:<{id_w}}", style="dim")
    return out


class KeyTable(Widget):
    """The keys of :func:`binding_rows`, laid out for the width the widget is given."""

    DEFAULT_CSS = "KeyTable { height: auto; }"

    def __init__(self, rows: list[tuple[str, Text, str]]) -> None:
        super().__init__()
        self.rows = rows
        self._laid: tuple[int, Text] | None = None

    def laid_out(self, width: int) -> Text:
        if self._laid is None or self._laid[0] != width:
            self._laid = (width, key_table(self.rows, width, self.app.console))
        return self._laid[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.laid_out(width).plain.count("\n") + 1

    def render(self) -> Text:
        return self.laid_out(self.content_size.width)


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
        scroll = VerticalScroll()
        scroll.border_title = "keys (rebind: keymap section of the config file)"
        with scroll:
            yield KeyTable(binding_rows(self.app))  # type: ignore[arg-type]
