"""Sampling and per-step numbers for the local decode loop.

The numbers a user sees (logprob, entropy, top-k) come from the model's raw distribution,
``log_softmax(logits)``; temperature, top-k and top-p only shape the distribution the next
token is *drawn* from, whose probability of the drawn token :func:`draw` also returns (shown
beside the raw one as the "sampled" probability).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core.tokens import Token
from .base import BackendError, GenerationSettings


def check_settings(settings: GenerationSettings) -> None:
    """Refuse settings that cannot sample, with a one-line reason."""
    if settings.n < 1:
        raise BackendError("n must be at least 1")
    if settings.max_tokens < 0:
        raise BackendError("max tokens must be 0 or more")
    if settings.temperature < 0:
        raise BackendError("temperature must be 0 (greedy) or more")
    if not 0 < settings.top_p <= 1:
        raise BackendError("top-p must be in (0, 1]")
    if settings.top_k < 0:
        raise BackendError("top-k must be 0 (off) or more")
    if settings.logprobs_k < 0:
        raise BackendError("the number of alternatives must be 0 or more")


def raw_numbers(
    logits: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(logp, entropy, top_values, top_ids)`` of the raw distribution for each row.

    Entropy is exact over the full vocabulary, in nats; ``p ln p`` is taken as 0 where
    ``p`` is 0 (masked logits), which is its limit.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    entropy = -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)
    k = min(k, logp.shape[-1])
    if k > 0:
        top_values, top_ids = logp.topk(k, dim=-1)
    else:
        top_values = logp.new_empty((logp.shape[0], 0))
        top_ids = torch.empty((logp.shape[0], 0), dtype=torch.long, device=logp.device)
    return logp, entropy, top_values, top_ids


def sample(
    logits: torch.Tensor, settings: GenerationSettings, generator: torch.Generator
) -> torch.Tensor:
    """One next token id per row, drawn as ``settings`` say (temperature 0 = argmax)."""
    return draw(logits, settings, generator)[0]


def draw(
    logits: torch.Tensor, settings: GenerationSettings, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One next token id per row, and each one's logprob under the distribution it was drawn
    from (after temperature, top-k and top-p, renormalised); None at temperature 0 (argmax:
    nothing was drawn).

    The logprob is read off the probabilities the draw itself used (one gather of ``n``
    values and their log): no second softmax over the vocabulary.
    """
    if settings.temperature <= 0:
        return logits.argmax(dim=-1), None
    x = logits.float() / settings.temperature
    vocab = x.shape[-1]
    if 0 < settings.top_k < vocab:
        kth = x.topk(settings.top_k, dim=-1).values[:, -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if settings.top_p < 1.0:
        sorted_x, order = x.sort(dim=-1, descending=True)
        probs = torch.softmax(sorted_x, dim=-1)
        # Keep the smallest set whose mass reaches top_p (the most likely token always).
        before = probs.cumsum(dim=-1) - probs
        sorted_x = sorted_x.masked_fill(before >= settings.top_p, float("-inf"))
        x = torch.full_like(x, float("-inf")).scatter(-1, order, sorted_x)
    probs = torch.softmax(x, dim=-1)
    chosen = torch.multinomial(probs, 1, generator=generator)
    return chosen[:, 0], probs.gather(-1, chosen)[:, 0].log()


class StopFilter:
    """Holds back tokens that might begin a stop string; ends the completion at one.

    Tokens stay whole (their bytes are the model's): a token holding the start of a stop
    string is not kept, and nothing after it is. Bytes are compared, not decoded text.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s.encode("utf-8") for s in stops if s]
        self.data = b""
        self.emitted = 0  # bytes already released
        self.pending: list[tuple[int, Token]] = []  # (end offset, token)

    def push(self, token: Token) -> tuple[list[Token], bool]:
        """Add a token; return the tokens now safe to show, and whether a stop matched."""
        if not self.stops:
            return [token], False
        self.data += token.bytes
        self.pending.append((len(self.data), token))
        hits = [i for i in (self.data.find(s, self.emitted) for s in self.stops) if i >= 0]
        if hits:
            cut = min(hits)
            ready = [t for end, t in self.pending if end <= cut]
            self.pending = []
            return ready, True
        hold = self._held_suffix()
        limit = len(self.data) - hold
        ready = [t for end, t in self.pending if end <= limit]
        self.pending = [(end, t) for end, t in self.pending if end > limit]
        if ready:
            self.emitted = max(self.emitted, _end_of(ready, self.data, self.pending))
        return ready, False

    def _held_suffix(self) -> int:
        """Length of the longest suffix of the data that could begin a stop string."""
        best = 0
        tail_room = len(self.data) - self.emitted
        for s in self.stops:
            for k in range(min(len(s) - 1, tail_room), best, -1):
                if self.data.endswith(s[:k]):
                    best = k
                    break
        return best

    def flush(self) -> list[Token]:
        """Whatever is held back, at the end of a completion that did not stop."""
        out = [t for _, t in self.pending]
        self.pending = []
        return out


def _end_of(ready: list[Token], data: bytes, pending: list[tuple[int, Token]]) -> int:
    """Byte offset where the released tokens end (where the held ones start)."""
    if pending:
        first_end, first = pending[0]
        return first_end - len(first.bytes)
    return len(data)
