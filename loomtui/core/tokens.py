"""Tokens: what a model emitted at one position, with the alternatives it weighed.

Tokens are keyed by token id and raw bytes, never by their display string: the same
partial UTF-8 byte reaches us as ``bytes:\\xe2``, ``\\xe2``, U+FFFD or an empty string
depending on the server. ``text`` is only for display; ``bytes`` is the truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

#: ``Token.dist`` values: which distribution the logprobs were taken from.
DIST_RAW = "raw"  # the model's own softmax, before temperature/top-p/top-k
DIST_SAMPLING = "sampling"  # the processed distribution the sampler drew from


class Alt(NamedTuple):
    """One alternative the model weighed at a position."""

    text: str
    bytes: bytes
    token_id: int | None
    logprob: float

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)


@dataclass(slots=True, eq=False)
class Token:
    """A token in a segment.

    ``logprob`` is None where nothing scored it (e.g. the first token of a text with no
    prefix). ``top`` holds the top-k alternatives, most likely first; the chosen token may or
    may not be among them. ``entropy`` is the exact full-vocabulary entropy in nats when the
    backend could compute it, else None (a top-k list only bounds it: see ``metrics``).
    """

    text: str
    bytes: bytes
    token_id: int | None = None
    logprob: float | None = None
    top: Sequence[Alt] = field(default_factory=tuple)
    entropy: float | None = None
    dist: str = DIST_RAW

    @property
    def prob(self) -> float | None:
        return None if self.logprob is None else math.exp(self.logprob)

    def rank(self) -> int | None:
        """1-based rank of this token among ``top`` (None if not in the list)."""
        for i, alt in enumerate(self.top):
            if self.token_id is not None and alt.token_id is not None:
                if alt.token_id == self.token_id:
                    return i + 1
            elif alt.bytes == self.bytes:
                return i + 1
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return (
            self.text == other.text
            and self.bytes == other.bytes
            and self.token_id == other.token_id
            and self.logprob == other.logprob
            and list(self.top) == list(other.top)
            and self.entropy == other.entropy
            and self.dist == other.dist
        )


def join_bytes(tokens: Iterable[Token]) -> bytes:
    """The raw bytes of a run of tokens."""
    return b"".join(t.bytes for t in tokens)


def decode(data: bytes) -> str:
    """Decode model bytes for text. Invalid or unfinished sequences become U+FFFD.

    Use :func:`loomtui.core.display.visible` for showing text to a person; this is for
    exported text, where the byte-exact form is the bytes themselves.
    """
    return data.decode("utf-8", errors="replace")
