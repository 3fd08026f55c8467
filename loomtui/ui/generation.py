"""The generation lifecycle in one unit: start, a press queued while the model loads,
streaming, cancel, finish and errors.

The app owns one :class:`Generation` and routes to it what concerns a generation: ctrl+g
(:meth:`Generation.request`), the model becoming ready (:meth:`Generation.model_ready`),
the worker's messages (:meth:`Generation.tokens_arrived`, :meth:`Generation.finished`) and
a failed worker (:meth:`Generation.worker_failed`). Tokens are produced on a worker thread by
:meth:`Engine.generate`; the thread posts coalesced messages, never calls into the UI.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..backends.base import BackendError, GenerationSettings
from ..engine import Engine
from ..instruments.multimodel import MultiResult, generate_many, spread
from .host import Notifier
from .messages import GenerationFinished, TokensArrived
from .models import Models

if TYPE_CHECKING:
    from textual.message import Message

#: A point of the tree: ``(node_id, offset)``; None: the node's end.
Point = tuple[str, int | None]


class GenerationHost(Notifier, Protocol):
    """What a :class:`Generation` needs from the app that holds it."""

    engine: Engine
    settings: GenerationSettings
    loading: str | None
    models: Models  # the other models a generation spreads over

    def run_worker(self, work: Callable[[], None], **kw: Any) -> Any: ...

    def post_message(self, message: Message) -> bool: ...

    def keys_of(self, binding_id: str) -> str:
        """The keys of a binding as the keymap has them (for hints)."""

    def generation_started(self) -> None:
        """A generation began: the view follows its end."""

    def tokens_shown(self) -> None:
        """New tokens are in the tree: show them (and the progress)."""

    def generation_ended(self) -> None:
        """A generation ended: bring every view in line with the tree."""


class Generation:
    """One app's generations: at most one runs at a time; a press while the model is still
    loading is remembered (the point it was made at) and started when the model is ready."""

    def __init__(self, host: GenerationHost) -> None:
        self.host = host
        self.cancel_event: threading.Event | None = None
        self.queued: Point | None = None  # a press made while the model loaded
        self.last = ""  # how the last generation ended ("done: 6 tok 120 tok/s")
        self._pending = threading.Event()  # a TokensArrived is queued
        self._count = 0
        self._start = 0.0
        self._target = 0
        self.phase = ""  # what the worker does before tokens come (loading a second model)

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.cancel_event is not None

    def busy(self) -> bool:
        """True (and says so) when a generation is running: other changes wait."""
        if self.running:
            cancel = self.host.keys_of("cancel")
            self.host.notify(f"generating… ({cancel} cancels)", severity="warning", timeout=2)
            return True
        return False

    def progress(self) -> str:
        """The status line's part: live counts while running, else how the last one ended."""
        if not self.running:
            return self.last
        if self.phase:
            return self.phase
        elapsed = max(1e-6, time.perf_counter() - self._start)
        rate = self._count / elapsed
        return f"generating {self._count}/{self._target} {rate:.1f} tok/s"

    # ------------------------------------------------------------------ start
    def request(self, point: Point) -> None:
        """ctrl+g at ``point``: start now, or when the model is ready if it is loading."""
        if self.busy():
            return
        engine = self.host.engine
        if engine.backend is None:
            if self.host.loading:
                self.queued = point
                self.host.notify(
                    "the model is still loading: generation starts when it is ready",
                    timeout=3,
                )
                return
            try:
                engine.require_backend()
            except BackendError as exc:
                self.host.notify(str(exc), severity="warning", timeout=5, markup=False)
            return
        self.start(*point)

    def model_ready(self) -> None:
        """The backend is attached: start the press that waited for it, if any (and its
        point still exists)."""
        queued, self.queued = self.queued, None
        session = self.host.engine.session
        if queued is None or queued[0] not in session or self.running:
            return
        node_id, offset = queued
        if offset is not None and offset >= len(session.node(node_id)):
            offset = None
        self.start(node_id, offset)

    def start(self, node_id: str, offset: int | None) -> None:
        """Generate from ``(node_id, offset)`` on a worker thread, with the host's settings."""
        settings = self.host.settings
        cancel = self.cancel_event = threading.Event()
        self._count = 0
        self._start = time.perf_counter()
        models = getattr(self.host, "models", None)
        extra = len(models.entries) if models is not None else 0
        self._target = settings.max_tokens * sum(spread(settings.n, 1 + extra))
        self.host.generation_started()
        self.host.run_worker(
            lambda: self._thread(node_id, offset, settings, cancel),
            thread=True,
            group="generate",
            exit_on_error=False,
        )

    def _thread(
        self, node_id: str, offset: int | None, settings: GenerationSettings, cancel: Any
    ) -> None:
        def on_token(node: Any, token: Any) -> None:
            self._count += 1
            self._poke()

        models = getattr(self.host, "models", None)
        engine = self.host.engine
        if models is None or not models.entries or engine.backend is None:
            result = engine.generate(node_id, offset, settings, cancel=cancel, on_token=on_token)
            self.host.post_message(GenerationFinished(result))
            return

        def phase(text: str) -> None:
            self.phase = text
            self._poke()  # the status line shows it

        # Several models: the extra ones load here the first time (on this thread).
        backends, unloaded = models.backends(engine.backend, phase)
        self.phase = ""
        multi = generate_many(
            engine, backends, node_id, offset, settings, cancel=cancel, on_token=on_token
        )
        multi.unloaded = unloaded
        self.host.post_message(GenerationFinished(multi))

    def _poke(self) -> None:
        # Coalesce: at most one TokensArrived waits in the queue, so the UI never
        # throttles the model (no call_from_thread per token).
        if not self._pending.is_set():
            self._pending.set()
            self.host.post_message(TokensArrived())

    # ------------------------------------------------------------------ stop
    def cancel(self) -> bool:
        """Cancel the running generation (its tokens are kept). False when none runs."""
        if self.cancel_event is None:
            return False
        self.cancel_event.set()
        return True

    # ------------------------------------------------------------------ messages
    def tokens_arrived(self) -> None:
        self._pending.clear()
        self.host.tokens_shown()

    def finished(self, message: GenerationFinished) -> None:
        self.cancel_event = None
        self._pending.clear()
        gc.freeze()  # the new tokens join the long-lived objects (see LoomApp.on_mount)
        result = message.result
        self.phase = ""
        if result is not None:
            what = "cancelled" if result.cancelled else "done"
            self.last = f"{what}: {result.tokens} tok {result.tokens_per_s:.1f} tok/s"
            # Several models: one line per model that failed (the others' nodes landed).
            multi = isinstance(result, MultiResult)
            for err in result.failures if multi else result.errors[:1]:
                self.host.notify(
                    f"generation failed: {err}", severity="error", timeout=6, markup=False
                )
            models = getattr(self.host, "models", None)
            if models is not None:  # new models get their colours before the views draw
                models.saw(n.model for n in result.nodes)
        if message.error:
            self.last = "failed"
            self.host.notify(message.error, severity="error", timeout=6, markup=False)
        self.host.generation_ended()

    def worker_failed(self, text: str) -> None:
        """The worker raised (a bug or a backend crash): end as a failed generation."""
        self.host.post_message(GenerationFinished(None, text))
