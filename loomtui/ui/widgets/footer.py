"""The footer: Textual's, drawn with the first frame and recomposed once per burst of
binding changes.

Textual's :class:`~textual.widgets.Footer` schedules a full recompose (every key widget
removed, built and styled again) for each change of the screen's bindings. While the app
starts, focus moves and the editor opens, and the bindings change about a dozen times before
the next refresh: a dozen recomposes, measured at ~40% of the CPU from mounting to the first
frame. The keys are read from the screen when the recompose runs, so one recompose after the
last change shows exactly what a dozen would.

Textual's footer also stays empty until the screen first says its bindings changed, two or
three refreshes after mounting; this one shows the app's keys in the first frame (then the
focused widget's, once focus has moved), which is when a user starts reading it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class LoomFooter(Footer):
    """A :class:`~textual.widgets.Footer` that coalesces the recomposes it schedules."""

    _recompose_pending = False

    def compose(self) -> ComposeResult:
        self._bindings_ready = True  # the keys known now: in the first frame, not 3 later
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False  # a change from here on schedules the next one
        await self.recompose()
