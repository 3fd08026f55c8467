"""What the keys do: generation, the top-k menu, editing, moving in the tree, saving.

A mixin of :class:`loomtui.ui.app.LoomApp`, kept apart so app.py stays about layout. Every
change to the tree goes through the :class:`Engine` or a :class:`Session` operation, then
``refresh_all`` brings the views back in line with the tree.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ..backends.base import BackendError, Context
from ..core.errors import LoomError
from ..core.scale import list_themes, load_theme
from ..core.tokens import Alt, join_bytes
from .messages import GenerationFinished, TokensArrived

if TYPE_CHECKING:
    from pathlib import Path

    from textual.app import App
    from textual.widgets import TextArea

    from ..backends.base import GenerationSettings
    from ..core.scale import Theme
    from ..core.store import SessionStore
    from ..core.tree import Session
    from ..engine import Engine
    from .widgets.token_view import TokenView

    _Base = App[Any]
else:
    _Base = object


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
    cancel_event: threading.Event | None
    save_error: str | None
    queued_generation: tuple[str, int | None] | None
    instruments: dict[str, Any]
    auto_continue: bool

    # ------------------------------------------------------------------ helpers
    @property
    def generating(self) -> bool:
        return self.cancel_event is not None

    def _busy(self) -> bool:
        if self.generating:
            self.notify("generating… (escape cancels)", severity="warning", timeout=2)
            return True
        return False

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
    def open_editor(self) -> None:
        """Show the branch text in a text editor; saving makes the edit a new sibling."""
        editor = self.editor
        editor.load_text(self.session.branch_text(self.session.current_id))
        self.view.display = False
        editor.display = True
        editor.move_cursor(editor.document.end)
        editor.focus()

    def commit_editor(self) -> bool:
        """Apply the editor's text as an edit (original kept) and return to the view.
        Returns True when the tree changed."""
        editor = self.editor
        if not editor.display:
            return False
        editor.display = False
        self.view.display = True
        self.view.focus()
        text = editor.text
        before = self.session.current_id
        node = self.engine.edit_branch(before, text)
        changed = node.id != before or self.session.current_id != before
        self.refresh_all()
        return changed

    def action_edit(self) -> None:
        if self._busy():
            return
        self.open_editor()

    # ------------------------------------------------------------------ generation
    def action_generate(self) -> None:
        """Generate from the token cursor (or the end, from the editor)."""
        if self.editor.display:
            self.commit_editor()
            self.view.move_cursor(len(self.view.units) - 1)
        if self._busy():
            return
        if self.engine.backend is None:
            if self.loading:
                # Remember the press: generation starts as soon as the model is ready.
                unit = self.view.current_unit()
                self.queued_generation = (
                    (unit.node_id, unit.end)
                    if unit is not None
                    else (self.session.current_id, None)
                )
                self.notify(
                    f"the model is still loading ({self.loading}); "
                    "generation will start when it is ready",
                    timeout=3,
                )
            else:
                try:
                    self.engine.require_backend()
                except BackendError as exc:
                    self.notify(str(exc), severity="warning", timeout=5)
            return
        unit = self.view.current_unit()
        if unit is None:
            node_id, offset = self.session.current_id, None
        else:
            node_id, offset = unit.node_id, unit.end
            if offset >= len(self.session.node(node_id)):
                offset = None
        self.start_generation(node_id, offset)

    def start_generation(self, node_id: str, offset: int | None) -> None:
        self.cancel_event = threading.Event()
        self._gen_count = 0
        self._gen_start = time.perf_counter()
        self._gen_target = self.settings.max_tokens * self.settings.n
        self.view.follow = True
        self.run_worker(
            lambda: self._generate_thread(node_id, offset, self.cancel_event),
            thread=True,
            group="generate",
            exit_on_error=False,
        )
        self.refresh_status()

    def _generate_thread(self, node_id: str, offset: int | None, cancel: Any) -> None:
        def on_token(node: Any, token: Any) -> None:
            self._gen_count += 1
            # Coalesce: at most one TokensArrived waits in the queue, so the UI never
            # throttles the model (no call_from_thread per token).
            if not self._pending_tokens.is_set():
                self._pending_tokens.set()
                self.post_message(TokensArrived())

        result = self.engine.generate(
            node_id, offset, self.settings, cancel=cancel, on_token=on_token
        )
        self.post_message(GenerationFinished(result))

    def live_progress(self) -> str:
        elapsed = max(1e-6, time.perf_counter() - self._gen_start)
        rate = self._gen_count / elapsed
        return f"generating {self._gen_count}/{self._gen_target} {rate:.1f} tok/s"

    def action_cancel(self) -> None:
        """Escape: cancel a generation (keeping its tokens), or close the editor."""
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.notify("cancelling: the partial text is kept", timeout=2)
        elif self.editor.display:
            self.commit_editor()

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
            self.start_generation(new.id, None)

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
        path = [(n.id, n.tokens is None and bool(n.plain), n.plain, n.data)
                for n in self.session.path(self.session.current_id)]
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
        """Engine.on_change: save after every generation and edit."""
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
            self.save_error = str(exc)

    def action_save(self) -> None:
        if self.editor.display:
            self.commit_editor()
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
            self.notify(f"save failed: {self.save_error}", severity="error", timeout=6)
        else:
            self.notify(f"saved {self.path}", timeout=2)

    async def action_quit(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
        if self.editor.display:
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

        self.push_screen(ExportScreen())

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
        spec = self.instruments.get(name)
        if spec is not None:
            self.push_screen(spec.factory(self))
