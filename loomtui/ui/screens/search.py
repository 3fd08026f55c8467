"""The search dialog (``/``: a pattern, regex or plain, case or not) and the bookmark list
(``B``: every bookmark, enter goes there). Both answer with plain data; the app's
:class:`~loomtui.ui.finding.Finding` does the rest."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Query:
    """What to search for."""

    pattern: str
    is_regex: bool = False
    case: bool = False  # case-sensitive


class SearchScreen(ModalScreen[Query | None]):
    """Asks for a pattern; enter searches, esc closes."""

    DEFAULT_CSS = """
    SearchScreen { align: center middle; }
    SearchScreen > Vertical { width: 64; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    SearchScreen Label { width: 100%; }
    SearchScreen Horizontal { height: auto; }
    SearchScreen Checkbox { width: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, last: Query | None = None, steps: str = "n/N") -> None:
        super().__init__()
        self.last = last or Query("")
        #: The question names the keys that step through the matches (as the keymap has them).
        self.question = f"Search the whole tree (enter searches; {steps} next/previous; esc closes)"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            yield Input(self.last.pattern, id="search-input", placeholder="text or regex")
            with Horizontal():
                yield Checkbox("regex", self.last.is_regex, id="search-regex")
                yield Checkbox("match case", self.last.case, id="search-case")

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.dismiss(None)
            return
        self.dismiss(
            Query(
                event.value,
                self.query_one("#search-regex", Checkbox).value,
                self.query_one("#search-case", Checkbox).value,
            )
        )


class BookmarkScreen(ModalScreen[str | None]):
    """The bookmarks, in tree order: ``(node id, what to show)`` each; enter goes there."""

    DEFAULT_CSS = """
    BookmarkScreen { align: center middle; }
    BookmarkScreen > Vertical { width: 64; max-width: 100%; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1; }
    BookmarkScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, marks: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self.marks = marks
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Bookmarks ({len(self.marks)}): enter goes there, esc closes")
            # Text, never markup: a label or a node's text is data.
            yield OptionList(*(Option(Text(shown), id=nid) for nid, shown in self.marks))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        ids = [nid for nid, _ in self.marks]
        if self.current in ids:
            options.highlighted = ids.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
