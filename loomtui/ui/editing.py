"""Editing a branch as text: where the editor's cursor goes, and what Escape asks.

The editor shows a branch's text; the token cursor and the editor's cursor meet at a point
of the tree. A point ``(node_id, offset)`` is a place between units; in the text it is the
number of characters before it (counted as the branch text is decoded: bytes joined across
tokens and nodes, so a character split between two tokens counts once).
"""

from __future__ import annotations

import codecs

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ..core.tree import Node, Session


def _unit_bytes(node: Node, offset: int) -> bytes:
    """The bytes of ``node``'s first ``offset`` units (tokens, or characters of plain text)."""
    if node.tokens is not None:
        return b"".join(t.bytes for t in node.tokens[:offset])
    return node.plain[:offset].encode("utf-8", "surrogatepass")


def char_offset(session: Session, node_id: str, offset: int) -> int:
    """Characters of the branch text before the point ``(node_id, offset)``."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    count = 0
    for node in session.path(node_id):
        if node.id == node_id:
            count += len(decoder.decode(_unit_bytes(node, offset)))
            break
        count += len(decoder.decode(node.data))
    return count


def point_at_char(session: Session, leaf_id: str, char: int) -> tuple[str, int] | None:
    """The unit of the branch ending at ``leaf_id`` that holds character ``char`` of its
    text, as ``(node_id, offset)``; None past the end (or for a negative ``char``)."""
    if char < 0:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    count = 0
    for node in session.path(leaf_id):
        if node.tokens is not None:
            units = [t.bytes for t in node.tokens]
        else:
            units = [ch.encode("utf-8", "surrogatepass") for ch in node.plain]
        for i, data in enumerate(units):
            count += len(decoder.decode(data))
            if count > char:
                return node.id, i
    return None


class LeaveEditScreen(ModalScreen[str]):
    """Escape in the editor with changes: discard them, keep editing, or commit them.
    Dismissed with ``"discard"``, ``"keep"`` or ``"commit"``."""

    DEFAULT_CSS = """
    LeaveEditScreen { align: center middle; }
    LeaveEditScreen > Vertical { width: 60; max-width: 100%; height: auto;
        border: round $warning; background: $surface; padding: 0 1; }
    LeaveEditScreen Label { width: 100%; }
    LeaveEditScreen Horizontal { height: auto; }
    LeaveEditScreen Button { min-width: 12; margin-right: 1; }
    """
    AUTO_FOCUS = "#keep"
    BINDINGS = [
        Binding("d", "choose('discard')", "Discard"),
        Binding("k,escape", "choose('keep')", "Keep editing"),
        Binding("c,ctrl+s", "choose('commit')", "Commit", priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "unsaved edit"
            yield Label("The text was changed. Commit it as a new sibling branch?")
            with Horizontal():
                yield Button("Discard (d)", id="discard", variant="error")
                yield Button("Keep editing (k)", id="keep")
                yield Button("Commit (c)", id="commit", variant="primary")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "keep")
