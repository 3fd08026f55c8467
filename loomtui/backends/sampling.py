"""Sampling and per-step numbers for the local decode loop.

The numbers a user sees (logprob, entropy, top-k) come from the model's raw distribution,
``log_softmax(logits)``; temperature, top-k and top-p only shape the distribution the next
token is *drawn* from, whose probability of the drawn token :func:`draw` also returns (shown
beside the raw one as the "sampled" probability).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..core.tokens import Token
from .base import BackendError, GenerationSettings

if TYPE_CHECKING:  # torch is imported where it is used: the llama.cpp engine runs without it
    import torch


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
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    entropy = row_entropy(logp)
    k = min(k, logp.shape[-1])
    if k > 0:
        top_values, top_ids = logp.topk(k, dim=-1)
    else:
        top_values = logp.new_empty((logp.shape[0], 0))
        top_ids = torch.empty((logp.shape[0], 0), dtype=torch.long, device=logp.device)
    return logp, entropy, top_values, top_ids


def row_entropy(logp: torch.Tensor) -> torch.Tensor:
    """Each row's exact entropy in nats, ``-sum p ln p`` over log-probabilities ``logp``
    (``p ln p`` taken as 0 where ``p`` is 0, or not a number).

    On the CPU the rows are summed in numpy, on the calling thread alone. torch splits every
    elementwise op over a vocabulary this wide (49,152 values) between its threads, and on a
    busy machine each such op waits until its other thread gets a core: the five of them cost
    a decode step 40 ms under load 5 (0.2 ms on a quiet machine), where one thread takes under
    0.5 ms either way. The terms are the same float32 products; their float32 sum is numpy's
    pairwise one, within 3e-7 (relative) of torch's, whose own last bits change with its
    thread count (this one gives the same bits on any number of cores).
    """
    import torch

    if not logp.is_cpu:
        p = logp.exp()
        return -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)
    return torch.from_numpy(_row_entropy_np(logp.detach().numpy()))


def _row_entropy_np(logp: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        terms = np.exp(logp)
        terms *= logp
    sums = terms.sum(axis=-1)
    off = ~np.isfinite(sums)
    if off.any():  # a masked logit (p = 0, ln p = -inf: their product is nan) or a nan
        rows = terms[off]
        rows[~(np.exp(logp[off]) > 0)] = 0
        sums[off] = rows.sum(axis=-1)
    return -sums


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
    probs = sampling_probs(logits, settings)
    chosen = multinomial(probs, generator)
    return chosen, probs.gather(-1, chosen[:, None])[:, 0].log()


def multinomial(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One id per row drawn from ``probs`` (rows ``[n, V]``, not necessarily normalised):
    ``torch.multinomial(probs, 1, generator=generator)[:, 0]``, the same ids for the same
    generator state.

    torch draws one sample as ``argmax(probs / q)`` with ``q ~ Exp(1)`` over the vocabulary
    (an exponential race), after checking the rows. On the CPU its checks, the division and
    the argmax are four ops split between torch's threads, each waiting on a busy machine
    for the other thread to get a core; here the same ``q`` (the generator's same draws)
    and the same float32 division run in numpy on this thread."""
    import torch

    if not probs.is_cpu:
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
    p = probs.detach().numpy()
    if not (p.max() < np.inf and p.min() >= 0):  # max is nan where a value is
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (p.sum(axis=-1) == 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    q = torch.empty_like(probs).exponential_(1, generator=generator).numpy()
    np.divide(p, q, out=q)
    return torch.from_numpy(q.argmax(axis=-1))


def sampling_probs(logits: torch.Tensor, settings: GenerationSettings) -> torch.Tensor:
    """The distribution :func:`draw` samples from at a temperature above 0: ``logits`` over
    the temperature, cut to the top-k, then to the smallest set whose mass reaches top-p
    (the most likely token always kept), renormalised. :func:`sampling_probs_np` is its
    numpy twin (the llama.cpp engine's)."""
    import torch

    x = logits.float()
    if settings.temperature != 1.0:  # x / 1 is x: one op over the vocabulary fewer
        x = x / settings.temperature
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
    return torch.softmax(x, dim=-1)


# ---------------------------------------------------------------- numpy twins (llama.cpp)
def raw_numbers_np(
    logits: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`raw_numbers` in numpy over float32 rows ``[n, V]``, without the full logp
    array: ``(lse, entropy, top_values, top_ids)`` where ``lse`` is each row's log-sum-exp
    (a token's logprob is ``logits[r, id] - lse[r]``). Entropy is exact over the whole row,
    in nats (sums in float64); top-k is sorted by value, highest first."""
    x = np.asarray(logits, dtype=np.float32)
    m = x.max(axis=1, keepdims=True)
    z = x - m
    e = np.exp(z)
    s = e.sum(axis=1, dtype=np.float64)
    # p ln p taken as 0 where p is 0 (a -inf logit): its limit, as in raw_numbers.
    ez = e * (z if np.isfinite(z).all() else np.where(e > 0, z, np.float32(0)))
    lse = m[:, 0].astype(np.float64) + np.log(s)
    entropy = np.log(s) - ez.sum(axis=1, dtype=np.float64) / s
    k = min(k, x.shape[1])
    if k <= 0:
        return (
            lse,
            entropy,
            np.empty((x.shape[0], 0), np.float32),
            np.empty((x.shape[0], 0), np.int64),
        )
    part = (
        np.argpartition(x, x.shape[1] - k, axis=1)[:, -k:]
        if k < x.shape[1]
        else (np.broadcast_to(np.arange(x.shape[1]), x.shape).copy())
    )
    vals = np.take_along_axis(x, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top_ids = np.take_along_axis(part, order, axis=1)
    top_values = (np.take_along_axis(vals, order, axis=1) - lse[:, None]).astype(np.float32)
    return lse, entropy, top_values, top_ids


def log_softmax_np(logits: np.ndarray) -> np.ndarray:
    """float32 log-softmax of each row (the sums in float64)."""
    x = np.asarray(logits, dtype=np.float32)
    m = x.max(axis=-1, keepdims=True)
    z = x - m
    lse = np.log(np.exp(z).sum(axis=-1, keepdims=True, dtype=np.float64))
    return (z - lse.astype(np.float32)).astype(np.float32, copy=False)


def sampling_probs_np(logits: np.ndarray, settings: GenerationSettings) -> np.ndarray:
    """:func:`sampling_probs` in numpy: the same temperature, top-k (ties with the k-th
    kept) and top-p cut, on float32 rows ``[n, V]``."""
    x = np.asarray(logits, dtype=np.float32) / np.float32(settings.temperature)
    vocab = x.shape[-1]
    if 0 < settings.top_k < vocab:
        kth = np.partition(x, vocab - settings.top_k, axis=-1)[:, vocab - settings.top_k]
        x = np.where(x < kth[:, None], np.float32(-np.inf), x)
    if settings.top_p < 1.0:
        order = np.argsort(-x, axis=-1, kind="stable")
        sorted_x = np.take_along_axis(x, order, axis=-1)
        probs = _softmax_np(sorted_x)
        before = np.cumsum(probs, axis=-1, dtype=np.float32) - probs
        sorted_x = np.where(before >= settings.top_p, np.float32(-np.inf), sorted_x)
        x = np.empty_like(x)
        np.put_along_axis(x, order, sorted_x, axis=-1)
    return _softmax_np(x)


def _softmax_np(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)


def draw_np(
    logits: np.ndarray, settings: GenerationSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`draw` in numpy: one token id per row, argmax at temperature 0 (and no sampled
    logprob), else drawn from :func:`sampling_probs_np` with ``rng`` (one uniform number
    per row: the same seed gives the same tokens), with its logprob under that
    distribution."""
    x = np.asarray(logits, dtype=np.float32)
    if settings.temperature <= 0:
        return x.argmax(axis=-1), None
    probs = sampling_probs_np(x, settings)
    cdf = np.cumsum(probs, axis=-1, dtype=np.float64)
    u = rng.random(x.shape[0]) * cdf[:, -1]
    chosen = np.array(
        [
            min(int(np.searchsorted(cdf[r], u[r], side="right")), x.shape[1] - 1)
            for r in range(x.shape[0])
        ]
    )
    picked = probs[np.arange(x.shape[0]), chosen]
    return chosen, np.log(picked.astype(np.float64))


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
