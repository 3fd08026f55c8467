"""Export this branch, every leaf under here or every leaf of the tree: text, markdown, jsonl.

The bytes come from :mod:`loomtui.core.export`, the same code ``loomtui export`` runs, so a
file written here and one written by the verb agree (labels and true origins included).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from ...core.atomicfile import replace_file
from ...core.export import FORMATS, export
from ...core.exporters import TREE_FORMATS
from ...core.tree import Session

SUFFIX = {
    "text": ".txt",
    "markdown": ".md",
    "jsonl": ".jsonl",
    "loom": ".loom",
    "obsidian": ".obsidian",
}

#: Radio button id -> core export scope.
SCOPE_IDS = {"scope-branch": "branch", "scope-under": "under", "scope-leaves": "tree"}


def export_bytes(session: Session, *, scope: str, fmt: str, node_id: str | None = None) -> bytes:
    """The export by :func:`loomtui.core.export.export`: ``branch`` is the current branch,
    ``under`` every leaf under ``node_id`` (the node at the token cursor), ``tree`` every
    leaf of the tree."""
    point = session.current_id if scope == "branch" or node_id is None else node_id
    return export(session, fmt, point, scope=scope)


class ExportScreen(ModalScreen[None]):
    """Which branches, which format, which file. ``node_id`` is "here" (the node under the
    token cursor); the current branch is the session's current node."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1; }
    ExportScreen RadioSet { width: 100%; }
    ExportScreen #exp-format { layout: grid; grid-size: 3; grid-rows: 1; height: auto; }
    ExportScreen #exp-format RadioButton { width: 100%; }
    ExportScreen Label { width: 100%; }
    ExportScreen Horizontal { height: auto; }
    ExportScreen Button { margin-right: 1; }
    """
    AUTO_FOCUS = "#exp-path"
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, node_id: str | None = None) -> None:
        super().__init__()
        self.node_id = node_id

    def compose(self) -> ComposeResult:
        app = self.app
        session: Session = app.session  # type: ignore[attr-defined]
        here = self.node_id if self.node_id in session else session.current_id
        under = len(session.leaves(here))
        total = len(session.leaves())
        path = app.path  # type: ignore[attr-defined]
        base = path.with_suffix("") if path else Path.cwd() / "loomtui-export"
        with Vertical() as box:
            box.border_title = "export"
            with RadioSet(id="exp-scope"):
                yield RadioButton("this branch", value=True, id="scope-branch")
                yield RadioButton(f"every leaf under here ({under})", id="scope-under")
                yield RadioButton(f"every leaf of the tree ({total})", id="scope-leaves")
            with RadioSet(id="exp-format"):
                for i, fmt in enumerate(FORMATS):
                    yield RadioButton(fmt, value=i == 0, id=f"fmt-{fmt}")
            yield Label("file (enter exports)")
            yield Input(str(base) + SUFFIX["text"], id="exp-path")
            with Horizontal():
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "exp-format" and event.pressed.id:
            fmt = event.pressed.id.removeprefix("fmt-")
            field = self.query_one("#exp-path", Input)
            field.value = str(Path(field.value).with_suffix(SUFFIX[fmt]))
            # Another loom's format is always the whole tree: no scope to choose.
            self.query_one("#exp-scope", RadioSet).disabled = fmt in TREE_FORMATS

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "export":
            self.dismiss(None)
            return
        self._export()

    def _export(self) -> None:
        scope = next(s for rid, s in SCOPE_IDS.items() if self.query_one(f"#{rid}").value)  # type: ignore[attr-defined]
        fmt = next(f for f in FORMATS if self.query_one(f"#fmt-{f}", RadioButton).value)
        path = Path(self.query_one("#exp-path", Input).value).expanduser()
        session: Session = self.app.session  # type: ignore[attr-defined]
        try:
            data = export_bytes(session, scope=scope, fmt=fmt, node_id=self.node_id)
            replace_file(path, data)  # atomic: a full disk leaves an old file intact
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error", markup=False)
            return
        self.notify(f"exported to {path}", timeout=3, markup=False)
        self.dismiss(None)
