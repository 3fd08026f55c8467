"""The loom in the terminal: the Textual app. Composition, config, store, backend, screens,
and thin ``action_*`` methods that hand each key to the unit whose job it is:

- :class:`~loomtui.ui.generation.Generation`: start, a press queued while loading,
  streaming, cancel, finish, errors;
- :class:`~loomtui.ui.editing.Editing`: open at the cursor, save as a sibling, leave/discard;
- :class:`~loomtui.ui.picking.Picking`: the top-k menu and picks;
- :class:`~loomtui.ui.navigation.Navigation`: siblings, parent, child, bookmark, label, and
  the points the cursor stands for;
- :class:`~loomtui.ui.saving.Saving`: autosave, failed writes told at once, ctrl+s, quit;
- :class:`~loomtui.ui.scoring.Scoring`: scoring the text a person wrote.

The keys are declared once in :mod:`loomtui.ui.keys`; the bindings, the palette and F1 are
built from there and follow the ``[keymap]``.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, TextArea
from textual.worker import Worker, WorkerState

from ..backends.base import Backend, GenerationSettings, ProgressCallback
from ..config import as_config, restore_settings
from ..core.display import visible
from ..core.errors import LoomError
from ..core.scale import ThemeError, list_themes, load_theme
from ..core.tree import Session
from ..engine import Engine
from .bindings import DEFAULT_KEYS, KEYS, binding, keyed_bindings
from .commands import loom_commands
from .editing import Editing
from .finding import Finding
from .generation import Generation
from .keys import Key, shown_keys
from .messages import GenerationFinished, LoadProgress, ModelLoaded, TokensArrived
from .models import Models, OpenModel
from .navigation import Navigation, Point
from .picking import Picking
from .saving import Saving, StoreProblem
from .scoring import Scoring
from .screens.instruments import INSTRUMENTS
from .siblings import Siblings
from .surgery import Surgery
from .turns import Turns
from .widgets.branches import BranchPanel
from .widgets.footer import LoomFooter
from .widgets.legend import Legend
from .widgets.status import InfoLine, StatusBar, short_path
from .widgets.token_view import TokenView
from .widgets.tree_panel import TreePanel

if TYPE_CHECKING:
    from ..config import Config  # with nothing configured the app never imports pydantic
    from ..core.store import SessionStore  # imported by the CLI when it opens a file

BackendFactory = Callable[[ProgressCallback], Backend]

#: Seconds after mounting before the model starts loading (see on_mount).
LOAD_DELAY_S = 0.3


class LoomApp(App[None]):
    """A session tree, a document view of the current branch, and a model to grow it."""

    CSS_PATH = "loomtui.tcss"
    TITLE = "loomtui"

    BINDINGS: list[BindingType] = [binding(k) for k in KEYS]

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
        store: SessionStore | None = None,
        open_model: OpenModel | None = None,
    ) -> None:
        super().__init__()
        self.store = store  # lock, journal, autosave
        if store is not None:
            session, path = store.session, store.path
        self.config: Config = as_config(config)  # the runtime copy: flags over the file
        # The app's keys in their declared order, with the keymap applied where they are
        # declared: a rebound key keeps its place in the footer (Textual's keymap would move
        # it to the end, past the edge at 80 columns). The widgets' keys go through Textual's
        # keymap (on_mount).
        keymap = self.config.keymap
        system = [b for _, b in self._bindings if b.system]  # ctrl+c: "ctrl+q quits"
        self._bindings, self.key_clashes = keyed_bindings(KEYS, keymap, system)
        ui = self.config.ui
        self.session = session or Session.new()
        self.path = path
        self.new_session = (session is None) if new_session is None else new_session
        self.backend_factory = backend_factory
        self.model_label = model_label or (backend.info().name if backend else "")
        self.saving = Saving(self)  # autosave, failed writes told at once, ctrl+s, quit
        if store is not None:
            self.engine: Engine = Engine.over(store, backend)
            self.engine.on_change = self.saving.autosave
            store.on_problem = self.saving.store_problem  # a failed write is told at once
            store.defer_compaction = True  # a big session's full save waits for a pause
        else:
            self.engine = Engine(self.session, backend, on_change=self.saving.autosave)
            self.engine.keep_history()  # undo in memory: no file to keep it beside
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
        self.editing = Editing(self)  # open at the cursor, save as a sibling, leave
        self.navigation = Navigation(self)  # moves in the tree, the cursor's points
        self.turns = Turns(self)  # chat: the next user message, answered at once
        self.picking = Picking(self)  # the top-k menu and picks
        self.scoring = Scoring(self)  # scoring the text a person wrote
        self.surgery = Surgery(self)  # split, merge, hoist, delete, copy; undo and redo
        self.finding = Finding(self)  # search and jump, ratings, bookmark jumps
        self.siblings = Siblings(self)  # sort, dedup, hide alternates; show hidden or not
        self.note = ""  # the status line's note (e.g. the model failed to load)
        self.instruments = dict(INSTRUMENTS)
        self.models = Models(self.config.model.also, open_model, self.session)  # and colours
        palette = self.config.keymap.get("palette")
        if palette:  # the footer looks the palette's key up by this name
            self.COMMAND_PALETTE_BINDING = self._normalize_keymap({"p": palette})["p"].split(",")[0]

    #: Actions that mean something else (or nothing) while the editor is open.
    _NOT_IN_EDITOR = frozenset({"save", "topk", "edit", "sibling", "parent", "child"})
    _EDITOR_ONLY = frozenset({"edit_save", "edit_leave"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the editor is open, ctrl+s saves the edit and escape leaves it (asking when
        changed); the footer shows those instead of Save and Cancel/close. An instrument left
        out of :attr:`instruments` has no key."""
        if action == "instrument":
            return bool(parameters) and parameters[0] in self.instruments
        if action not in self._NOT_IN_EDITOR | self._EDITOR_ONLY | {"cancel"}:
            return True
        if not self.screen_stack or not self.query("#editor"):
            return action not in self._EDITOR_ONLY
        editing = self.editing.active
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
                yield TokenView(
                    theme=self.scale_theme,
                    scale_mode=self.scale_mode,
                    color_by=self.config.ui.color_by,
                    id="view",
                )
                yield TextArea(id="editor", soft_wrap=True, show_line_numbers=False)
            with Vertical(id="side"):
                yield BranchPanel(id="branches")
                yield self.models.legend()
                yield TreePanel(id="tree")
        yield InfoLine(id="info")
        yield Legend(id="legend")
        yield StatusBar(id="status")
        yield LoomFooter()  # Textual's, recomposed once per burst of binding changes

    @property
    def view(self) -> TokenView:
        return self.query_one("#view", TokenView)

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    def on_mount(self) -> None:
        widgets = {k: v for k, v in self.config.keymap.items() if k not in DEFAULT_KEYS}
        if widgets:
            self.set_keymap(widgets)
        self.query_one(Legend).show_theme(self.scale_theme, self.scale_mode)
        self.models.attach(self.query_one(TreePanel), self.query_one(BranchPanel))
        self.editor.display = False
        self.set_interval(1.0, self.saving.when_idle)
        if self.backend_factory is not None:
            # Importing torch holds the GIL for stretches of up to ~0.3 s on 2 cores: start the
            # load a moment after the first frame is drawn (not after mounting: on a loaded
            # machine drawing takes longer than that), so a first key is never stuck behind it.
            self.call_after_refresh(self.set_timer, LOAD_DELAY_S, self._start_loading)
        self.refresh_all()
        for clash in self.key_clashes:
            self.notify(clash, severity="warning", timeout=8)
        history = self.engine.history.warnings if self.engine.history is not None else []
        for warning in (
            *(self.store.warnings if self.store is not None else ()),
            *history,  # a damaged undo history, refused
        ):  # e.g. a journal kept aside
            self.notify(warning, severity="warning", timeout=12, markup=False)
        # A long session is millions of small objects (tokens, alternatives); move them out
        # of the collector's view so a full GC pass does not stall scrolling (~0.3 s at 20k).
        gc.freeze()
        if self.new_session and not self.session.root.children:
            self.editing.open()
        else:
            self.view.focus()
            if self.engine.backend is None and self.backend_factory is None:
                self.notify("replay: no model attached; everything is navigable", timeout=4)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.saving.last_key = time.monotonic()  # a big save waits for a pause
        await super().on_event(event)

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
            self.query_one(BranchPanel).show_point(self.session, node_id, self.siblings.show_hidden)

    def on_branch_panel_chosen(self, message: BranchPanel.Chosen) -> None:
        self.navigation.go_to(message.node_id, descend=True)

    def on_tree_panel_chosen(self, message: TreePanel.Chosen) -> None:
        self.navigation.go_to(message.node_id, descend=False)

    def refresh_all(self, cursor: int | None = None) -> None:
        """Bring every view in line with the tree (after any action)."""
        self.view.show(self.session, self.session.current_id, cursor=cursor)
        self.query_one(TreePanel).show_session(self.session, self.siblings.show_hidden)
        self.models.show()
        self.refresh_info()
        self.refresh_status()

    def refresh_info(self) -> None:
        from .widgets.status import info_for

        backend = self.engine.backend
        vocab = backend.info().vocab_size if backend is not None else None
        hint = f"empty document: type a prompt, then {self.keys_of('generate')} to generate"
        unit = self.view.current_unit()
        self.query_one(InfoLine).update(info_for(unit, self.session, vocab, hint))
        self.call_after_refresh(self._place_toasts)

    def refresh_status(self) -> None:
        lacks: list[str] = []
        if self.loading:
            model, backend = self.loading, ""
        elif self.engine.backend is not None:
            info = self.engine.backend.info()
            model, backend, lacks = info.name, info.backend, info.lacks
        else:
            model, backend = "no model (replay)", ""
        progress = self.generation.progress()
        note = (
            self.saving.status_note()
            or self.note
            or (short_path(self.path) if self.path else "unsaved")
        )
        self.query_one(StatusBar).update_status(
            model=model,
            backend=backend,
            settings=self.settings,
            progress=progress,
            note=note,
            lacks=lacks,
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

    # ------------------------------------------------------------------ keys
    def keys_of(self, binding_id: str, default: str | None = None) -> str:
        """The keys of a binding as the active keymap has them, for hints ("ctrl+g");
        ``default``: a widget's binding's own keys (the app's are known here)."""
        if default is None:
            default = DEFAULT_KEYS.get(binding_id, "")
        return shown_keys(self.config.keymap, binding_id, default)

    def declared_keys(self) -> list[Key]:
        """The app's keys, with this app's instruments only (the palette and F1 list them)."""
        return [
            k for k in KEYS if not k.action.startswith("instrument(") or k.id in self.instruments
        ]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from loom_commands(self)
        yield from super().get_system_commands(screen)

    # ------------------------------------------------------------------ state
    @property
    def generating(self) -> bool:
        return self.generation.running

    def busy(self) -> bool:
        """True (and says so) when a generation is running: other changes wait."""
        return self.generation.busy()

    # ------------------------------------------------------------------ actions
    # Thin: Textual looks actions up on the app; each unit does the work.
    def action_generate(self) -> None:
        """Generate from the token cursor (from the editor: commit, then from the edit point)."""
        if self.editing.active:
            self.editing.after_typed(self._generate_after_edit)
            return
        self.generation.request(self.navigation.generation_point())

    def _generate_after_edit(self) -> None:
        if self.editing.active:
            self.editing.commit()
        self.generation.request(self.navigation.generation_point())

    def action_cancel(self) -> None:
        """Escape: cancel a generation (keeping its tokens), or leave the editor (asking
        first when the text changed)."""
        if self.generation.cancel():
            self.notify("cancelling: the partial text is kept", timeout=2)
        elif self.editing.active:
            self.editing.leave()

    def action_edit(self) -> None:
        if not self.busy():
            self.editing.open()

    def action_edit_save(self) -> None:
        self.editing.save()

    def action_edit_leave(self) -> None:
        self.editing.leave()

    def action_topk(self) -> None:
        if not self.editing.active:
            self.picking.menu()

    def action_sibling(self, step: int) -> None:
        self.navigation.sibling(step)

    def action_parent(self) -> None:
        self.navigation.parent()

    def action_child(self) -> None:
        self.navigation.child()

    def action_bookmark(self) -> None:
        self.navigation.bookmark()

    def action_label(self) -> None:
        self.navigation.label()

    def action_siblings(self, what: str) -> None:
        self.siblings.act(what)

    def action_surgery(self, what: str) -> None:
        self.surgery.act(what)

    def action_finding(self, what: str) -> None:
        self.finding.act(what)

    def on_token_view_clear_found(self) -> None:
        self.finding.clear()

    def tree_panel(self) -> TreePanel:
        return self.query_one(TreePanel)

    def action_score(self) -> None:
        self.scoring.start()

    def action_save(self) -> None:
        if self.editing.active:
            self.editing.save()
        else:
            self.saving.save()

    async def action_quit(self) -> None:
        self.saving.quit()

    def on_store_problem(self, message: StoreProblem) -> None:
        self.saving.told(message)

    # ------------------------------------------------------------------ screens
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_user_turn(self) -> None:
        self.turns.ask()

    def request_generation(self, point: Point) -> None:
        """Generate from ``point`` (now, or once the model has loaded)."""
        self.generation.request(point)

    def action_settings(self) -> None:
        from .screens.settings import SettingsScreen

        self.push_screen(SettingsScreen())

    def action_export(self) -> None:
        from .screens.export import ExportScreen

        self.push_screen(ExportScreen(self.navigation.cursor_node()))

    def action_instrument(self, name: str) -> None:
        """Open an instrument's screen from the cursor, with its typed inputs (the screen
        is given the engine, the point and callbacks, never the app)."""
        from .screens.instruments.base import InstrumentInputs

        spec = self.instruments.get(name)
        if spec is None:
            return
        inputs = InstrumentInputs(
            engine=self.engine,
            point=self.navigation.cursor_point(),
            after=self.navigation.generation_point(),
            tree_changed=self.refresh_all,
            jump_to=self.navigation.show_point,
        )
        self.push_screen(spec.factory(inputs))

    # ------------------------------------------------------------------ looks
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
        self.view.set_theme(self.scale_theme, self.scale_mode)
        self.query_one(Legend).show_theme(self.scale_theme, self.scale_mode)


def make_app(
    session: Session | None = None,
    path: Path | None = None,
    *,
    backend: Backend | None = None,
    backend_factory: BackendFactory | None = None,
    config: Config | Mapping[str, Any] | None = None,
    new_session: bool | None = None,
    store: SessionStore | None = None,
    open_model: OpenModel | None = None,
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
        open_model=open_model,
    )
