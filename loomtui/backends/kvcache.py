"""Keep the KV state of recent contexts so regenerating inside a long branch is cheap.

Regenerating at token 900 of a 1,000-token branch should not re-read 900 tokens: the cache
of the branch already holds them. :class:`PrefixCache` keeps batch-1 KV caches keyed by the
token ids they cover, most recently used first, within a memory budget. A lookup returns a
private copy of the longest stored prefix of the asked ids, cut to that prefix, so the caller
may extend it freely (the stored entry is never mutated).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

DEFAULT_BUDGET_BYTES = 1 << 30  # 1 GiB: ~20k tokens of SmolLM2-135M (46 KB per token)


def cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer, each shaped (batch, heads, seq, dim)."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def can_slice(cache: Any) -> bool:
    """Whether this cache is a plain full-attention cache we may cut and copy."""
    layers = getattr(cache, "layers", None)
    if not layers:
        return False
    return all(
        not getattr(layer, "is_sliding", False)
        and getattr(layer, "keys", None) is not None
        and layer.keys.dim() == 4
        for layer in layers
    )


def slice_cache(
    cache: Any, row: int, length: int, config: Any = None, copy: bool = True
) -> DynamicCache:
    """A new batch-1 cache holding the first ``length`` positions of ``row``.

    With ``copy=False`` the new cache holds views of the old tensors: safe, because a
    DynamicCache never writes into its tensors (each step concatenates into new ones), and
    it saves copying the whole prefix once more before the first step.
    """
    data = [
        (k[row : row + 1, :, :length], v[row : row + 1, :, :length]) for k, v in cache_layers(cache)
    ]
    if copy:
        data = [(k.clone(), v.clone()) for k, v in data]
    new = DynamicCache(config=config)
    if len(new.layers) != len(data):
        return DynamicCache(data)  # unusual layouts: let transformers build it (copies)
    for layer, (k, v) in zip(new.layers, data, strict=True):
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k, v
    return new


def expand_cache(cache: Any, batch: int, config: Any = None) -> DynamicCache:
    """A new cache of ``batch`` rows, each row the batch-1 ``cache``'s, as broadcast views:
    safe, because a DynamicCache concatenates each step into new tensors and never writes
    through them, and ``cache`` stays whole for the next batch (``batch_repeat_interleave``
    would change it in place). Many continuations of one prefix run as a batch on it, the
    prefix read once (a probe's answers)."""
    data = [
        (k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in cache_layers(cache)
    ]
    new = DynamicCache(config=config)
    if len(new.layers) != len(data):
        return DynamicCache([(k.contiguous(), v.contiguous()) for k, v in data])
    for layer, (k, v) in zip(new.layers, data, strict=True):
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k, v
    return new


def cache_nbytes(cache: Any) -> int:
    return sum(k.numel() * k.element_size() * 2 for k, _ in cache_layers(cache))


@dataclass
class _Entry:
    ids: tuple[int, ...]
    cache: DynamicCache
    nbytes: int


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    i = 0
    # Compare in blocks first: contexts are long and usually share most of their length.
    step = 64
    while i + step <= n and tuple(a[i : i + step]) == tuple(b[i : i + step]):
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """An LRU of batch-1 KV caches keyed by the token ids they cover."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES, config: Any = None) -> None:
        self.budget_bytes = budget_bytes
        self.config = config
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._next_key = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def lookup(self, ids: Sequence[int], max_len: int) -> tuple[DynamicCache | None, int]:
        """The longest stored prefix of ``ids`` (at most ``max_len`` tokens) as a fresh copy.

        Returns ``(cache, covered)``; ``(None, 0)`` when nothing useful is stored.
        """
        with self._lock:
            best_key, best_len = None, 0
            for key, entry in self._entries.items():
                n = min(common_prefix(entry.ids, ids), max_len)
                if n > best_len:
                    best_key, best_len = key, n
            if best_key is None:
                self.misses += 1
                return None, 0
            entry = self._entries[best_key]
            self._entries.move_to_end(best_key)
            self.hits += 1
            return slice_cache(entry.cache, 0, best_len, self.config, copy=False), best_len

    def store(self, ids: Sequence[int], cache: Any, row: int = 0) -> None:
        """Keep a copy of ``row`` of ``cache``, which covers exactly ``ids`` (then maybe more,
        which is cut off). Entries that are prefixes of the new one are dropped."""
        ids = tuple(ids)
        if not ids or self.budget_bytes <= 0 or not can_slice(cache):
            return
        copy = slice_cache(cache, row, len(ids), self.config)
        nbytes = cache_nbytes(copy)
        if nbytes > self.budget_bytes:
            return
        with self._lock:
            for key in [k for k, e in self._entries.items() if ids[: len(e.ids)] == e.ids]:
                del self._entries[key]
            for e in self._entries.values():
                if e.ids[: len(ids)] == ids:
                    return  # a longer stored branch already covers this one
            self._entries[self._next_key] = _Entry(ids, copy, nbytes)
            self._next_key += 1
            total = sum(e.nbytes for e in self._entries.values())
            while total > self.budget_bytes and self._entries:
                _, old = self._entries.popitem(last=False)
                total -= old.nbytes
