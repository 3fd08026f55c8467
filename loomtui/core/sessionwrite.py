"""Encoding a session for its file: the vocab table, and each node's tokens as packed arrays.

Split from :mod:`sessionfile` (which owns the layout, writes atomically and loads, with
:mod:`sessionread` validating). This is the save path's hot part: 100,000 tokens with 20
alternatives each are 2M alternatives, so the work is vectorised with numpy (imported on the
first save). Top-k lists arrive packed (:class:`~loomtui.core.tokens.PackedTop`, from the
backends, the loader and journal replays): a node's lists are gathered as arrays and remapped
into the file's vocab in one step. Tuples of :class:`Alt` (imports, hand-built tokens) take a
general path. The output is what ``sessionread`` reads back, byte for byte idempotent.
"""

from __future__ import annotations

import base64
import math
from array import array
from collections.abc import Iterator, Sequence
from operator import attrgetter, itemgetter, sub
from typing import Any

from .sessionread import _FLOOR, _SCALE
from .tokens import DIST_RAW, Alt, PackedTop, Token, VocabRow, VocabTable
from .tree import Node, Session


class VocabWriter:
    """A session file's ``vocab`` as it is written: the rows are interned in order of first
    use by one :class:`VocabTable`; this adds, per row, what the file spells (``entries``)
    and what the fast paths compare at C speed (texts, bytes, first row of each token id)."""

    def __init__(self) -> None:
        self.table = VocabTable()
        self.entries: list[list[Any]] = []
        self.texts: list[str] = []  # per entry, for C-speed comparisons in add_alts
        self.datas: list[bytes] = []
        self.by_tid: dict[int, int] = {}
        self._remaps: dict[int, tuple[Sequence[Any], Any]] = {}  # src -> (src, index map)
        self._seeded_from: list[Any] | None = None

    def add(self, key: VocabRow) -> int:
        table = self.table
        new = len(table)
        idx = table.intern(key)
        if idx == new:
            text, data, tid = key
            self.texts.append(text)
            self.datas.append(data)
            if tid is not None:
                self.by_tid.setdefault(tid, idx)
            try:
                same = text.encode("utf-8") == data
            except UnicodeEncodeError:  # lone surrogates: bytes must be spelled out
                same = False
            self.entries.append([text, None if same else data.hex(), tid])
        return idx

    def add_many(self, keys: list[VocabRow]) -> list[int]:
        # The look-up keeps the common case (already interned) at C speed.
        out = self.table.lookup_many(keys)
        if None in out:
            for i, idx in enumerate(out):
                if idx is None:
                    out[i] = self.add(keys[i])
        return out  # type: ignore[return-value]

    def add_alts(self, alts: list[Alt]) -> tuple[Sequence[int], Sequence[float]]:
        """Vocab indices and logprobs for a run of alternatives.

        Fast path, all at C speed (2M alternatives are ~10M object visits): transpose once,
        look the token ids up, then check that text and bytes match what the table holds
        for them. Alternatives without ids, or with unusual text, take the general path.
        """
        texts, datas, tids, lps = zip(*alts, strict=True)
        if len(alts) > 1:
            try:
                idx = itemgetter(*tids)(self.by_tid)
            except KeyError:
                for text, data, tid in zip(texts, datas, tids, strict=True):
                    if tid is None:
                        break
                    if tid not in self.by_tid:
                        self.add((text, data, tid))
                else:
                    idx = itemgetter(*tids)(self.by_tid)
                    gather = itemgetter(*idx)
                    if texts == gather(self.texts) and datas == gather(self.datas):
                        return idx, lps
                return self.add_many(list(zip(texts, datas, tids, strict=True))), lps
            gather = itemgetter(*idx)
            if texts == gather(self.texts) and datas == gather(self.datas):
                return idx, lps
        return self.add_many(list(zip(texts, datas, tids, strict=True))), lps

    def seed(self, src: list[VocabRow]) -> None:
        """Start the table with a loaded file's vocab, in its order, so that top-k lists
        still packed from that file are copied without remapping each index. (Entries left
        unused by deleted nodes stay; there are at most as many as the model has tokens.)"""
        assert not self.entries
        for key in src:
            self.add(key)
        if len(self.entries) == len(src):  # no duplicates: indices line up one to one
            self._seeded_from = src

    def remap(self, src: Sequence[VocabRow], old: Any) -> Any:
        """Indices here (a numpy int64 array) for indices into another table ``src`` (a
        loaded file's vocab, or a backend's vocabulary table); ``old`` is an array.array or
        numpy array. Rows of ``src`` are interned the first time they are met."""
        np = _np()
        old = np.asarray(old)
        if src is self._seeded_from:
            return old  # the table starts with src's entries, in src's order
        entry = self._remaps.get(id(src))
        if entry is None or entry[0] is not src:
            entry = self._remaps[id(src)] = (src, np.full(len(src), -1, dtype=np.int64))
        table = entry[1]
        if len(table) < len(src):  # an interning table that grew since the last call
            table = np.concatenate([table, np.full(len(src) - len(table), -1, np.int64)])
            self._remaps[id(src)] = (src, table)
        out = table[old]
        missing = out < 0
        if missing.any():
            for i in np.unique(old[missing]).tolist():
                table[i] = self.add(src[i])
            out = table[old]
        return out


def _np() -> Any:
    """numpy, imported on the first save rather than with this module (CLI start-up)."""
    import numpy

    return numpy


_KEY = attrgetter("text", "bytes", "token_id")


def to_micro(x: float | None) -> int | None:
    """A logprob or entropy in the file's unit (micro-nats); idempotent through load."""
    if x is None:
        return None
    if -100_000.0 <= x <= 100_000.0:  # fast path; NaN fails both comparisons
        return round(x * 1_000_000.0)
    if not math.isfinite(x):
        x = _FLOOR if x != x or x < 0 else -_FLOOR
    return round(max(_FLOOR, min(-_FLOOR, x)) * _SCALE)


def _micros(values: list[float | None]) -> list[int | None]:
    """:func:`to_micro` of a list, vectorised in the common case (all finite, none None);
    ``numpy.rint`` rounds half to even, as ``round`` does, so the integers are the same."""
    if values and None not in values:
        np = _np()
        arr = np.asarray(values, dtype=np.float64)
        if np.isfinite(arr).all() and -100_000.0 <= arr.min() and arr.max() <= 100_000.0:
            return np.rint(arr * 1_000_000.0).astype(np.int64).tolist()
    return list(map(to_micro, values))


_TOP, _LOGPROB, _ENTROPY, _DIST, _SAMPLING = (
    attrgetter(name) for name in ("top", "logprob", "entropy", "dist", "sampling_logprob")
)
_P_VOCAB, _P_IDS, _P_LPS, _P_START, _P_END = (
    attrgetter(name) for name in ("vocab", "ids", "lps", "start", "end")
)
_TYPECODE = attrgetter("typecode")


_NP_CODES = {
    "H": "=u2",
    "I": f"=u{array('I').itemsize}",
    "L": f"=u{array('L').itemsize}",
    "f": "=f4",
    "d": "=f8",
}


def _as_np(values: Any) -> Any:
    """An array.array as a numpy array over the same memory (no copy)."""
    return _np().frombuffer(values, dtype=_NP_CODES[values.typecode])


def _packed_top_arrays(tops: list[Any], vocab: VocabWriter) -> tuple[Any, Any, list[int]] | None:
    """The common cases at C speed: every top-k list of a node is a :class:`PackedTop` on
    one vocabulary table, and they either sit back to back in the same arrays (a node loaded
    from a file) or each fill arrays of their own (a node a backend generated).

    Returns (file vocab indices, logprobs, k per token) as numpy arrays and a list, or None
    for other shapes (:func:`_gather_tops` takes those).
    """
    if len(set(map(type, tops))) != 1 or type(tops[0]) is not PackedTop:
        return None
    table = tops[0].vocab
    if len(set(map(id, map(_P_VOCAB, tops)))) != 1:
        return None
    np = _np()
    starts, ends = list(map(_P_START, tops)), list(map(_P_END, tops))
    k = list(map(sub, ends, starts))
    arrays, lp_arrays = list(map(_P_IDS, tops)), list(map(_P_LPS, tops))
    same = len(set(map(id, arrays))) == 1 and len(set(map(id, lp_arrays))) == 1
    if same and starts[1:] == ends[:-1]:  # one contiguous slice
        ids = _as_np(arrays[0])[starts[0] : ends[-1]]
        lps = _as_np(lp_arrays[0])[starts[0] : ends[-1]]
    elif (
        not same
        and not any(starts)
        and ends == list(map(len, arrays))
        and ends == list(map(len, lp_arrays))
        and len(codes := set(map(_TYPECODE, arrays))) == 1
        and len(lp_codes := set(map(_TYPECODE, lp_arrays))) == 1
    ):  # whole arrays, one per token
        ids = np.frombuffer(b"".join(arrays), dtype=_NP_CODES[codes.pop()])
        lps = np.frombuffer(b"".join(lp_arrays), dtype=_NP_CODES[lp_codes.pop()])
    else:
        return None
    return vocab.remap(table, ids), lps, k


def tokens_to_dict(tokens: Sequence[Token], vocab: VocabWriter) -> dict[str, Any]:
    tokens = list(tokens)  # one snapshot: a generation may be appending to the node
    v = vocab.add_many(list(map(_KEY, tokens)))
    lp = _micros(list(map(_LOGPROB, tokens)))
    ent = _micros(list(map(_ENTROPY, tokens)))
    dists = list(map(_DIST, tokens))
    tops = list(map(_TOP, tokens))
    fast = _packed_top_arrays(tops, vocab) if tops else None
    if fast is not None:
        tv_parts, tl_parts, k = [fast[0]], [fast[1]], fast[2]
    else:
        tv_parts, tl_parts, k = _gather_tops(tops, vocab)
    out: dict[str, Any] = {"v": v, "lp": lp}
    if any(k):
        np = _np()
        tv = np.concatenate(tv_parts)
        tl = np.concatenate(tl_parts).astype(np.float32)  # 7 digits; idempotent on reload
        if not (np.isfinite(tl).all() and tl.min() >= _FLOOR and tl.max() <= -_FLOOR):
            # Rare (a sampler's -inf, an imported file's oddity): what the loader accepts.
            tl = np.clip(
                np.nan_to_num(tl, nan=_FLOOR, posinf=-_FLOOR, neginf=_FLOOR), _FLOOR, -_FLOOR
            ).astype(np.float32)
        out["k"] = k
        # Vocab indices fit 16 bits in most files: a third smaller than 32.
        narrow = len(vocab.entries) <= 65536 or int(tv.max()) < 65536
        out["tv"] = _b64(tv.astype("<u2" if narrow else "<u4"))
        out["tw"] = 2 if narrow else 4
        out["tl"] = _b64(tl.astype("<f4"))
    if ent.count(None) != len(ent):
        out["ent"] = ent
    # Written only where some token has one, so a file from before the field (or a greedy
    # or scored run) saves byte for byte as it was.
    slp = list(map(_SAMPLING, tokens))
    if slp.count(None) != len(slp):
        out["slp"] = _micros(slp)
    kinds = set(dists)
    if kinds != {DIST_RAW} and dists:
        out["dist"] = dists[0] if len(kinds) == 1 else dists
    return out


def _b64(values: Any) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def _gather_tops(
    tops: list[Sequence[Alt]], vocab: VocabWriter
) -> tuple[list[Any], list[Any], list[int]]:
    """The general case of :func:`tokens_to_dict`: any mix of top-k list kinds, in order.

    Tuples of :class:`Alt` (imports, hand-built tokens) are interned in runs; packed lists on
    one table are gathered (a back-to-back run of them with one slice) and remapped at once.
    """
    np = _np()
    tv_parts: list[Any] = []
    tl_parts: list[Any] = []
    k: list[int] = []
    pending: list[Alt] = []
    table: Any = None  # the vocabulary table of the buffered packed lists
    buf_ids: list[Any] = []
    buf_lps: list[Any] = []
    run: list[Any] = []  # [ids, lps, start, end]: a contiguous slice not yet buffered

    def take_run() -> None:
        ids, lps, start, end = run
        buf_ids.append(_as_np(ids)[start:end])
        buf_lps.append(_as_np(lps)[start:end])
        run.clear()

    def flush() -> None:
        nonlocal table
        if pending:
            idx, lps = vocab.add_alts(pending)
            tv_parts.append(np.asarray(idx, dtype=np.int64))
            tl_parts.append(np.asarray(lps, dtype=np.float64))
            pending.clear()
        if run:
            take_run()
        if buf_ids:
            ids = np.concatenate([b.astype(np.int64) for b in buf_ids])
            tv_parts.append(vocab.remap(table, ids))
            tl_parts.append(np.concatenate([b.astype(np.float64) for b in buf_lps]))
            buf_ids.clear()
            buf_lps.clear()
        table = None

    for top in tops:
        if type(top) is PackedTop:
            start = top.start
            k.append(top.end - start)
            if top.vocab is not table:
                flush()
                table = top.vocab
            elif run:
                if run[0] is top.ids and run[3] == start:
                    run[3] = top.end
                    continue
                take_run()
            run[:] = [top.ids, top.lps, start, top.end]
        else:
            k.append(len(top))
            if top:
                if table is not None:
                    flush()
                pending.extend(top)
    flush()
    return tv_parts, tl_parts, k


def node_to_dict(node: Node, vocab: VocabWriter) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": node.id,
        "parent": node.parent,
        "children": list(node.children),
        "origin": node.origin,
    }
    if node.tokens is not None:
        d["tokens"] = tokens_to_dict(node.tokens, vocab)
    else:
        d["plain"] = node.plain
    d["created"] = node.created
    # Defaults are left out: smaller files, and every field stays optional on load.
    if node.modified is not None:
        d["modified"] = node.modified
    if node.settings is not None:
        d["settings"] = node.settings
    if node.model is not None:
        d["model"] = node.model
    if node.backend is not None:
        d["backend"] = node.backend
    if node.bookmark:
        d["bookmark"] = True
    if node.label is not None:
        d["label"] = node.label
    if node.visited:
        d["visited"] = True
    if node.finish_reason is not None:
        d["finish_reason"] = node.finish_reason
    if node.error is not None:
        d["error"] = node.error
    if node.meta:
        d["meta"] = node.meta
    if node.role is not None:
        d["role"] = node.role
    if node.hidden:
        d["hidden"] = True
    if node.count != 1:
        d["count"] = node.count
    if node.checked is not None:
        d["checked"] = node.checked
    if node.rating is not None:
        d["rating"] = node.rating
    return d


def preorder(session: Session) -> Iterator[Node]:
    """Every node, depth-first from the root (iterative; cycles are not followed twice)."""
    seen: set[str] = set()
    stack = [session.root_id]
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in session.nodes:
            continue
        seen.add(nid)
        node = session.nodes[nid]
        yield node
        stack.extend(reversed(node.children))


def first_loaded_vocab(session: Session) -> list[Any] | None:
    """The vocab table of the file the session's top-k lists were loaded from, if any.

    A node's tokens come from one place (a file, a backend), so each node's first top-k
    list is enough to look at."""
    for node in preorder(session):
        for tok in node.tokens or ():
            top = tok.top
            if top:
                table = top.vocab if type(top) is PackedTop else None
                if type(table) is VocabTable and table.from_file:
                    return table
                break
    return None
