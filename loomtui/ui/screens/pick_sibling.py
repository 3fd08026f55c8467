"""Which sibling from another model the model diff (``d``) shows beside a node, when there
are several: each in its model's colour with the start of its text; enter picks, esc
closes. Answers with the chosen node's id (None: closed)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ...core.display import visible
from ...core.tree import Session
from ...render.models import MODEL_MARK, ModelColours, model_name_text, session_models

#: Characters of a sibling's text shown in its row.
SHOWN_CHARS = 60


def sibling_rows(session: Session, ids: list[str]) -> list[tuple[str, Text]]:
    """``(id, row)`` for each of ``ids``: its model's mark in its colour, the model's name
    and the start of its text (data: never markup, controls made visible)."""
    colours = ModelColours(session_models(session))
    rows = []
    for nid in ids:
        node = session.node(nid)
        row = Text()
        row.append(MODEL_MARK + " ", style=colours.style(node.model) or "")
        row.append(model_name_text(node.model or "?", 24))
        head = visible(node.text[:SHOWN_CHARS], keep_newlines=False).strip() or "(empty)"
        row.append(": " + head)
        rows.append((nid, row))
    return rows


class SiblingPickScreen(ModalScreen[str | None]):
    """The siblings from other models to diff ``node`` against; the first highlighted."""

    DEFAULT_CSS = """
    SiblingPickScreen { align: center middle; }
    SiblingPickScreen > Vertical { width: 72; max-width: 100%; height: auto;
        max-height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    SiblingPickScreen OptionList { height: auto; max-height: 16; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, session: Session, node_id: str, ids: list[str]) -> None:
        super().__init__()
        self.rows = sibling_rows(session, ids)
        model = session.node(node_id).model or "?"
        self.title_text = (
            f"Diff {model_name_text(model, 24)} with which of {len(ids)} siblings from "
            "other models? enter picks, esc closes"
        )

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text))  # a model name is data
            yield OptionList(*(Option(row, id=nid) for nid, row in self.rows))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        options.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
