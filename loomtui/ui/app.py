"""The loom in the terminal: the Textual app. Composition, bindings and message handlers;
the actions live in :mod:`loomtui.ui.actions`."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, TextArea
from textual.worker import Worker, WorkerState

from ..backends.base import Backend, GenerationSettings, ProgressCallback
from ..config import Config, as_config, restore_settings
from ..core.display import visible
from ..core.errors import LoomError
from ..core.scale import ThemeError, load_theme
from ..core.tree import Session
from ..engine import Engine
from .actions import LoomActions
from .commands import loom_commands
from .generation import Generation
from .messages import GenerationFinished, LoadProgress, ModelLoaded, TokensArrived
from .screens.instruments import INSTRUMENTS
from .widgets.branches import BranchPanel
from .widgets.legend import Legend
from .widgets.status import InfoLine, StatusBar, short_path
from .widgets.token_view import TokenView
from .widgets.tree_panel import TreePanel

BackendFactory = Callable[[ProgressCallback], Backend]



#: Seconds after mounting before the model starts loading (see on_mount).
LOAD_DELAY_S = 0.3


class LoomApp(LoomActions, App[None]):
    """A session tree, a document view of the current branch, and a model to grow it."""

    CSS_PATH = "loomtui.tcss"
    TITLE = "loomtui"

    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", id="generate", priority=True),
        Binding("ctrl+k", "topk", "Top-k", id="topk", priority=True),
        Binding("escape", "cancel", "Cancel/close", id="cancel"),
        # In the editor (shown there instead of the two above, see check_action):
        Binding("escape", "edit_leave", "Close (asks)", id="edit-leave"),
        Binding("ctrl+s", "save", "Save", id="save", priority=True),
        Binding("ctrl+s", "edit_save", "Save edit", id="edit-save", priority=True),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "help", "Help", id="help"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("enter", "edit", "Edit", id="edit-enter", show=False),
        Binding("left_square_bracket", "sibling(-1)", "Prev sib", id="sibling-prev"),
        Binding("right_square_bracket", "sibling(1)", "Next sib", id="sibling-next"),
        Binding("less_than_sign", "parent", "Parent", id="parent", show=False),
        Binding("greater_than_sign", "child", "Child", id="child", show=False),
        Binding("b", "bookmark", "Bookmark", id="bookmark", show=False),
        Binding("l", "label", "Label", id="label", show=False),
        Binding("f2", "toggle_side", "Panels", id="toggle-side", show=False),
        Binding("s", "settings", "Settings", id="settings", show=False),
        Binding("x", "export", "Export", id="export", show=False),
        Binding("c", "score", "Score text", id="score", show=False),
        Binding("m", "toggle_scale", "Scale mode", id="scale-mode", show=False),
        Binding("t", "next_theme", "Colour theme", id="theme", show=False),
    ]

    def __init__(
        self,
        session: Session | None = None,
        path: Path | None = None,
        *,
        backend: Backend | None = None,
        backend_factory: BackendFactory | None = None,
        model_label: str | None = None,
        config: Config | Mapping[str, Any] | None = None,
        new_session: bool | None = None,
        store: Any | None = None,
    ) -> None:
        super().__init__()
        self.store = store  # a loomtui.core.store.SessionStore: lock, journal, autosave
        if store is not None:
            session, path = store.session, store.path
        self.config: Config = as_config(config)  # the runtime copy: flags over the file
        ui = self.config.ui
        self.session = session or Session.new()
        self.path = path
        self.new_session = (session is None) if new_session is None else new_session
        self.backend_factory = backend_factory
        self.model_label = model_label or (backend.info().name if backend else "")
        if store is not None:
            self.engine: Engine = Engine.over(store, backend)
            self.engine.on_change = self._autosave
            store.on_problem = self.store_problem  # a failed write is told at once
        else:
            self.engine = Engine(self.session, backend, on_change=self._autosave)
        # The config's defaults, then what this session was last used with (settings dialog).
        self.settings: GenerationSettings = restore_settings(
            self.session.chosen_settings(), self.config.generation_settings()
        )
        self.auto_continue: bool = ui.auto_continue
        try:
            self.scale_theme = load_theme(ui.theme)
        except ThemeError:
            self.scale_theme = load_theme()
        self.scale_mode: str = ui.scale or self.scale_theme.mode
        self.loading: str | None = "loading model…" if backend_factory else None
        self.generation = Generation(self)  # start, queued press, streaming, cancel, end
        self.note = ""
        self.save_error: str | None = None
        self._edit_base: tuple[str, str] | None = None  # (node id, text) the editor opened on
        self.instruments = dict(INSTRUMENTS)

    #: Actions that mean something else (or nothing) while the editor is open.
    _NOT_IN_EDITOR = frozenset({"save", "topk", "edit", "sibling", "parent", "child"})
    _EDITOR_ONLY = frozenset({"edit_save", "edit_leave"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the editor is open, ctrl+s saves the edit and escape leaves it (asking when
        changed); the footer shows those instead of Save and Cancel/close."""
        if action not in self._NOT_IN_EDITOR | self._EDITOR_ONLY | {"cancel"}:
            return True
        if not self.screen_stack or not self.query("#editor"):
            return action not in self._EDITOR_ONLY
        editing = bool(self.editor.display)
        if action in self._EDITOR_ONLY and self.screen is not self.screen_stack[0]:
            return False  # a dialog is up (e.g. "unsaved edit"): its own keys answer
        if action == "cancel":
            return self.generating or not editing
        if action in self._EDITOR_ONLY:
            return editing and not self.generating
        return not editing

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast is plain text with its controls made visible, whoever calls (a
        widget's ``notify`` asks for markup by default) and whatever ``markup`` says: a
        message quotes server errors, model names and file names, which are data."""
        super().notify(
            visible(str(message)),
            title=visible(str(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="doc"):
                yield TokenView(theme=self.scale_theme, scale_mode=self.scale_mode, id="view")
                yield TextArea(id="editor", soft_wrap=True, show_line_numbers=False)
            with Vertical(id="side"):
                yield BranchPanel(id="branches")
                yield TreePanel(id="tree")
        yield InfoLine(id="info")
        yield Legend(id="legend")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def view(self) -> TokenView:
        return self.query_one("#view", TokenView)

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    def on_mount(self) -> None:
        keymap = self.config.keymap
        if keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        for name, spec in self.instruments.items():
            key = getattr(spec, "key", None)
            if key:
                self.bind(key, f"instrument('{name}')", description=spec.title, show=False)
        self.query_one(Legend).show_theme(self.scale_theme, self.scale_mode)
        self.editor.display = False
        if self.backend_factory is not None:
            # Importing torch holds the GIL for stretches of up to ~0.3 s on 2 cores: start the
            # load just after the first frame, so the first key press is never stuck behind it.
            self.set_timer(LOAD_DELAY_S, self._start_loading)
        self.refresh_all()
        for warning in getattr(self.store, "warnings", ()):  # e.g. a journal kept aside
            self.notify(warning, severity="warning", timeout=12, markup=False)
        # A long session is millions of small objects (tokens, alternatives); move them out
        # of the collector's view so a full GC pass does not stall scrolling (~0.3 s at 20k).
        gc.freeze()
        if self.new_session and not self.session.root.children:
            self.open_editor()
        else:
            self.view.focus()
            if self.engine.backend is None and self.backend_factory is None:
                self.notify("replay: no model attached; everything is navigable", timeout=4)

    # ------------------------------------------------------------------ workers
    def _start_loading(self) -> None:
        self.run_worker(self._load_backend, thread=True, group="load", exit_on_error=False)

    def _load_backend(self) -> None:
        assert self.backend_factory is not None

        def progress(text: str, fraction: float | None) -> None:
            self.post_message(LoadProgress(text, fraction))

        try:
            backend = self.backend_factory(progress)
        except LoomError as exc:
            self.post_message(ModelLoaded(None, str(exc)))
            return
        except Exception as exc:  # a load failure is shown, never a crash
            self.post_message(ModelLoaded(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(ModelLoaded(backend))

    def on_load_progress(self, message: LoadProgress) -> None:
        pct = "" if message.fraction is None else f" {message.fraction:.0%}"
        self.loading = f"{message.text}{pct}"
        self.refresh_status()

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.loading = None
        if message.backend is None:
            self.notify(
                f"model failed to load: {message.error}", severity="error", timeout=8, markup=False
            )
            self.note = "no model (load failed)"
        else:
            self.engine.backend = message.backend
            self.model_label = message.backend.info().name
            self.notify(f"model ready: {self.model_label}", timeout=2, markup=False)
            self.generation.model_ready()
        self.refresh_status()

    # ------------------------------------------------------------------ generation
    @property
    def cancel_event(self) -> threading.Event | None:
        """Set while a generation runs (tests wait for it to clear)."""
        return self.generation.cancel_event

    def on_tokens_arrived(self, message: TokensArrived) -> None:
        self.generation.tokens_arrived()

    def on_generation_finished(self, message: GenerationFinished) -> None:
        self.generation.finished(message)

    # What the Generation asks of its host (see loomtui.ui.generation.GenerationHost).
    def generation_started(self) -> None:
        self.view.follow = True
        self.refresh_status()

    def tokens_shown(self) -> None:
        self.view.show(self.session, self.session.current_id)
        self.refresh_status()

    def generation_ended(self) -> None:
        self.refresh_all()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place where a worker's failure becomes a message for the user."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            text = (
                str(error) if isinstance(error, LoomError) else f"{type(error).__name__}: {error}"
            )
            if event.worker.group == "generate":
                self.generation.worker_failed(text)
            else:
                self.notify(text, severity="error", timeout=6, markup=False)

    # ------------------------------------------------------------------ panels
    def on_token_view_cursor_moved(self, message: TokenView.CursorMoved) -> None:
        if not self.screen_stack or not self.query("#info"):
            return  # shutting down: the main screen is gone
        self.refresh_info()
        unit = self.view.current_unit()
        node_id = unit.node_id if unit else self.session.current_id
        if node_id in self.session:
            self.query_one(BranchPanel).show_point(self.session, node_id)

    def on_branch_panel_chosen(self, message: BranchPanel.Chosen) -> None:
        self.go_to(message.node_id, descend=True)

    def on_tree_panel_chosen(self, message: TreePanel.Chosen) -> None:
        self.go_to(message.node_id, descend=False)

    def refresh_all(self, cursor: int | None = None) -> None:
        """Bring every view in line with the tree (after any action)."""
        self.view.show(self.session, self.session.current_id, cursor=cursor)
        self.query_one(TreePanel).show_session(self.session)
        self.refresh_info()
        self.refresh_status()

    def refresh_info(self) -> None:
        from .widgets.status import describe_unit

        unit = self.view.current_unit()
        error = None
        if unit is not None and unit.node_id in self.session:
            error = self.session.node(unit.node_id).error
        elif self.session.current.error:
            error = self.session.current.error
        self.query_one(InfoLine).update(describe_unit(unit, error))
        self.call_after_refresh(self._place_toasts)

    def refresh_status(self) -> None:
        if self.loading:
            model, backend = self.loading, ""
        elif self.engine.backend is not None:
            info = self.engine.backend.info()
            model, backend = info.name, info.backend
        else:
            model, backend = "no model (replay)", ""
        progress = self.generation.progress()
        note = self.note or (short_path(self.path) if self.path else "unsaved")
        self.query_one(StatusBar).update_status(
            model=model, backend=backend, settings=self.settings, progress=progress, note=note
        )
        self.call_after_refresh(self._place_toasts)

    def _place_toasts(self) -> None:
        """Keep toasts above the bottom lines (info, legend, status, footer), which grow to
        two lines when their text would not fit."""
        if not self.screen_stack:
            return
        main = self.screen_stack[0]
        try:
            rack = main.query_one("ToastRack")
            below = sum(w.outer_size.height for w in main.query("InfoLine, Legend, StatusBar"))
            below += sum(w.outer_size.height for w in main.query(Footer))
        except NoMatches:
            return
        if below and rack.styles.margin.bottom != below:
            rack.styles.margin = (0, 0, below, 0)

    # ------------------------------------------------------------------ palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from loom_commands(self, self.instruments)
        yield from super().get_system_commands(screen)


def make_app(
    session: Session | None = None,
    path: Path | None = None,
    *,
    backend: Backend | None = None,
    backend_factory: BackendFactory | None = None,
    config: Config | Mapping[str, Any] | None = None,
    new_session: bool | None = None,
    store: Any | None = None,
) -> LoomApp:
    """The one way to build the app, shared by the CLI and the tests. ``config`` is the typed
    config (a dict of the file's shape is validated into one; None = the defaults)."""
    return LoomApp(
        session,
        path,
        backend=backend,
        backend_factory=backend_factory,
        config=config,
        new_session=new_session,
        store=store,
    )
