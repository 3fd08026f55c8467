"""What every instrument screen shares: its typed inputs, the frame (title, hint, inputs, a
scrollable result, a status line) and one worker at a time with progress and cancel.

A screen never sees the app. It is built from :class:`InstrumentInputs`: the
:class:`Engine` (its session and backend), the cursor point, and the callbacks it may
need ("the tree changed", "jump to this token", "open a second model"). Computations run in
thread workers; progress comes back as messages (thread-safe, never a blocking call per
step) and a result through ``Worker.StateChanged``, drawn once on the app's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from ....backends.base import Backend, Context
from ....core.display import visible
from ....core.tree import Session
from ....engine import Engine
from ....instruments.context import instrument_context
from ....instruments.progress import Cancelled, Progress

Point = tuple[str, int | None]
"""``(node_id, offset)``: a token of a node, or None for the node's end."""


def open_model_spec(spec: str) -> Backend:
    """Open a second model from a spec (a hub id, a folder, a .gguf; empty: the default)."""
    from ....backends.resolve import open_backend
    from ....config import cache_dir

    return open_backend(model=spec or "default", cache_dir=cache_dir())


def _nothing() -> None:
    return None


def _no_jump(node_id: str, offset: int) -> None:
    return None


@dataclass(frozen=True)
class InstrumentInputs:
    """Everything an instrument screen is given.

    ``point`` is the token under the cursor; ``after`` the point just after it (where the
    app would generate). ``tree_changed`` is called after the screen changed the tree;
    ``jump_to`` moves the app's cursor to a token; ``open_model`` opens a second model.
    """

    engine: Engine
    point: Point
    after: Point
    tree_changed: Callable[[], None] = _nothing
    jump_to: Callable[[str, int], None] = _no_jump
    open_model: Callable[[str], Backend] = open_model_spec

    @classmethod
    def at(cls, engine: Engine, point: Point, **kw: Any) -> InstrumentInputs:
        """Inputs for a cursor on the token at ``point``; ``after`` is the next token."""
        node_id, offset = point
        after: Point = (node_id, None)
        if offset is not None and offset + 1 < len(engine.session.node(node_id)):
            after = (node_id, offset + 1)
        return cls(engine=engine, point=point, after=kw.pop("after", after), **kw)

    @property
    def session(self) -> Session:
        return self.engine.session

    @property
    def backend(self) -> Backend | None:
        return self.engine.backend


def context_before(session: Session, backend: Backend, node_id: str, offset: int | None) -> Context:
    """The context ending just before the point (at a token: that token excluded), read
    without splitting the tree: the instruments' one reading of a point (in a chat session
    the chat template's prompt plus the assistant's partial reply)."""
    return instrument_context(session, backend, node_id, offset)


class ResultView(VerticalScroll, can_focus=True):
    """An instrument's result: scrolls with the keyboard (Up/Down/PageUp/PageDown/Home/
    End, from VerticalScroll's bindings) and the mouse wheel, however long it is."""

    DEFAULT_CSS = """
    ResultView { height: 1fr; scrollbar-size-vertical: 1; }
    ResultView:focus { background-tint: $foreground 4%; }
    ResultView > Static { width: 100%; height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="result")

    def show(self, renderable: RenderableType) -> None:
        self.query_one("#result", Static).update(renderable)
        self.scroll_home(animate=False)


Work = Callable[[Progress, threading.Event], Any]
"""A run in a worker thread: told where to report progress and which event cancels it."""


class _Stopped:
    """A cancelled run's result (a worker that stops on purpose has not failed)."""


STOPPED = _Stopped()


class InstrumentScreen(ModalScreen[None]):
    """The shared frame: a title, a hint, the screen's inputs, a scrollable result and a
    status line. Escape cancels a running computation (the status says so), else closes.
    The first input has the focus on open, so typing goes there at once."""

    DEFAULT_CSS = """
    InstrumentScreen { align: center middle; }
    InstrumentScreen > #frame { width: 100%; max-width: 120; height: 100%; max-height: 40;
        border: round $accent; background: $surface; padding: 0 1; }
    InstrumentScreen #title { height: auto; text-style: bold; }
    InstrumentScreen #hint { height: auto; color: $text-muted; }
    InstrumentScreen #status { height: auto; color: $text-muted; }
    InstrumentScreen Input { height: 3; }
    """
    BINDINGS = [
        Binding("escape", "close", "Cancel/close"),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
    ]
    TITLE_TEXT = "instrument"
    HINT_TEXT = "esc: cancel a run, or close"

    class Progressed(Message):
        """A worker's progress (posted from its thread): ``done`` of ``total`` steps;
        ``what`` is the status line's words before the numbers."""

        def __init__(self, run: threading.Event, what: str, done: int, total: int) -> None:
            super().__init__()
            self.run, self.what, self.done, self.total = run, what, done, total

    def __init__(self, inputs: InstrumentInputs) -> None:
        super().__init__()
        self.inputs = inputs
        self.engine = inputs.engine
        self.session = inputs.engine.session
        self.backend = inputs.engine.backend
        self.point = inputs.point  # at the unit under the cursor
        self.after = inputs.after  # just after it
        self.running: threading.Event | None = None  # the running work's cancel event

    # ------------------------------------------------------------------ frame
    def compose(self) -> ComposeResult:
        with Vertical(id="frame"):
            yield Static(Text(self.TITLE_TEXT), id="title")
            if self.HINT_TEXT:
                yield Static(Text(self.HINT_TEXT), id="hint")
            yield from self.compose_inputs()
            yield from self.compose_body()
            yield Static("", id="status")

    def compose_inputs(self) -> ComposeResult:
        yield from ()

    def compose_body(self) -> ComposeResult:
        yield ResultView(id="body")

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()
        else:
            self.query_one("#body").focus()
        self.begin()

    def begin(self) -> None:
        """What the screen does when it opens (a first run, a first drawing)."""

    def on_unmount(self) -> None:
        if self.running is not None:
            self.running.set()  # closed while running: the worker stops at its next step

    def show(self, renderable: RenderableType) -> None:
        self.query_one("#body", ResultView).show(renderable)

    def set_status(self, text: str) -> None:
        # Often a server's or a file's error: plain text (Text, never markup), controls shown.
        self.query_one("#status", Static).update(Text(visible(text, keep_newlines=False)))

    def action_page(self, step: int) -> None:
        body = self.query_one("#body")
        if step > 0:
            body.scroll_page_down()
        else:
            body.scroll_page_up()

    def action_close(self) -> None:
        if self.running is not None and not self.running.is_set():
            self.running.set()
            self.set_status("cancelling…")
            return
        if self.running is None:
            self.dismiss(None)

    # ------------------------------------------------------------------ work
    def start(
        self,
        work: Work,
        what: str,
        *,
        unit: str = "",
        first: str = "",
        needs_backend: bool = True,
    ) -> None:
        """Run ``work`` in a thread worker; its progress shows as "what: unit n of N"
        (before the first step: ``first``, e.g. "opening the second model", or ``what``)."""
        if needs_backend and self.backend is None:
            self.set_status("no model attached: start loomtui with --model or --api-base")
            return
        if self.running is not None:
            self.running.set()
        run = threading.Event()
        self.running = run
        label = f"{what}: {unit} " if unit else f"{what}: "

        def progress(done: int, total: int) -> None:
            self.post_message(self.Progressed(run, label, done, total))

        def body() -> Any:
            try:
                return work(progress, run)
            except Cancelled:
                return STOPPED

        self.set_status(f"{first or what}… (esc cancels)")
        self.run_worker(
            body,
            thread=True,
            exclusive=True,
            group="instrument",
            exit_on_error=False,
        )

    def on_instrument_screen_progressed(self, message: Progressed) -> None:
        if message.run is self.running and not message.run.is_set():
            self.set_status(f"{message.what}{message.done} of {message.total} (esc cancels)")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.node is not self or event.worker.group != "instrument":
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if self.workers and any(
            w.node is self and w.group == "instrument" and w.is_running for w in self.workers
        ):
            return  # an older run ended; the newer one is still going
        self.running = None
        if event.state == WorkerState.SUCCESS and event.worker.result is not STOPPED:
            self.show_result(event.worker.result)
        elif event.state != WorkerState.ERROR:
            self.set_status("cancelled: nothing was kept")
            self.cancelled()
        else:
            self.set_status(f"failed: {event.worker.error}")
            self.failed()

    def show_result(self, result: Any) -> None:
        """Draw a finished run's result (on the app's thread)."""
        raise NotImplementedError

    def cancelled(self) -> None:
        """After a cancelled run (on the app's thread): an earlier run's result is taken
        away, so nothing on screen reads as the answer to the run that was stopped."""
        self.clear_result("cancelled: this run has no result")

    def failed(self) -> None:
        """After a failed run (on the app's thread): as after a cancel, no stale result."""
        self.clear_result("failed: this run has no result (the reason is below)")

    def clear_result(self, why: str) -> None:
        """Replace what the result area shows by ``why``."""
        body = self.query_one("#body")
        if isinstance(body, ResultView):
            body.show(Text(why, style="bold"))
