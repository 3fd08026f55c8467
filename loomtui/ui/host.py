"""What the app's units (editing, navigation, picking, saving, scoring, turns, generation)
need from the app that holds them, declared once: each unit's own ``...Host`` Protocol adds
what only it uses. The app satisfies them all; a unit never imports the app (no circle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..core.tree import Session
from ..engine import Engine

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.screen import Screen


class Notifier(Protocol):
    """Tells the user (a toast; the app's ``notify`` keeps every text plain)."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...


class TreeHost(Notifier, Protocol):
    """The tree, the engine every change goes through, and the views brought in line."""

    session: Session
    engine: Engine

    def refresh_all(self, cursor: int | None = None) -> None: ...


class DialogHost(TreeHost, Protocol):
    """...and asking the user (a dialog), when no generation is running."""

    def busy(self) -> bool:
        """True (and says so) while a generation runs: the change waits."""

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], None]) -> Any: ...
