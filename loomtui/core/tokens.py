"""Tokens: what a model emitted at one position, with the alternatives it weighed.

Tokens are keyed by token id and raw bytes, never by their display string: the same
partial UTF-8 byte reaches us as ``bytes:\\xe2``, ``\\xe2``, U+FFFD or an empty string
depending on the server. ``text`` is only for display; ``bytes`` is the truth.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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


#: The array typecode of unsigned 32-bit integers (token ids, vocabulary indices).
U32 = "I" if array("I").itemsize == 4 else "L"

#: One row of a vocabulary table: (text, raw bytes, token id or None).
VocabRow = tuple[str, bytes, "int | None"]


class PackedTop(Sequence[Alt]):
    """A top-k list kept packed: indices into a shared vocabulary table and their logprobs.

    Backends and the session loader hand these over instead of tuples of :class:`Alt`:
    a long session holds millions of alternatives, and building (then saving) one tuple per
    alternative costs seconds. ``vocab`` is a table of ``(text, bytes, token_id)`` rows
    (a local model's whole vocabulary, or a :class:`VocabTable`: an API backend's interned
    table, a loaded file's ``vocab``); ``ids`` and ``lps`` are arrays, of which
    ``[start:end]`` belongs to this list. The :class:`Alt` tuples are built on first use.
    ``lps`` may be float32 (``"f"``) where the model computed float32: the values are then
    exactly the model's.

    ``vocab``, ``ids``, ``lps``, ``start`` and ``end`` are public for readers that work on
    the packed form itself (the session writer copies them without building an Alt); they
    are read-only: nothing writes to them, or to the arrays or the table rows, after
    construction (copies share the object).
    """

    __slots__ = ("vocab", "ids", "lps", "start", "end", "_alts")

    def __init__(
        self,
        vocab: Sequence[VocabRow],
        ids: array,
        lps: array,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self.vocab = vocab
        self.ids = ids
        self.lps = lps
        self.start = start
        self.end = len(ids) if end is None else end
        self._alts: tuple[Alt, ...] | None = None

    def _build(self) -> tuple[Alt, ...]:
        vocab, ids, lps = self.vocab, self.ids, self.lps
        return tuple(Alt(*vocab[ids[i]], lps[i]) for i in range(self.start, self.end))

    def _materialise(self) -> tuple[Alt, ...]:
        if self._alts is None:
            self._alts = self._build()
        return self._alts

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, index):  # type: ignore[override]
        return self._materialise()[index]

    def __iter__(self) -> Iterator[Alt]:
        # Indexing keeps the tuples (a menu reads them again and again); a pass over the
        # list (the journal, an export) does not, so a long session stays packed.
        return iter(self._build() if self._alts is None else self._alts)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # Immutable in use (nothing writes to the arrays or the table rows): copies share it,
    # and a deep copy of a session does not copy a model's whole vocabulary table.
    def __copy__(self) -> PackedTop:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> PackedTop:
        return self

    def __repr__(self) -> str:
        return f"PackedTop({list(self)!r})"


class VocabTable(list):  # list[VocabRow]
    """The one interning table of vocabulary rows ``(text, bytes, token_id)``.

    The table is the list of its rows (a :class:`PackedTop` indexes it at C speed) plus an
    index from a row to its first position. Rows are only ever appended, so an index handed
    out stays valid. Its users:

    - an API backend (and a journal replay) interns alternatives as they arrive with
      :meth:`pack`, which is thread-safe (requests run on several threads);
    - the session loader keeps a file's ``vocab`` as a table with ``from_file`` set (rows in
      the file's order, duplicates and all): saving seeds its own table from it, so top-k lists
      still packed from that file are copied without remapping;
    - the session writer (``sessionwrite.VocabWriter``) interns rows in order of first use with
      :meth:`intern` and :meth:`lookup_many` (one thread, its own table).
    """

    __slots__ = ("from_file", "_index", "_lock")

    def __init__(self, rows: Iterable[VocabRow] = (), *, from_file: bool = False) -> None:
        super().__init__(rows)
        #: Whether the rows are a loaded session file's ``vocab`` table.
        self.from_file = from_file
        self._index: dict[VocabRow, int] | None = None  # built on the first look-up
        self._lock = threading.Lock()

    def _positions(self) -> dict[VocabRow, int]:
        index = self._index
        if index is None:
            index = {}
            for i, row in enumerate(self):
                index.setdefault(row, i)  # a file's duplicates: the first one
            self._index = index
        return index

    def intern(self, row: VocabRow) -> int:
        """The position of ``row``, appending it when it is new."""
        index = self._positions()
        idx = index.get(row)
        if idx is None:
            idx = index[row] = len(self)
            self.append(row)
        return idx

    def lookup_many(self, rows: Iterable[VocabRow]) -> list[int | None]:
        """The position of each row, None for rows not in the table (at C speed)."""
        return list(map(self._positions().get, rows))

    def pack(self, alts: Iterable[Alt]) -> PackedTop:
        """The alternatives as a packed list; logprobs are kept as float64 (exact)."""
        if type(alts) is PackedTop:
            return alts
        ids = array(U32)
        lps = array("d")
        with self._lock:
            index = self._positions()
            for alt in alts:
                key = (alt.text, alt.bytes, alt.token_id)
                idx = index.get(key)
                if idx is None:
                    idx = index[key] = len(self)
                    self.append(key)
                ids.append(idx)
                lps.append(alt.logprob)
        return PackedTop(self, ids, lps)

    def __repr__(self) -> str:
        return f"VocabTable({len(self)} rows{', from a file' if self.from_file else ''})"


@dataclass(slots=True, eq=False)
class Token:
    """A token in a segment.

    ``logprob`` is None where nothing scored it (e.g. the first token of a text with no
    prefix). ``top`` holds the top-k alternatives, most likely first; the chosen token may or
    may not be among them. ``entropy`` is the exact full-vocabulary entropy in nats when the
    backend could compute it, else None (a top-k list only bounds it: see ``metrics``).

    ``logprob``, ``top`` and ``entropy`` describe the distribution ``dist`` names (the raw one
    for a local model). ``sampling_logprob`` is the token's logprob under the distribution it
    was actually drawn from: after temperature, top-k and top-p, renormalised (a local model
    computes it as it samples; a server that reports post-sampling values, such as llama.cpp's
    ``post_sampling_probs``, gives it too). None where nobody knows it, and at temperature 0
    (greedy: no distribution was sampled).
    """

    text: str
    bytes: bytes
    token_id: int | None = None
    logprob: float | None = None
    top: Sequence[Alt] = field(default_factory=tuple)
    entropy: float | None = None
    dist: str = DIST_RAW
    sampling_logprob: float | None = None

    @property
    def prob(self) -> float | None:
        return None if self.logprob is None else math.exp(self.logprob)

    @property
    def sampling_prob(self) -> float | None:
        """The probability the sampler gave this token (see ``sampling_logprob``)."""
        lp = self.sampling_logprob
        return None if lp is None else math.exp(lp)

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
            and self.sampling_logprob == other.sampling_logprob
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


def packed_tops(table: Sequence[Any], ids: Any, lps: Any) -> list[PackedTop]:
    """Each row's top-k list from host arrays (numpy: ``ids`` integer, ``lps`` float32,
    shaped (rows, k)), packed as indexes into the vocabulary ``table``: the float32 values as
    given, bit for bit (both local engines build their lists here)."""
    import numpy as np  # core imports numpy only when it is used

    rows, k = ids.shape
    if k == 0:
        return [PackedTop(table, array(U32), array("f")) for _ in range(rows)]
    id_bytes = np.ascontiguousarray(ids, dtype=np.int32).tobytes()
    lp_bytes = np.ascontiguousarray(lps, dtype=np.float32).tobytes()
    step = 4 * k
    return [
        PackedTop(
            table,
            array(U32, id_bytes[r * step : (r + 1) * step]),
            array("f", lp_bytes[r * step : (r + 1) * step]),
        )
        for r in range(rows)
    ]
