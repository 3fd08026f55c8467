"""Saving: the autosave after every change, a failed write told at once (a toast and the
status line, from whichever thread wrote), ctrl+s, and quitting without losing anything.

The app owns one :class:`Saving`; it is the engine's ``on_change`` and the store's
``on_problem``, and the app's ``on_store_problem`` handler hands it the message.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.message import Message

from ..core.errors import LoomError
from ..core.tree import Session
from ..engine import Engine
from .editing import Editing
from .generation import Generation
from .host import Notifier

if TYPE_CHECKING:
    from ..core.store import SessionStore


#: Seconds with no key pressed (and nothing generating) before a big session's put-off
#: compacting save runs: never while a person types or tokens stream.
IDLE_S = 3.0
#: Seconds after a key during which a running compacting save (on its own thread) mostly
#: sleeps, so that the keys that follow are handled at once (``SessionStore.typing_until``).
TYPING_S = 1.0


class StoreProblem(Message):
    """The session's store could not write (``problem``, one line) or writes again (None).
    Posted from whichever thread the store was writing on (a generation's, or the app's)."""

    def __init__(self, problem: str | None) -> None:
        super().__init__()
        self.problem = problem


class SavingHost(Notifier, Protocol):
    """What a :class:`Saving` needs from the app that holds it."""

    session: Session
    engine: Engine
    path: Path | None
    store: SessionStore | None
    generation: Generation
    editing: Editing

    def post_message(self, message: Message) -> bool: ...

    def refresh_status(self) -> None: ...

    def exit(self, result: Any = None) -> None: ...


class Saving:
    """Where the session is written, and what the person is told when it cannot be."""

    def __init__(self, host: SavingHost) -> None:
        self.host = host
        self.error: str | None = None  # the last save's failure (None: it worked)
        self.problem: str | None = None  # what the status line says is not saved
        self._last_key = time.monotonic()

    @property
    def last_key(self) -> float:
        """When a key was last pressed (monotonic; the app sets it at every key)."""
        return self._last_key

    @last_key.setter
    def last_key(self, when: float) -> None:
        self._last_key = when
        store = self.host.store
        if store is not None:
            store.typing_until = when + TYPING_S  # a save running now leaves room for keys

    # ------------------------------------------------------------------ autosave
    def autosave(self, session: Any) -> None:
        """Engine.on_change: save after every generation and edit. A failure is told at once
        (the store tells :meth:`store_problem`; a file without a store is told here)."""
        host = self.host
        if host.path is None:
            return
        try:
            if host.store is not None:
                host.store.autosave()
            else:
                from ..core.sessionfile import save_session

                save_session(host.session, host.path)
            self.error = None
        except (LoomError, OSError) as exc:
            first = self.error is None
            self.error = str(exc)
            if host.store is None and first:
                host.post_message(StoreProblem(f"could not save: {exc}"))

    def when_idle(self) -> None:
        """The app's timer: the full save that compacts a big session's journal, which the
        store puts off while the person works (``defer_compaction``: ~2 s for a million
        tokens), starts once no key came for :data:`IDLE_S` and nothing is generating. It
        runs on a thread of its own (``SessionStore.compact_if_due``): a key pressed
        meanwhile is handled at once, and journaled as always; a failure is told by the
        store (:meth:`store_problem`); quitting waits for it (``SessionStore.close``)."""
        store = self.host.store
        if store is None or not store.compaction_due or store.compacting:
            return
        if self.host.generation.running:
            return
        if time.monotonic() - self.last_key < IDLE_S:
            return
        try:
            store.compact_if_due()
            self.error = None
        except (LoomError, OSError) as exc:  # the store has told on_problem already
            self.error = str(exc)

    def store_problem(self, problem: str | None) -> None:
        """``SessionStore.on_problem`` (called on any thread): shown by the app's thread."""
        self.host.post_message(StoreProblem(problem))

    def told(self, message: StoreProblem) -> None:
        """On the app's thread: a save or journal write failed (a toast and the status line
        say so at once, not only at ctrl+s or quit), or writes work again."""
        host = self.host
        if message.problem is None:
            if self.problem is not None:
                self.problem = None
                host.notify("saving works again: nothing was lost", timeout=4)
        else:
            self.problem = message.problem
            host.notify(message.problem, severity="error", timeout=10, markup=False)
        host.refresh_status()

    def status_note(self) -> str | None:
        """The status line's warning while writes fail."""
        return None if self.problem is None else "⚠ not saved: " + self.problem

    # ------------------------------------------------------------------ keys
    def save(self) -> None:
        """ctrl+s outside the editor: save now, and say where (or why not)."""
        host = self.host
        if host.path is None:
            host.notify("no file for this session", severity="warning")
            return
        store = host.store
        if store is not None and store.readonly:
            why = (
                "(a packaged example: copy it to keep changes)"
                if store.example
                else "(opened with --readonly)"
            )
            host.notify(
                f"read-only: {host.path} is not written {why}", severity="warning", timeout=4
            )
            return
        host.engine.save()
        if self.error:
            host.notify(f"save failed: {self.error}", severity="error", timeout=6, markup=False)
        else:
            host.notify(f"saved {host.path}", timeout=2, markup=False)

    def quit(self) -> None:
        """ctrl+q: stop a generation (its tokens kept), keep what the editor holds (committed
        after every key typed before ctrl+q), save, exit."""
        editing = self.host.editing
        if editing.active:
            editing.after_typed(self._quit_now)
            return
        self._quit_now()

    def _quit_now(self) -> None:
        host = self.host
        host.generation.cancel()
        if host.editing.active:
            host.editing.commit()
        host.engine.save()
        host.exit()
