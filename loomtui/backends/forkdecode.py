"""Greedy decoding that forks: rows decoded in lockstep from one shared KV cache.

Adaptive looming (:mod:`loomtui.instruments.adaptive`) decodes a branch greedily until the
model is unsure, then continues each of the top-K alternatives. Here that is cheap: the K
children of a branch point start from a copy of the parent row's cache (the shared prefix is
never read again), their K first tokens go through the model as one batched step, and the K
rows then decode as one batch, one forward pass per step for all of them, dropping rows as
they finish.

The numbers of each step are those :meth:`LocalBackend.generate` gives a token: the raw
distribution's top-k (packed, bit for bit the model's float32 values) and its exact entropy.
Code above the backends gets plain :class:`Step` values, never a tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..core.tokens import DIST_RAW, Alt
from .base import Context
from .kvcache import slice_cache
from .sampling import raw_numbers


@dataclass(frozen=True)
class Step:
    """The next-token distribution of one row: its top-k (most likely first, so ``top[0]``
    is the greedy token), its entropy (exact here), and which distribution that is."""

    top: Sequence[Alt]
    entropy: float | None
    dist: str = DIST_RAW


@dataclass(eq=False)
class Prefix:
    """One row's state at a point: a batch-1 cache covering exactly ``length`` ids."""

    cache: Any
    length: int


class Rows:
    """Rows decoded in lockstep (all of one length), each with its current :class:`Step`."""

    def __init__(self, decoder: ForkDecoder, cache: Any, logits: torch.Tensor, length: int):
        self._decoder = decoder
        self._cache = cache
        self.length = length  # ids each row's cache covers
        self.steps: list[Step] = decoder._steps(logits)

    def __len__(self) -> int:
        return len(self.steps)

    def fork(self, row: int) -> Prefix:
        """Row ``row`` as it is now, to start children from later (views, no copy: a
        DynamicCache never writes into its tensors, each step concatenates new ones)."""
        cache = slice_cache(self._cache, row, self.length, self._decoder.config, copy=False)
        return Prefix(cache, self.length)

    def feed(self, ids: Sequence[int | None]) -> None:
        """Append ``ids[r]`` to row ``r`` and compute every row's next step in one forward
        pass; a row given None is finished and dropped (the rows after it move up)."""
        keep = [r for r, t in enumerate(ids) if t is not None]
        if not keep:
            self.steps = []
            return
        if len(keep) < len(ids):
            index = torch.tensor(keep, device=self._decoder.device)
            self._cache.batch_select_indices(index)
        tokens = torch.tensor([[ids[r]] for r in keep])
        out = self._decoder.backend._forward(tokens, self._cache)
        self._cache = self._decoder.backend._kv(out)
        self._decoder.forward_passes += 1
        self.length += 1
        self.steps = self._decoder._steps(out.logits[:, -1, :].float())


class ForkDecoder:
    """Greedy rows that fork, on a :class:`LocalBackend`. ``forward_passes`` counts the
    model calls made (a prefill, a batch of first tokens, a lockstep step: one each)."""

    def __init__(self, backend: Any, top_k: int) -> None:
        # ``backend`` is a LocalBackend (not imported here, not even for typing: local
        # imports this module, and the package has no import cycles).
        self.backend = backend
        self.top_k = top_k
        self.device = backend.device
        self.config = backend.model.config
        self.forward_passes = 0
        self.prompt_ids: list[int] = []

    def is_eos(self, token_id: int | None) -> bool:
        """Whether ``token_id`` ends the text (it is never put in a node)."""
        return token_id is not None and token_id in self.backend._eos_ids

    def _steps(self, logits: torch.Tensor) -> list[Step]:
        _, entropy, top_v, top_i = raw_numbers(logits, self.top_k)
        ents, tops = entropy.tolist(), self.backend._tops(top_v, top_i)
        return [Step(tops[r], ents[r]) for r in range(logits.shape[0])]

    def root(self, context: Context) -> Rows:
        """One row after ``context`` (its ids as :meth:`LocalBackend.context_ids` makes
        them; the longest stored prefix of them is reused, as a generation would)."""
        ids = self.backend.context_ids(context)
        self.prompt_ids = ids
        logits, cache, _ = self.backend._prefill(ids)
        self.forward_passes += 1
        return Rows(self, cache, logits, len(ids))

    def children(self, prefix: Prefix, first: Sequence[int]) -> Rows:
        """One row per id of ``first``, each the prefix followed by that id: the prefix's
        cache is repeated, not recomputed, and the first ids go through in one pass."""
        cache = prefix.cache
        if len(first) > 1:
            cache.batch_repeat_interleave(len(first))
        out = self.backend._forward(torch.tensor([[t] for t in first]), cache)
        self.forward_passes += 1
        return Rows(self, self.backend._kv(out), out.logits[:, -1, :].float(), prefix.length + 1)
