"""A chat session's next user message: asked for in a one-line prompt, added as a user turn
after the branch shown, and answered at once (the reply is the model's own assistant turn).

The app owns one :class:`Turns`; the tree change goes through
:meth:`~loomtui.engine.Engine.add_turn` (which saves), the reply through the app's
generation request, so a turn typed while the model loads is answered when it is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..backends.base import GenerationSettings
from .host import DialogHost
from .navigation import Point

if TYPE_CHECKING:
    pass


class TurnsHost(DialogHost, Protocol):
    """What :class:`Turns` needs from the app that holds it."""

    settings: GenerationSettings

    def request_generation(self, point: Point) -> None: ...


class Turns:
    """New user turns in a chat session."""

    QUESTION = "Your next message (enter sends it and the model replies; esc cancels)"

    def __init__(self, host: TurnsHost) -> None:
        self.host = host

    def ask(self) -> None:
        """Ask for the next user message after the end of the branch shown."""
        host = self.host
        if host.busy():
            return
        if not (host.settings.chat or host.session.is_chat()):
            host.notify(
                "a new user turn is for chat sessions (turn chat on in settings: s)",
                severity="warning",
                timeout=4,
            )
            return
        from .screens.prompt import PromptScreen

        end = host.session.current_id
        host.push_screen(PromptScreen(self.QUESTION), lambda text: self.add(end, text))

    def add(self, after: str, text: str | None) -> None:
        """Add ``text`` as a user turn after node ``after`` and ask for the reply."""
        if not text or after not in self.host.session:
            return
        node = self.host.engine.add_turn(after, text)
        self.host.refresh_all()
        self.host.request_generation((node.id, None))
