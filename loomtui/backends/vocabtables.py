"""A local engine's vocabulary tables and the tokens built from them (both local engines:
:mod:`.local` and :mod:`.llamacpp`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.tokens import DIST_RAW, Token, decode


class VocabTables:
    """Each id's bytes and text, and the ``(text, bytes, id)`` rows every packed top-k list
    points into; a decode step's tokens built from them."""

    _bytes: list[bytes]
    _texts: list[str]
    _rows: list[tuple[str, bytes, int]]

    def _set_vocab(self, table: list[bytes]) -> None:
        self._bytes = table
        self._texts = [decode(b) for b in table]
        #: (text, bytes, id) per token id: the table every top-k list here points into.
        self._rows = [
            (t, b, i) for i, (t, b) in enumerate(zip(self._texts, self._bytes, strict=True))
        ]

    def _token(
        self,
        tid: int,
        logprob: float | None,
        entropy: float | None,
        top: Sequence[Any],
        sampling_logprob: float | None = None,
    ) -> Token:
        """Token ``tid`` with the model's raw numbers (and the sampled one, when drawn)."""
        return Token(
            self._texts[tid], self._bytes[tid], tid, logprob, top, entropy, DIST_RAW,
            sampling_logprob,
        )  # fmt: skip
