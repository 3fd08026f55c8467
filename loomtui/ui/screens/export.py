"""Export the current branch or every leaf to a file: text, markdown or jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from ...core.tree import Node, Session

FORMATS = ("text", "markdown", "jsonl")
SUFFIX = {"text": ".txt", "markdown": ".md", "jsonl": ".jsonl"}


def export_text(session: Session, *, leaves: bool, fmt: str) -> str:
    """The export as a string, via loomtui.core.export when it offers ``export_session``."""
    try:
        from ...core import export as core_export
    except ImportError:
        core_export = None
    fn = getattr(core_export, "export_session", None) if core_export else None
    if fn is not None:
        return fn(session, leaves=leaves, fmt=fmt)
    nodes: list[Node] = session.leaves() if leaves else [session.current]
    if fmt == "jsonl":
        return "".join(
            json.dumps({"node": n.id, "text": session.branch_text(n.id)}, ensure_ascii=False)
            + "\n"
            for n in nodes
        )
    if fmt == "markdown":
        parts = [f"## Branch {i + 1} ({n.id})\n\n{session.branch_text(n.id)}\n" for i, n in enumerate(nodes)]
        return "\n".join(parts)
    return "\n\n---\n\n".join(session.branch_text(n.id) for n in nodes) + "\n"


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
            data = export_text(self.app.session, leaves=leaves, fmt=fmt)  # type: ignore[attr-defined]
            path.write_text(data, encoding="utf-8")
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"exported to {path}", timeout=3)
        self.dismiss(None)
