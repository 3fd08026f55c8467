"""Scoring the text a person wrote on this branch, so it gets colours: the backend scores on a
worker thread, the scores are applied to the tree (through the engine) on the app's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..backends.base import Backend, BackendError, Context, GenerationSettings
from ..core.tokens import join_bytes
from ..instruments.context import instrument_context
from .host import TreeHost

if TYPE_CHECKING:
    pass


class ScoringHost(TreeHost, Protocol):
    """What a :class:`Scoring` needs from the app that holds it."""

    settings: GenerationSettings

    def busy(self) -> bool:
        """True (and says so) while a generation runs."""

    def run_worker(self, work: Callable[[], None], **kw: Any) -> Any: ...

    def call_from_thread(self, callback: Callable[..., Any], *args: Any) -> Any: ...


class Scoring:
    """The "Score text" action."""

    def __init__(self, host: ScoringHost) -> None:
        self.host = host

    def start(self) -> None:
        """Score the plain text on this branch with the backend (in a worker)."""
        host = self.host
        if host.busy():
            return
        try:
            backend = host.engine.require_backend()
        except BackendError as exc:
            host.notify(str(exc), severity="warning", timeout=5)
            return
        host.run_worker(
            lambda: self._thread(backend), thread=True, group="score", exit_on_error=False
        )

    def _thread(self, backend: Backend) -> None:
        # Computes only: the scores are applied to the tree on the app's thread (_scored).
        session = self.host.session
        chat = session.is_chat()
        path = [
            (n.id, n.tokens is None and bool(n.plain), n.plain, n.data)
            for n in session.path(session.current_id)
        ]
        model = backend.info().name
        scored = []
        refusals: list[str] = []
        before = b""
        k = self.host.settings.logprobs_k
        for node_id, plain_text, plain, data in path:
            if plain_text:
                prefix = self._prefix(session, backend, node_id, before, chat)
                try:
                    result = backend.score(plain, top_k=k, prefix=prefix)
                except BackendError as exc:
                    refusals.append(str(exc))
                    break  # the same server would refuse the next segment the same way
                if result.note and not result.tokens:
                    refusals.append(result.note)
                    break
                # Only tokens that spell exactly the text the person wrote.
                if result.tokens and join_bytes(result.tokens) == data:
                    scored.append((node_id, list(result.tokens), model))
            before += data
        self.host.call_from_thread(self._scored, scored, refusals)

    @staticmethod
    def _prefix(
        session: Any, backend: Backend, node_id: str, before: bytes, chat: bool
    ) -> Context | None:
        """What the model reads before a segment: in a chat session, inside an assistant
        turn, the chat context (the turns before, the reply so far), so the text is scored as
        the model's own reply; else the raw text before it."""
        if chat and session.role(node_id, True) == "assistant":
            return instrument_context(session, backend, node_id, 0)
        return Context(text=before.decode("utf-8", "replace")) if before else None

    def _scored(self, scored: list[Any], refusals: list[str] | None = None) -> None:
        count = self.host.engine.apply_scores(scored)
        self.host.refresh_all()
        if refusals and not count:
            # One line: what the backend said it cannot do (a server without prompt scores).
            self.host.notify(
                "not scored: " + " ".join(refusals[0].split()), severity="warning", timeout=6
            )
            return
        self.host.notify(f"scored {count} text segment(s)", timeout=3)
