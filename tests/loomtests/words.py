"""A deterministic fake backend for UI tests: words from a fixed list, known logprobs,
a top-k of 5 per token, and an optional delay per token so cancel can be tested."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from loomtui.backends.base import (
    Backend,
    Context,
    Distribution,
    GenerationSettings,
    ModelInfo,
    ScoreResult,
    TokenEvent,
)
from loomtui.core.tokens import Alt, Token

WORDS = [" the", " cat", " sat", " on", " a", " mat", ".", " It", " was", " warm"]


def _alts(pos: int) -> list[Alt]:
    """Five alternatives at a position, most likely first (probabilities sum below 1)."""
    probs = [0.5, 0.2, 0.1, 0.05, 0.02]
    out = []
    for r, p in enumerate(probs):
        w = WORDS[(pos + r) % len(WORDS)]
        out.append(Alt(w, w.encode(), 100 + (pos + r) % len(WORDS), math.log(p)))
    return out


class WordsBackend(Backend):
    """Emits WORDS in order (continuation i starts i words later)."""

    def __init__(self, delay: float = 0.0, name: str = "fake-model") -> None:
        self.delay = delay
        self.name = name
        self.calls: list[Context] = []

    def info(self) -> ModelInfo:
        return ModelInfo(name=self.name, backend="fake", vocab_size=len(WORDS))

    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        self.calls.append(context)
        for step in range(settings.max_tokens):
            for idx in range(settings.n):
                if cancel is not None and cancel.is_set():
                    for j in range(settings.n):
                        yield TokenEvent(j, finish_reason="cancelled")
                    return
                pos = step + idx
                top = _alts(pos)
                chosen = top[0]
                yield TokenEvent(
                    idx,
                    Token(chosen.text, chosen.bytes, chosen.token_id, chosen.logprob, top, 1.5),
                )
            if self.delay:
                time.sleep(self.delay)
        for idx in range(settings.n):
            yield TokenEvent(idx, finish_reason="length")

    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        pieces = text.split(" ")
        tokens = []
        for i, piece in enumerate(pieces):
            t = piece if i == 0 else " " + piece
            tokens.append(
                Token(
                    t,
                    t.encode(),
                    None,
                    None if i == 0 and prefix is None else math.log(0.3),
                    _alts(i),
                )
            )
        return ScoreResult([], tokens)

    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        return Distribution(_alts(0)[:top_k], 1.5, len(WORDS))

    def tokenize(self, text: str) -> list[int] | None:
        return None
