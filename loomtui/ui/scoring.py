"""Scoring the text a person wrote on this branch, so it gets colours: the backend scores on a
worker thread, the scores are applied to the tree (through the engine) on the app's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..backends.base import Backend, BackendError, Context, GenerationSettings
from ..core.tokens import join_bytes
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
        path = [
            (n.id, n.tokens is None and bool(n.plain), n.plain, n.data)
            for n in session.path(session.current_id)
        ]
        model = backend.info().name
        scored = []
        before = b""
        k = self.host.settings.logprobs_k
        for node_id, plain_text, plain, data in path:
            if plain_text:
                prefix = Context(text=before.decode("utf-8", "replace")) if before else None
                result = backend.score(plain, top_k=k, prefix=prefix)
                # Only tokens that spell exactly the text the person wrote.
                if result.tokens and join_bytes(result.tokens) == data:
                    scored.append((node_id, list(result.tokens), model))
            before += data
        self.host.call_from_thread(self._scored, scored)

    def _scored(self, scored: list[Any]) -> None:
        count = self.host.engine.apply_scores(scored)
        self.host.refresh_all()
        self.host.notify(f"scored {count} text segment(s)", timeout=3)
