"""What the keys do: the top-k menu, editing, moving in the tree, saving. A generation's
lifecycle (start, a press queued while loading, streaming, cancel, end) is
:class:`loomtui.ui.generation.Generation`'s; ctrl+g here only says where.

A mixin of :class:`loomtui.ui.app.LoomApp`, kept apart so app.py stays about layout. Every
change to the tree goes through the :class:`Engine` or a :class:`Session` operation, then
``refresh_all`` brings the views back in line with the tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

from ..backends.base import BackendError, Context
from ..core.errors import LoomError
from ..core.scale import list_themes, load_theme
from ..core.tokens import Alt, join_bytes
from .editing import LeaveEditScreen, char_offset, point_at_char

if TYPE_CHECKING:
    from pathlib import Path

    from textual.app import App
    from textual.widgets import TextArea

    from ..backends.base import GenerationSettings
    from ..core.scale import Theme
    from ..core.store import SessionStore
    from ..core.tree import Session
    from ..engine import Engine
    from .generation import Generation
    from .widgets.token_view import TokenView

    _Base = App[Any]
else:
    _Base = object


class StoreProblem(Message):
    """The session's store could not write (``problem``, one line) or writes again (None).
    Posted from whichever thread the store was writing on (a generation's, or the app's)."""

    def __init__(self, problem: str | None) -> None:
        super().__init__()
        self.problem = problem


class LoomActions(_Base):
    """Actions bound to keys and offered in the command palette.

    What the app (:class:`loomtui.ui.app.LoomApp`, which mixes this in) provides, declared
    here so this module need not import the app (no circle):
    """

    session: Session
    engine: Engine
    store: SessionStore | None
    path: Path | None
    settings: GenerationSettings
    view: TokenView
    editor: TextArea
    scale_theme: Theme
    scale_mode: str
    loading: str | None
    generation: Generation
    save_error: str | None
    note: str
    instruments: dict[str, Any]
    auto_continue: bool
    _edit_base: tuple[str, str] | None  # (node id, text) the editor was opened on

    # ------------------------------------------------------------------ helpers
    @property
    def generating(self) -> bool:
        return self.generation.running

    def _busy(self) -> bool:
        return self.generation.busy()

    def go_to(self, node_id: str, *, descend: bool) -> None:
        """Show the branch through ``node_id``, with the cursor at that node's start."""
        if self._busy() or node_id not in self.session:
            return
        target = self.session.descend(node_id) if descend else self.session.node(node_id)
        self.session.goto(target.id)
        self.session.node(node_id).visited = True
        self.refresh_all()
        idx = self.view.layout_.unit_at_point(node_id, 0)
        if idx is not None:
            self.view.move_cursor(idx)

    # ------------------------------------------------------------------ editor
    @property
    def editing(self) -> bool:
        """The editor is open (on the main screen)."""
        return bool(self.editor.display)

    def open_editor(self) -> None:
        """Show the branch text in a text editor, its cursor just after the token under the
        token cursor (the point ctrl+g generates from). Saving makes the edit a sibling."""
        editor = self.editor
        text = self.session.branch_text(self.session.current_id)
        self._edit_base = (self.session.current_id, text)
        editor.load_text(text)
        unit = self.view.current_unit()
        at = len(text)
        if unit is not None and unit.node_id in self.session:
            at = min(at, char_offset(self.session, unit.node_id, unit.end))
        self.view.display = False
        editor.display = True
        editor.move_cursor(editor.document.get_location_from_index(at))
        editor.focus()
        self.refresh_bindings()

    def edit_changed(self) -> bool:
        """The editor's text differs from the branch it was opened on."""
        return self._edit_base is None or self.editor.text != self._edit_base[1]

    def _close_editor(self) -> None:
        self.editor.display = False
        self.view.display = True
        self.view.focus()
        self.refresh_bindings()

    def discard_editor(self) -> None:
        """Close the editor and keep the tree as it was (the token cursor stays put)."""
        if not self.editing:
            return
        self._close_editor()
        self.refresh_all(cursor=self.view.cursor)

    def commit_editor(self) -> bool:
        """Apply the editor's text as an edit (original kept) and return to the view, the
        token cursor at the edit point: the unit just before the editor's cursor (never
        before the edit), so ctrl+g continues from there. Returns True when the tree changed."""
        editor = self.editor
        if not editor.display:
            return False
        text = editor.text
        at = editor.document.get_index_from_location(editor.cursor_location)
        self._close_editor()
        before = self.session.current_id
        node = self.engine.edit_branch(before, text)
        changed = node.id != before or self.session.current_id != before
        at = max(0, min(at, len(text)))
        if changed and node.parent is not None and node.id != before:
            at = max(at, char_offset(self.session, node.id, 0))
        self.refresh_all()
        point = point_at_char(self.session, self.session.current_id, at - 1)
        if point is None:  # at the very start, or past the end
            self.view.move_cursor(0 if at == 0 else len(self.view.units) - 1)
        else:
            idx = self.view.layout_.unit_at_point(*point)
            self.view.move_cursor(0 if idx is None else idx)
        return changed

    def action_edit(self) -> None:
        if self._busy():
            return
        self.open_editor()

    def action_edit_save(self) -> None:
        """ctrl+s in the editor: commit the edit (after the keys typed before it)."""
        # Priority keys run before the editor has handled the keys queued ahead of them:
        # a callback on the editor's own queue runs after them, so nothing typed is lost.
        self.editor.call_later(self._edit_save_now)

    def _edit_save_now(self) -> None:
        if not self.editing:
            return
        changed = self.commit_editor()
        self.notify("edit saved as a new branch" if changed else "nothing changed", timeout=2)

    def action_edit_leave(self) -> None:
        """Escape in the editor: close it if nothing changed, else ask what to do."""
        if not self.editing:
            return
        if not self.edit_changed():
            self.discard_editor()
            return

        def chosen(choice: str | None) -> None:
            if choice == "discard":
                self.discard_editor()
            elif choice == "commit":
                self.commit_editor()
            else:
                self.editor.focus()

        self.push_screen(LeaveEditScreen(), chosen)

    # ------------------------------------------------------------------ generation
    def action_generate(self) -> None:
        """Generate from the token cursor (from the editor: commit, then from the edit point)."""
        if self.editing:
            # As for ctrl+s: commit once the editor has handled every key typed before.
            self.editor.call_later(self._generate_after_edit)
            return
        self._generate_here()

    def _generate_after_edit(self) -> None:
        if self.editing:
            self.commit_editor()
        self._generate_here()

    def _generate_here(self) -> None:
        self.generation.request(self.generation_point())

    def generation_point(self) -> tuple[str, int | None]:
        """Where ctrl+g generates from: just after the unit under the token cursor (None
        for a node's end), or the end of the current node in an empty document."""
        unit = self.view.current_unit()
        if unit is None:
            return self.session.current_id, None
        node_id, offset = unit.node_id, unit.end
        if offset >= len(self.session.node(node_id)):
            return node_id, None
        return node_id, offset

    def action_cancel(self) -> None:
        """Escape: cancel a generation (keeping its tokens), or leave the editor (asking
        first when the text changed)."""
        if self.generation.cancel():
            self.notify("cancelling: the partial text is kept", timeout=2)
        elif self.editing:
            self.action_edit_leave()

    # ------------------------------------------------------------------ top-k
    def action_topk(self) -> None:
        from .widgets.topk import TopKMenu

        if self.editor.display or self._busy():
            return
        unit = self.view.current_unit()
        if unit is None or unit.token is None:
            self.notify("no token here: top-k menus belong to model tokens", timeout=3)
            return
        token = unit.token
        colors = [self.scale_theme.color_for(a.logprob, self.scale_mode) for a in token.top]
        point = (unit.node_id, unit.offset)

        def picked(alt: Alt | None) -> None:
            if alt is not None:
                self.pick(point[0], point[1], alt)

        self.push_screen(TopKMenu(token, colors), picked)

    def pick(self, node_id: str, offset: int, alt: Alt) -> None:
        """Branch at ``(node_id, offset)`` with ``alt``; continue generating if set. A branch
        that already starts with ``alt`` there is shown instead (nothing added or saved)."""
        existing = self.engine.find_pick(node_id, offset, alt)
        if existing is not None:
            node, at = existing
            self.go_to(node.id, descend=True)
            idx = self.view.layout_.unit_at_point(node.id, at)
            if idx is not None:
                self.view.move_cursor(idx)
            self.notify("that branch exists already: showing it", timeout=2)
            return
        new = self.engine.pick(node_id, offset, alt)
        self.refresh_all()
        self.view.move_cursor(len(self.view.units) - 1)
        if self.auto_continue and self.engine.backend is not None:
            self.generation.start(new.id, None)

    # ------------------------------------------------------------------ tree moves
    def action_sibling(self, step: int) -> None:
        from .widgets.branches import branch_point

        unit = self.view.current_unit()
        node_id = unit.node_id if unit else self.session.current_id
        point = branch_point(self.session, node_id)
        target = self.session.sibling(point.id, step)
        self.go_to(target.id, descend=True)

    def action_parent(self) -> None:
        parent = self.session.parent(self.session.current_id)
        if parent is not None and parent.parent is not None:
            self.go_to(parent.id, descend=False)

    def action_child(self) -> None:
        children = self.session.children(self.session.current_id)
        if children:
            self.go_to(max(children, key=lambda n: n.created).id, descend=False)

    def cursor_point(self) -> tuple[str, int | None]:
        """``(node_id, offset)`` of the unit under the token cursor (end of the current node
        when the document is empty). Instruments read the point from here."""
        unit = self.view.current_unit()
        if unit is None:
            return self.session.current_id, None
        return unit.node_id, unit.offset

    def _cursor_node(self) -> str:
        unit = self.view.current_unit()
        return unit.node_id if unit else self.session.current_id

    def action_bookmark(self) -> None:
        node = self.session.node(self._cursor_node())
        self.engine.set_bookmark(node.id, not node.bookmark)
        self.refresh_all(cursor=self.view.cursor)
        self.notify("bookmarked" if node.bookmark else "bookmark removed", timeout=2)

    def action_label(self) -> None:
        from .screens.prompt import PromptScreen

        node_id = self._cursor_node()

        def done(value: str | None) -> None:
            if value is not None:
                self.engine.set_label(node_id, value)
                self.refresh_all(cursor=self.view.cursor)

        current = self.session.node(node_id).label or ""
        self.push_screen(PromptScreen("Label for this node", current), done)

    # ------------------------------------------------------------------ scoring
    def action_score(self) -> None:
        """Score the plain text on this branch with the backend, so it gets colours."""
        if self._busy():
            return
        try:
            backend = self.engine.require_backend()
        except BackendError as exc:
            self.notify(str(exc), severity="warning", timeout=5)
            return
        self.run_worker(
            lambda: self._score_thread(backend), thread=True, group="score", exit_on_error=False
        )

    def _score_thread(self, backend: Any) -> None:
        # Computes only: the scores are applied to the tree on the app's thread (_scored).
        path = [
            (n.id, n.tokens is None and bool(n.plain), n.plain, n.data)
            for n in self.session.path(self.session.current_id)
        ]
        model = backend.info().name
        scored = []
        before = b""
        k = self.settings.logprobs_k
        for node_id, plain_text, plain, data in path:
            if plain_text:
                prefix = Context(text=before.decode("utf-8", "replace")) if before else None
                result = backend.score(plain, top_k=k, prefix=prefix)
                # Only tokens that spell exactly the text the person wrote.
                if result.tokens and join_bytes(result.tokens) == data:
                    scored.append((node_id, list(result.tokens), model))
            before += data
        self.call_from_thread(self._scored, scored)

    def _scored(self, scored: list[Any]) -> None:
        count = self.engine.apply_scores(scored)
        self.refresh_all()
        self.notify(f"scored {count} text segment(s)", timeout=3)

    # ------------------------------------------------------------------ saving
    def _autosave(self, session: Any) -> None:
        """Engine.on_change: save after every generation and edit. A failure is told at once
        (the store tells :meth:`store_problem`; a file without a store is told here)."""
        if self.path is None:
            return
        try:
            if self.store is not None:
                self.store.autosave()
            else:
                from ..core.sessionfile import save_session

                save_session(self.session, self.path)
            self.save_error = None
        except (LoomError, OSError) as exc:
            first = self.save_error is None
            self.save_error = str(exc)
            if self.store is None and first:
                self.post_message(StoreProblem(f"could not save: {exc}"))

    def store_problem(self, problem: str | None) -> None:
        """``SessionStore.on_problem`` (called on any thread): shown by the app's thread."""
        self.post_message(StoreProblem(problem))

    def on_store_problem(self, message: StoreProblem) -> None:
        """A save or journal write failed (a toast and the status line say so at once, not
        only at ctrl+s or quit), or writes work again."""
        problem = message.problem
        ours = self.note.startswith("⚠ not saved")
        if problem is None:
            if ours:
                self.note = ""
                self.notify("saving works again: nothing was lost", timeout=4)
        else:
            self.note = "⚠ not saved: " + problem
            self.notify(problem, severity="error", timeout=10, markup=False)
        self.refresh_status()

    def action_save(self) -> None:
        if self.editing:
            self.action_edit_save()
            return
        if self.path is None:
            self.notify("no file for this session", severity="warning")
            return
        if self.store is not None and self.store.readonly:
            self.notify(
                f"read-only: {self.path} is not written "
                + (
                    "(a packaged example: copy it to keep changes)"
                    if self.store.example
                    else "(opened with --readonly)"
                ),
                severity="warning",
                timeout=4,
            )
            return
        self.engine.save()
        if self.save_error:
            self.notify(
                f"save failed: {self.save_error}", severity="error", timeout=6, markup=False
            )
        else:
            self.notify(f"saved {self.path}", timeout=2, markup=False)

    async def action_quit(self) -> None:
        if self.editing:
            # Quitting keeps what was typed (committed, after every key typed before ctrl+q).
            self.editor.call_later(self._quit_now)
            return
        self._quit_now()

    def _quit_now(self) -> None:
        self.generation.cancel()
        if self.editing:
            self.commit_editor()
        self.engine.save()
        self.exit()

    # ------------------------------------------------------------------ screens
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        from .screens.settings import SettingsScreen

        self.push_screen(SettingsScreen())

    def action_export(self) -> None:
        from .screens.export import ExportScreen

        self.push_screen(ExportScreen(self._cursor_node()))

    def action_toggle_side(self) -> None:
        side = self.query_one("#side")
        side.display = not side.display

    def action_toggle_scale(self) -> None:
        self.scale_mode = "prob" if self.scale_mode != "prob" else "logprob"
        self.apply_theme()

    def action_next_theme(self) -> None:
        names = list_themes()
        i = names.index(self.scale_theme.name) if self.scale_theme.name in names else -1
        self.scale_theme = load_theme(names[(i + 1) % len(names)])
        self.apply_theme()

    def apply_theme(self) -> None:
        from .widgets.legend import Legend

        self.view.set_theme(self.scale_theme, self.scale_mode)
        self.query_one(Legend).show_theme(self.scale_theme, self.scale_mode)

    def action_instrument(self, name: str) -> None:
        """Open an instrument's screen from the cursor, with its typed inputs (the screen
        is given the engine, the point and callbacks, never the app)."""
        from .screens.instruments.base import InstrumentInputs

        spec = self.instruments.get(name)
        if spec is None:
            return
        view = self.view
        node_id, offset = self.cursor_point()
        after: tuple[str, int | None] = (node_id, None)
        unit = view.current_unit()
        if unit is not None and unit.node_id in self.session:
            end = len(self.session.node(unit.node_id))
            after = (unit.node_id, None if unit.end >= end else unit.end)

        def jump_to(target: str, at: int) -> None:
            idx = view.layout_.unit_at_point(target, at)
            if idx is not None:
                view.move_cursor(idx)

        inputs = InstrumentInputs(
            engine=self.engine,
            point=(node_id, offset),
            after=after,
            tree_changed=self.refresh_all,
            jump_to=jump_to,
        )
        self.push_screen(spec.factory(inputs))
