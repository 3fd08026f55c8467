"""Export the current branch or every leaf to a file: text, markdown or jsonl."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from ...core.tree import Session

FORMATS = ("text", "markdown", "jsonl")
SUFFIX = {"text": ".txt", "markdown": ".md", "jsonl": ".jsonl"}


def export_bytes(session: Session, *, leaves: bool, fmt: str) -> bytes:
    """The export of the current branch (or every leaf), by loomtui.core.export: the same
    bytes ``loomtui export`` writes."""
    from ...core.export import export

    return export(session, fmt, session.current_id, all_leaves=leaves)


class ExportScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 64; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 0 1; }
    ExportScreen RadioSet { width: 100%; }
    ExportScreen Horizontal { height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        app = self.app
        base = app.path.with_suffix("") if app.path else Path.cwd() / "loomtui-export"  # type: ignore[attr-defined]
        with Vertical() as box:
            box.border_title = "export"
            with RadioSet(id="exp-scope"):
                yield RadioButton("current branch", value=True, id="scope-branch")
                yield RadioButton("every leaf", id="scope-leaves")
            with RadioSet(id="exp-format"):
                for i, fmt in enumerate(FORMATS):
                    yield RadioButton(fmt, value=i == 0, id=f"fmt-{fmt}")
            yield Label("file")
            yield Input(str(base) + SUFFIX["text"], id="exp-path")
            with Horizontal():
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "exp-format" and event.pressed.id:
            fmt = event.pressed.id.removeprefix("fmt-")
            field = self.query_one("#exp-path", Input)
            field.value = str(Path(field.value).with_suffix(SUFFIX[fmt]))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "export":
            self.dismiss(None)
            return
        leaves = self.query_one("#scope-leaves", RadioButton).value
        fmt = next(f for f in FORMATS if self.query_one(f"#fmt-{f}", RadioButton).value)
        path = Path(self.query_one("#exp-path", Input).value).expanduser()
        try:
            data = export_bytes(self.app.session, leaves=leaves, fmt=fmt)  # type: ignore[attr-defined]
            path.write_bytes(data)
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"exported to {path}", timeout=3)
        self.dismiss(None)
