"""Editing a branch as text: the editor's lifecycle (:class:`Editing`: open at the token
cursor, save as a sibling, leave or discard), where the editor's cursor goes, and what
Escape asks.

The editor shows a branch's text; the token cursor and the editor's cursor meet at a point
of the tree. A point ``(node_id, offset)`` is a place between units; in the text it is the
number of characters before it (counted as the branch text is decoded: bytes joined across
tokens and nodes, so a character split between two tokens counts once).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ..core.tree import Node, Session
from .host import TreeHost

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widgets import TextArea

    from .widgets.token_view import TokenView


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


class EditingHost(TreeHost, Protocol):
    """What an :class:`Editing` needs from the app that holds it."""

    @property
    def view(self) -> TokenView: ...

    @property
    def editor(self) -> TextArea: ...

    def refresh_bindings(self) -> None: ...

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], None]) -> Any: ...


class Editing:
    """The editor over the token view: it opens on the current branch at the token
    cursor's place; saving makes the edit a sibling (the original is kept) and puts the
    token cursor at the edit point; leaving asks when the text changed."""

    def __init__(self, host: EditingHost) -> None:
        self.host = host
        self.base: tuple[str, str] | None = None  # (node id, text) the editor opened on

    @property
    def active(self) -> bool:
        """The editor is open (on the main screen)."""
        return bool(self.host.editor.display)

    def after_typed(self, then: Callable[[], None]) -> None:
        """Run ``then`` once the editor has handled every key typed before now. Priority
        keys (ctrl+s, ctrl+g, ctrl+q) run before the editor has handled the keys queued
        ahead of them; a callback on the editor's own queue runs after them, so nothing
        typed is lost."""
        self.host.editor.call_later(then)

    def open(self) -> None:
        """Show the branch text in the editor, its cursor just after the token under the
        token cursor (the point ctrl+g generates from)."""
        host = self.host
        session, editor, view = host.session, host.editor, host.view
        text = session.branch_text(session.current_id)
        self.base = (session.current_id, text)
        editor.load_text(text)
        unit = view.current_unit()
        at = len(text)
        if unit is not None and unit.node_id in session:
            at = min(at, char_offset(session, unit.node_id, unit.end))
        view.display = False
        editor.display = True
        editor.move_cursor(editor.document.get_location_from_index(at))
        editor.focus()
        host.refresh_bindings()

    def changed(self) -> bool:
        """The editor's text differs from the branch it was opened on."""
        return self.base is None or self.host.editor.text != self.base[1]

    def _close(self) -> None:
        host = self.host
        host.editor.display = False
        host.view.display = True
        host.view.focus()
        host.refresh_bindings()

    def discard(self) -> None:
        """Close the editor and keep the tree as it was (the token cursor stays put)."""
        if not self.active:
            return
        self._close()
        self.host.refresh_all(cursor=self.host.view.cursor)

    def commit(self) -> bool:
        """Apply the editor's text as an edit (original kept) and return to the view, the
        token cursor at the edit point: the unit just before the editor's cursor (never
        before the edit), so ctrl+g continues from there. Returns True when the tree changed."""
        host = self.host
        editor, session = host.editor, host.session
        if not editor.display:
            return False
        text = editor.text
        at = editor.document.get_index_from_location(editor.cursor_location)
        self._close()
        before = session.current_id
        node = host.engine.edit_branch(before, text)
        changed = node.id != before or session.current_id != before
        at = max(0, min(at, len(text)))
        if changed and node.parent is not None and node.id != before:
            at = max(at, char_offset(session, node.id, 0))
        host.refresh_all()
        view = host.view
        point = point_at_char(session, session.current_id, at - 1)
        if point is None:  # at the very start, or past the end
            view.move_cursor(0 if at == 0 else len(view.units) - 1)
        else:
            idx = view.layout_.unit_at_point(*point)
            view.move_cursor(0 if idx is None else idx)
        return changed

    def save(self) -> None:
        """ctrl+s in the editor: commit the edit (after the keys typed before it)."""
        self.after_typed(self._save_now)

    def _save_now(self) -> None:
        if not self.active:
            return
        changed = self.commit()
        self.host.notify("edit saved as a new branch" if changed else "nothing changed", timeout=2)

    def leave(self) -> None:
        """Escape in the editor: close it if nothing changed, else ask what to do."""
        if not self.active:
            return
        if not self.changed():
            self.discard()
            return

        def chosen(choice: str | None) -> None:
            if choice == "discard":
                self.discard()
            elif choice == "commit":
                self.commit()
            else:
                self.host.editor.focus()

        self.host.push_screen(LeaveEditScreen(), chosen)
