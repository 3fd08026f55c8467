"""The app's model list: the model it opened with, and the others every generation spreads
over (``[model] also`` in the config, or the settings dialog), each loaded once, lazily, on
the generation's worker thread the first time it is needed.

The app owns one :class:`Models`; it holds the models' colours (shared by the tree panel, the
branch panel and the legend) and the opener the front end gave it (the CLI resolves an
entry's profile from the config; see :func:`loomtui.cli.common.backend_for_entry`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..backends.base import Backend, ProgressCallback
from ..core.display import safe_line
from ..core.tree import Session
from ..render.models import ModelColours, session_models

if TYPE_CHECKING:
    from .widgets.branches import BranchPanel
    from .widgets.model_legend import ModelLegend
    from .widgets.tree_panel import TreePanel

#: Opens one model entry (its spelling: :func:`loomtui.backends.resolve.model_entry`).
OpenModel = Callable[[str, ProgressCallback], Backend]


def parse_entries(text: str) -> list[str]:
    """A comma-separated list of model entries (the settings dialog's field), blanks and
    repeats dropped."""
    return list(dict.fromkeys(e.strip() for e in text.split(",") if e.strip()))


class Models:
    """The extra models (by entry), their backends once loaded, and every model's colour."""

    def __init__(self, entries: Iterable[str], opener: OpenModel | None, session: Session) -> None:
        self.entries: list[str] = parse_entries(",".join(entries))
        self.opener = opener
        self.loaded: dict[str, Backend] = {}
        self.failed: dict[str, str] = {}  # entry -> why it could not be opened
        # The session's models in the order its nodes name them: the same colours each time
        # it is opened.
        self.colours = ModelColours(session_models(session))
        self._lock = threading.Lock()  # the worker loads, the app thread may change the list
        self._legend: ModelLegend | None = None

    # ------------------------------------------------------------------ views
    def legend(self) -> ModelLegend:
        """The legend widget (model name -> colour), kept to be drawn by :meth:`show`."""
        from .widgets.model_legend import ModelLegend

        self._legend = ModelLegend(id="model-legend")
        self._legend.closing = self.close  # the app's end closes the extra models
        return self._legend

    def attach(self, *views: TreePanel | BranchPanel) -> None:
        """Give the panels the colours (they mark each node with its model's)."""
        for view in views:
            view.models = self.colours

    def show(self) -> None:
        """Bring the legend in line with the colours (after any change to the tree)."""
        if self._legend is not None:
            self._legend.show_models(self.colours)

    def saw(self, names: Iterable[str | None]) -> None:
        """Models that just wrote nodes: each gets its colour now, before the views draw."""
        self.colours.see_all(n for n in names if n)

    # ------------------------------------------------------------------ the list
    def set_entries(self, entries: Sequence[str]) -> None:
        """The settings dialog's list. A model taken off the list is closed; one put back is
        opened again next time; an entry that failed may be tried again."""
        with self._lock:
            self.entries = parse_entries(",".join(entries))
            for entry in [e for e in self.loaded if e not in self.entries]:
                self.loaded.pop(entry).close()
            self.failed.clear()

    def backends(
        self, primary: Backend, progress: Callable[[str], None]
    ) -> tuple[list[Backend], list[str]]:
        """The models to generate with: ``primary`` and every entry's (loading those not
        loaded yet; called on the worker thread), and one line per entry that could not be
        opened (each tried once until the list changes)."""
        out = [primary]
        lines: list[str] = []
        with self._lock:
            entries = list(self.entries)
        for entry in entries:
            backend = self.loaded.get(entry)
            if backend is None and entry not in self.failed:
                backend = self._open(entry, progress)
            if backend is None:
                lines.append(f"{safe_line(entry, 80)}: cannot load: {self.failed[entry]}")
            elif all(backend is not b for b in out):
                out.append(backend)
        return out, lines

    def _open(self, entry: str, progress: Callable[[str], None]) -> Backend | None:
        if self.opener is None:
            self.failed[entry] = "this app was started without a way to open more models"
            return None
        name = safe_line(entry.rstrip("/").rsplit("/", 1)[-1] or entry, 40)  # a path's file

        def loading(text: str, fraction: float | None) -> None:
            pct = "" if fraction is None else f" {fraction:.0%}"
            progress(f"loading {name}{pct}")

        progress(f"loading {name}")
        try:
            backend = self.opener(entry, loading)
        except Exception as exc:  # noqa: BLE001 - one model failing never stops the others
            self.failed[entry] = safe_line(str(exc) or type(exc).__name__, 300)
            return None
        with self._lock:
            if entry in self.entries:
                self.loaded[entry] = backend
        return backend

    def close(self) -> None:
        """Close every extra model (the app's own is the app's)."""
        with self._lock:
            for backend in self.loaded.values():
                backend.close()
            self.loaded.clear()
