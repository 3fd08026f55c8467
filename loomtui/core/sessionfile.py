"""The session file: versioned, compact JSON, written atomically and read with validation.

Layout (schema version 1; ``session.schema.json`` next to this module documents it)::

    {"format": "loomtui-session", "schema_version": 1, "root": ID, "current": ID,
     "meta": {...},
     "vocab": [[text, bytes_hex_or_null, token_id_or_null], ...],
     "nodes": [{"id": ..., "parent": ..., "children": [...], "origin": ..., ...}, ...]}

Tokens and their alternatives point into ``vocab`` (each distinct (text, bytes, id) triple is
stored once). A token's logprob and entropy are integer micro-nats; the top-k alternatives of a
node are two packed base64 arrays (vocab indices, float32 logprobs), so 100,000 tokens with 20
alternatives each take ~18 MB and save in ~0.5 s, load in ~0.35 s on 2 cores. Both roundings are
idempotent: loading then saving writes the same bytes.

Saving is vectorised (numpy, imported on the first save): top-k lists arrive packed
(:class:`~loomtui.core.tokens.PackedTop` from the backends, the loader and journal replays),
so a node's lists are gathered as arrays and remapped into the file's vocab in one step;
tuples of :class:`Alt` (imports, hand-built tokens) take a general path. Nodes are written depth-first, one per line, so a
session file diffs sensibly. :mod:`sessionread` holds the validating reader.

Any problem with a file raises :class:`SessionFileError` with one line naming the file and
the problem; the file is never modified by loading.
"""

from __future__ import annotations

import base64
import gc
import json
import math
import os
import sys
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter, itemgetter, sub
from pathlib import Path
from typing import Any

from .errors import SessionFileError
from .sessionread import (  # noqa: F401 - LazyTop, check_tree, pack/unpack are public here too
    _FLOOR,
    _SCALE,
    _U32,
    FileVocab,
    LazyTop,
    _build_session,
    _fail,
    _one_line,
    check_tree,
    pack,
    unpack,
)
from .tokens import DIST_RAW, Alt, PackedTop, Token
from .tree import Node, Session

FORMAT = "loomtui-session"
SCHEMA_VERSION = 1
#: A file larger than this is refused before reading it (override with LOOMTUI_MAX_SESSION_MB).
MAX_FILE_BYTES = 1 << 30
TAPESTRY_MAGIC = b"VersionedTapestryWeave__"

#: version -> function turning a file dict of that version into one of version + 1.
#: Add an entry (and bump SCHEMA_VERSION) whenever the layout changes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# --------------------------------------------------------------------------- helpers
@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of small objects: it would otherwise
    rescan the whole (acyclic) token heap again and again, tripling save/load times."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- to dict
class _Vocab:
    """Interns (text, bytes, token_id) triples in order of first use."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, bytes, int | None], int] = {}
        self.entries: list[list[Any]] = []
        self.texts: list[str] = []  # per entry, for C-speed comparisons in add_alts
        self.datas: list[bytes] = []
        self.by_tid: dict[int, int] = {}
        # id(loaded vocab list) -> (that list, its entries' indices here, None = not yet)
        self._remaps: dict[int, tuple[Sequence[Any], Any]] = {}  # src -> (src, index map)
        self._seeded_from: list[Any] | None = None

    def add(self, key: tuple[str, bytes, int | None]) -> int:
        idx = self.index.get(key)
        if idx is None:
            idx = self.index[key] = len(self.entries)
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

    def add_many(self, keys: list[tuple[str, bytes, int | None]]) -> list[int]:
        # map() keeps the common case (already interned) at C speed.
        out = list(map(self.index.get, keys))
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

    def seed(self, src: list[tuple[str, bytes, int | None]]) -> None:
        """Start the table with a loaded file's vocab, in its order, so that top-k lists
        still packed from that file are copied without remapping each index. (Entries left
        unused by deleted nodes stay; there are at most as many as the model has tokens.)"""
        assert not self.entries
        for key in src:
            self.add(key)
        if len(self.entries) == len(src):  # no duplicates: indices line up one to one
            self._seeded_from = src

    def remap(self, src: Sequence[tuple[str, bytes, int | None]], old: Any) -> Any:
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
    """numpy, imported on first save (the save path is vectorised with it)."""
    import numpy

    return numpy


_KEY = attrgetter("text", "bytes", "token_id")
_IG0, _IG1, _IG2, _IG3 = (itemgetter(i) for i in range(4))


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


_TOP, _LOGPROB, _ENTROPY, _DIST = (
    attrgetter(name) for name in ("top", "logprob", "entropy", "dist")
)
_P_VOCAB, _P_IDS, _P_LPS, _P_START, _P_END = (
    attrgetter(name) for name in ("_vocab", "_ids", "_lps", "_start", "_end")
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
    """An array.array (or bytes of one, with its typecode) as a numpy array, no copy."""
    return _np().frombuffer(values, dtype=_NP_CODES[values.typecode])


def _packed_top_arrays(tops: list[Any], vocab: _Vocab) -> tuple[Any, Any, list[int]] | None:
    """The common cases at C speed: every top-k list of a node is a :class:`PackedTop` on
    one vocabulary table, and they either sit back to back in the same arrays (a node loaded
    from a file) or each fill arrays of their own (a node a backend generated).

    Returns (file vocab indices, logprobs, k per token) as numpy arrays and a list, or None
    for other shapes (:func:`_gather_tops` takes those).
    """
    if len(set(map(type, tops))) != 1 or type(tops[0]) is not PackedTop:
        return None
    table = tops[0]._vocab
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


def _tokens_to_dict(tokens: Sequence[Token], vocab: _Vocab) -> dict[str, Any]:
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
    kinds = set(dists)
    if kinds != {DIST_RAW} and dists:
        out["dist"] = dists[0] if len(kinds) == 1 else dists
    return out


def _b64(values: Any) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def _gather_tops(
    tops: list[Sequence[Alt]], vocab: _Vocab
) -> tuple[list[Any], list[Any], list[int]]:
    """The general case of :func:`_tokens_to_dict`: any mix of top-k list kinds, in order.

    Tuples of :class:`Alt` (imports, journals, tests) are interned in runs; packed lists on
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
            start = top._start
            k.append(top._end - start)
            if top._vocab is not table:
                flush()
                table = top._vocab
            elif run:
                if run[0] is top._ids and run[3] == start:
                    run[3] = top._end
                    continue
                take_run()
            run[:] = [top._ids, top._lps, start, top._end]
        else:
            k.append(len(top))
            if top:
                if table is not None:
                    flush()
                pending.extend(top)
    flush()
    return tv_parts, tl_parts, k


def _node_to_dict(node: Node, vocab: _Vocab) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": node.id,
        "parent": node.parent,
        "children": list(node.children),
        "origin": node.origin,
    }
    if node.tokens is not None:
        d["tokens"] = _tokens_to_dict(node.tokens, vocab)
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
    return d


def _preorder(session: Session) -> Iterator[Node]:
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


def _first_loaded_vocab(session: Session) -> list[Any] | None:
    """The vocab table of the file the session's top-k lists were loaded from, if any.

    A node's tokens come from one place (a file, a backend), so each node's first top-k
    list is enough to look at."""
    for node in _preorder(session):
        for tok in node.tokens or ():
            top = tok.top
            if top:
                if type(top) is PackedTop and type(top._vocab) is FileVocab:
                    return top._vocab
                break
    return None


def session_to_dict(session: Session) -> dict[str, Any]:
    """The session as the JSON-ready dict that :func:`dumps_session` writes."""
    vocab = _Vocab()
    with _gc_paused():
        loaded = _first_loaded_vocab(session)
        if loaded is not None:
            vocab.seed(loaded)
        nodes = [_node_to_dict(n, vocab) for n in _preorder(session)]
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "root": session.root_id,
        "current": session.current_id,
        "meta": session.meta,
        "vocab": vocab.entries,
        "nodes": nodes,
    }


def _dump(value: Any) -> str:
    # ASCII only: lone surrogates and odd characters survive as \u escapes, byte-exact.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def dumps_dict(data: dict[str, Any]) -> bytes:
    """Serialise a session dict: header fields, then vocab and one node per line."""
    head = {k: v for k, v in data.items() if k not in ("vocab", "nodes")}
    parts = [_dump(head)[:-1]]
    parts.append(',\n"vocab":' + _dump(data["vocab"]))
    parts.append(',\n"nodes":[\n')
    parts.append(",\n".join(_dump(n) for n in data["nodes"]))
    parts.append("\n]}\n")
    return "".join(parts).encode("ascii")


def dumps_session(session: Session) -> bytes:
    """The exact bytes :func:`save_session` writes."""
    try:
        return dumps_dict(session_to_dict(session))
    except (ValueError, TypeError, RecursionError) as exc:
        # e.g. NaN in meta, or a non-JSON object in settings: refuse to write a bad file.
        raise SessionFileError(_one_line(f"cannot save session: {exc}")) from None


def save_session(session: Session, path: str | os.PathLike[str]) -> None:
    """Write ``session`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is fsynced and renamed over
    ``path``; the directory is then fsynced. A crash leaves either the old file or the new
    one, never half of one.
    """
    target = Path(path)
    data = dumps_session(session)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # keep the permissions of the file being replaced
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------- loading
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


#: JSON nesting a file may have (a loom tree nests twice per level: 25,000 levels deep).
MAX_DEPTH = 50_000


def _loads_deep(text: str) -> Any:
    """``json.loads`` on a thread with a 512 MiB stack and the recursion limit at MAX_DEPTH.

    The C parser recurses once per nesting level; the limit is what keeps it from running off
    its stack, so the stack is sized for MAX_DEPTH levels with a wide margin.
    """
    result: list[Any] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(json.loads(text, parse_constant=_reject_constant))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            error.append(exc)

    old_limit = sys.getrecursionlimit()
    old_stack = threading.stack_size()
    with _DEEP_LOCK:
        try:
            threading.stack_size(512 << 20)
            sys.setrecursionlimit(max(old_limit, MAX_DEPTH))
            thread = threading.Thread(target=work, name="loomtui-deep-json")
            thread.start()
            thread.join()
        finally:
            sys.setrecursionlimit(old_limit)
            threading.stack_size(old_stack)
    if error:
        raise error[0]
    return result[0]


_DEEP_LOCK = threading.Lock()


def parse_json(raw: bytes, source: str) -> Any:
    """Strict JSON from bytes: UTF-8 only, no NaN/Infinity; one-line errors."""
    if not raw.strip():
        raise _fail(source, "empty file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            # A loom tree a few hundred levels deep nests past the default limit: parse it
            # again on a thread with a big stack and a raised limit (bounded by MAX_DEPTH).
            return _loads_deep(text)
    except json.JSONDecodeError as exc:
        # "Unterminated string" means a string ran to the end of the file.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise _fail(
                source, f"truncated JSON (ends unexpectedly at line {exc.lineno})"
            ) from None
        raise _fail(
            source, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise _fail(source, "JSON nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with thousands of digits
        raise _fail(source, f"bad number in JSON ({str(exc).split(':')[0]})") from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a file for loading, refusing missing, special and oversized files."""
    source = os.fspath(path)
    limit = MAX_FILE_BYTES
    env = os.environ.get("LOOMTUI_MAX_SESSION_MB")
    if env and env.isdigit():
        limit = int(env) << 20
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise _fail(source, "no such file") from None
    except OSError as exc:
        raise _fail(source, f"cannot read ({exc.strerror})") from None
    if os.path.isdir(source):
        raise _fail(source, "is a directory, not a session file")
    if st.st_size > limit:
        raise _fail(source, f"too large ({st.st_size >> 20} MiB; limit {limit >> 20} MiB)")
    try:
        with open(source, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise _fail(source, f"cannot read ({exc.strerror})") from None


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read a session file, or import another loom's file (auto-detected).

    loomtui files are recognised by ``"format": "loomtui-session"``; socketteer/loom trees,
    logitloom and Obsidian Loom files are imported; Tapestry-Loom's binary weaves are refused
    with a clear message. Every problem raises :class:`SessionFileError` (one line).
    """
    source = os.fspath(path)
    raw = read_bytes(source)
    return loads_session(raw, source)


def loads_session(raw: bytes, source: str = "<session>") -> Session:
    """:func:`load_session` on bytes already read (``source`` names them in errors)."""
    if raw.startswith(TAPESTRY_MAGIC):
        raise _fail(
            source,
            "a Tapestry-Loom weave (binary rkyv archive); loomtui cannot read it "
            "- export the text from Tapestry-Loom instead",
        )
    with _gc_paused():
        data = parse_json(raw, source)
    if isinstance(data, dict) and "format" in data:
        if data.get("format") != FORMAT:
            raise _fail(source, f"unknown format {str(data.get('format'))[:40]!r}")
        return session_from_dict(data, source=source)
    from .importers import import_foreign

    try:
        session = import_foreign(data, source)
    except SessionFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - another tool's odd file: one line, no traceback
        raise _fail(source, f"cannot import ({type(exc).__name__}: {exc})"[:200]) from None
    if session is None:
        raise _fail(source, f"not a loomtui session or a known loom file ({_shape(data)})")
    return session


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        keys = ", ".join(sorted(str(k)[:20] for k in data)[:5])
        return f"a JSON object with keys: {keys}" if keys else "an empty JSON object"
    if isinstance(data, list):
        return f"a JSON array of {len(data)} items"
    return f"a JSON {type(data).__name__}"


def session_from_dict(data: Any, source: str = "<session>") -> Session:
    """Validate a session dict (migrating older versions) and build the Session."""
    if not isinstance(data, dict):
        raise _fail(source, f"not a loomtui session ({_shape(data)})")
    version = data.get("schema_version")
    if type(version) is not int:
        raise _fail(source, "schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise _fail(
            source,
            f"written by a newer loomtui (schema_version {version}; this one reads up to "
            f"{SCHEMA_VERSION}) - upgrade loomtui to open it",
        )
    if version < 1:
        raise _fail(source, f"schema_version {version} is not valid")
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise _fail(source, f"no migration from schema_version {version}")
        try:
            data = migrate(dict(data))
        except Exception as exc:  # a migration meeting a malformed old file
            raise _fail(source, f"cannot migrate from schema_version {version}: {exc}") from None
        version += 1
        data["schema_version"] = version
    try:
        with _gc_paused():
            return _build_session(data, source)
    except SessionFileError:
        raise
    except RecursionError:
        raise _fail(source, "nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - last guard: one line, never a traceback
        raise _fail(source, f"malformed session ({type(exc).__name__}: {exc})"[:200]) from None
