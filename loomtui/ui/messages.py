"""Typed messages from workers to the app ("attributes down, messages up")."""

from __future__ import annotations

from textual.message import Message

from ..backends.base import Backend
from ..engine import GenerationResult


class TokensArrived(Message):
    """New tokens are in the tree. Coalesced: one pending message stands for all of them."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TokensArrived)


class GenerationFinished(Message):
    """A generation ended (done, cancelled or failed); the result says which."""

    def __init__(self, result: GenerationResult | None, error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class LoadProgress(Message):
    """The model is loading: a line and a fraction (None when unknown)."""

    def __init__(self, text: str, fraction: float | None) -> None:
        super().__init__()
        self.text = text
        self.fraction = fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgress)


class ModelLoaded(Message):
    """The backend is ready (or failed to load, with ``error`` set)."""

    def __init__(self, backend: Backend | None, error: str | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.error = error
