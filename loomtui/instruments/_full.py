"""Access to full next-token distributions, where a backend can give them.

A backend that holds the whole vocabulary's log-probabilities (the local one) offers two
optional methods, found here by duck typing so the :class:`Backend` ABC stays small:

- ``full_logprobs(sequences, start) -> list[Tensor]``: for each token-id sequence, the
  log-softmax rows predicting positions ``start .. len(seq)`` (the last row is the
  distribution after the whole sequence); ``start >= 1``.
- ``vocab_bytes() -> list[bytes]``: the raw bytes of every token id.

Backends without them (an API that returns only top-k) get bounds instead of exact numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backends.base import Backend
from ._stats import digit_start

_MASKS: dict[int, Any] = {}


def has_full(backend: Backend) -> bool:
    """Whether ``backend`` can return whole-vocabulary distributions."""
    return callable(getattr(backend, "full_logprobs", None)) and callable(
        getattr(backend, "vocab_bytes", None)
    )


def full_logprobs(backend: Backend, sequences: Sequence[list[int]], start: int) -> list[Any]:
    """Rows of log-probabilities (torch tensors ``[len(seq) - start + 1, V]``)."""
    return backend.full_logprobs([list(s) for s in sequences], start)  # type: ignore[attr-defined]


def digit_mask(backend: Backend) -> Any:
    """A bool tensor over the vocabulary: which tokens start with a digit.

    Computed once per backend object (the vocabulary does not change under it).
    """
    import torch

    key = id(backend)
    mask = _MASKS.get(key)
    if mask is None:
        vocab = backend.vocab_bytes()  # type: ignore[attr-defined]
        mask = torch.tensor([digit_start(b) for b in vocab], dtype=torch.bool)
        _MASKS[key] = mask
    return mask
