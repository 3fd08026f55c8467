"""Progress and cancellation for the instruments' long runs (a probe over many answers, a
sweep, a multiverse, a model diff's passes, a replay's generation points): a callback told ``(done, total)`` as work completes, and a
:class:`threading.Event` checked between steps. A set event ends the run with
:class:`Cancelled`, after the instrument has undone what it added to the tree, so a
cancelled run leaves nothing half-applied."""

from __future__ import annotations

import threading
from collections.abc import Callable

Progress = Callable[[int, int], None]
"""Called with ``(done, total)`` steps of one run (from the thread that runs it)."""


class Cancelled(Exception):
    """The run was stopped by its cancel event; nothing of it was kept."""

    def __init__(self) -> None:
        super().__init__("cancelled")


def check(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set (the instruments' step boundary)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def report(progress: Progress | None, done: int, total: int) -> None:
    """Tell ``progress`` (when there is one) that ``done`` of ``total`` steps are done."""
    if progress is not None:
        progress(done, total)
