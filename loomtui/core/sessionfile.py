"""The session file: versioned, compact JSON, written atomically and read with validation.

Layout (schema version 1; ``session.schema.json`` next to this module documents it)::

    {"format": "loomtui-session", "schema_version": 1, "root": ID, "current": ID,
     "meta": {...},
     "vocab": [[text, bytes_hex_or_null, token_id_or_null], ...],
     "nodes": [{"id": ..., "parent": ..., "children": [...], "origin": ..., ...}, ...]}

Tokens and their alternatives point into ``vocab`` (each distinct (text, bytes, id) triple is
stored once), so 100,000 tokens with 20 alternatives each stay a few tens of MB and save/load
in about a second. Logprobs and entropies are rounded to 7 significant digits, which is
idempotent: loading then saving writes the same bytes. Nodes are written in depth-first order,
one per line, so a session file diffs sensibly.

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
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from .errors import SessionFileError
from .tokens import DIST_RAW, DIST_SAMPLING, Alt, Token
from .tree import ORIGINS, Node, Session

FORMAT = "loomtui-session"
SCHEMA_VERSION = 1
#: A file larger than this is refused before reading it (override with LOOMTUI_MAX_SESSION_MB).
MAX_FILE_BYTES = 1 << 30
TAPESTRY_MAGIC = b"VersionedTapestryWeave__"

#: version -> function turning a file dict of that version into one of version + 1.
#: Add an entry (and bump SCHEMA_VERSION) whenever the layout changes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_DISTS = (DIST_RAW, DIST_SAMPLING)
_NUM_LIMIT = 10**12  # micro-nats: logprobs/entropies beyond a million nats are corrupt
_TIME_LIMIT = 1e11  # seconds since 1970: year ~5000


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


def _one_line(text: str) -> str:
    """Error text safe to print as one line (file names may hold newlines or escapes)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _fail(source: str, problem: str) -> SessionFileError:
    return SessionFileError(_one_line(f"{source}: {problem}"))


class LazyTop(Sequence[Alt]):
    """A token's top-k list, materialised into :class:`Alt` tuples on first use.

    Loading a big session would otherwise build millions of tuples nobody looks at.
    """

    __slots__ = ("_vocab", "_ids", "_lps", "_start", "_end", "_alts")

    def __init__(
        self,
        vocab: list[tuple[str, bytes, int | None]],
        ids: list[int],
        lps: list[float],
        start: int,
        end: int,
    ) -> None:
        self._vocab = vocab
        self._ids = ids
        self._lps = lps
        self._start = start
        self._end = end
        self._alts: tuple[Alt, ...] | None = None

    def _materialise(self) -> tuple[Alt, ...]:
        if self._alts is None:
            vocab, lps = self._vocab, self._lps
            self._alts = tuple(
                Alt(*vocab[self._ids[i]], lps[i]) for i in range(self._start, self._end)
            )
        return self._alts

    def __len__(self) -> int:
        return self._end - self._start

    def __getitem__(self, index):  # type: ignore[override]
        return self._materialise()[index]

    def __iter__(self) -> Iterator[Alt]:
        return iter(self._materialise())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"LazyTop({list(self)!r})"


# --------------------------------------------------------------------------- to dict
class _Vocab:
    """Interns (text, bytes, token_id) triples in order of first use."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, bytes, int | None], int] = {}
        self.entries: list[list[Any]] = []
        self.keys: list[tuple[str, bytes, int | None]] = []
        self.by_tid: dict[int, int] = {}
        # id(loaded vocab list) -> (that list, its entries' indices here, None = not yet)
        self._remaps: dict[int, tuple[list[Any], list[int | None]]] = {}

    def add(self, key: tuple[str, bytes, int | None]) -> int:
        idx = self.index.get(key)
        if idx is None:
            idx = self.index[key] = len(self.entries)
            self.keys.append(key)
            text, data, tid = key
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

    def add_alts(self, alts: list[Alt]) -> list[int]:
        """Vocab indices for a run of alternatives.

        Fast path, all at C speed: look the token ids up, then check that text and bytes
        match what the table holds for them. Anything else takes the general path.
        """
        tids = list(map(_IG2, alts))
        idx = list(map(self.by_tid.get, tids))
        if None not in idx:
            entries = [self.keys[i] for i in idx]  # type: ignore[index]
            if list(map(_IG0, alts)) == list(map(_IG0, entries)) and list(map(_IG1, alts)) == list(
                map(_IG1, entries)
            ):
                return idx  # type: ignore[return-value]
        return self.add_many(list(map(_IG012, alts)))

    def remap(self, src: list[tuple[str, bytes, int | None]], old: list[int]) -> list[int]:
        """Indices here for indices into a loaded file's vocab table."""
        entry = self._remaps.get(id(src))
        if entry is None or entry[0] is not src:
            entry = self._remaps[id(src)] = (src, [None] * len(src))
        table = entry[1]
        out = list(map(table.__getitem__, old))
        if None in out:
            for i, idx in enumerate(out):
                if idx is None:
                    out[i] = table[old[i]] = self.add(src[old[i]])
        return out  # type: ignore[return-value]


_KEY = attrgetter("text", "bytes", "token_id")
_IG0, _IG1, _IG2, _IG3 = (itemgetter(i) for i in range(4))
_IG012 = itemgetter(0, 1, 2)
_SCALE = 1_000_000.0  # token logprobs and entropies are stored as integer micro-nats
_FLOOR = -100_000.0  # -inf (a token the sampler could not pick) is stored as this
_BIG_ENDIAN = sys.byteorder == "big"
_U32 = "I" if array("I").itemsize == 4 else "L"


def to_micro(x: float | None) -> int | None:
    """A logprob or entropy in the file's unit (micro-nats); idempotent through load."""
    if x is None:
        return None
    if not math.isfinite(x):
        x = _FLOOR if x != x or x < 0 else -_FLOOR
    return round(max(_FLOOR, min(-_FLOOR, x)) * _SCALE)


def pack(values: array) -> str:
    """An array as base64 of its little-endian bytes."""
    if _BIG_ENDIAN:
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack(text: str, typecode: str) -> array:
    """The inverse of :func:`pack` (raises ValueError on bad base64 or length)."""
    values = array(typecode)
    values.frombytes(base64.b64decode(text.encode("ascii"), validate=True))
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def _tokens_to_dict(tokens: Sequence[Token], vocab: _Vocab) -> dict[str, Any]:
    v = vocab.add_many(list(map(_KEY, tokens)))
    lp = [to_micro(t.logprob) for t in tokens]
    ent = [to_micro(t.entropy) for t in tokens]
    dists = [t.dist for t in tokens]
    k = [len(t.top) for t in tokens]
    tv = array(_U32)
    tl = array("f")  # float32: 7 significant digits, and idempotent through a reload
    pending: list[Alt] = []

    def flush() -> None:
        if pending:
            tv.extend(vocab.add_alts(pending))
            tl.extend(map(_IG3, pending))
            pending.clear()

    for t in tokens:
        top = t.top
        if type(top) is LazyTop and top._alts is None:
            # Straight from a loaded file: copy the stored numbers, remap vocab indices.
            flush()
            tv.extend(vocab.remap(top._vocab, top._ids[top._start : top._end]))
            tl.extend(top._lps[top._start : top._end])
        elif top:
            pending.extend(top)
    flush()
    out: dict[str, Any] = {"v": v, "lp": lp}
    if any(k):
        total = sum(tl)
        if not math.isfinite(total) or min(tl) < _FLOOR:  # rare: -inf/NaN from a sampler
            tl = array("f", (to_micro(x) / _SCALE for x in tl))  # type: ignore[operator]
        out["k"] = k
        # Vocab indices fit 16 bits in most files: a third smaller than 32.
        out["tv"] = pack(array("H", tv)) if max(tv) < 65536 else pack(tv)
        out["tw"] = 2 if max(tv) < 65536 else 4
        out["tl"] = pack(tl)
    if any(e is not None for e in ent):
        out["ent"] = ent
    kinds = set(dists)
    if kinds != {DIST_RAW} and dists:
        out["dist"] = dists[0] if len(kinds) == 1 else dists
    return out


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


def session_to_dict(session: Session) -> dict[str, Any]:
    """The session as the JSON-ready dict that :func:`dumps_session` writes."""
    vocab = _Vocab()
    with _gc_paused():
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
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
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

    session = import_foreign(data, source)
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


# --------------------------------------------------------------------------- validation
_NONE = type(None)


def _check_numbers(values: Any, source: str, what: str, *, allow_none: bool = False) -> None:
    """A list of integers (micro-nats) in the sane range: C-speed checks, lists are long."""
    if not isinstance(values, list):
        raise _fail(source, f"{what} is not a list")
    kinds = set(map(type, values))
    allowed = {int, _NONE} if allow_none else {int}
    if not kinds <= allowed:
        raise _fail(source, f"{what} holds something that is not an integer")
    nums = [x for x in values if x is not None] if _NONE in kinds else values
    if nums and (min(nums) < -_NUM_LIMIT or max(nums) > _NUM_LIMIT):
        raise _fail(source, f"{what} holds an absurdly large number")


def _check_indices(values: Any, size: int, source: str, what: str) -> None:
    if not isinstance(values, list) or not set(map(type, values)) <= {int}:
        raise _fail(source, f"{what} must be a list of integers")
    if values and (min(values) < 0 or max(values) >= size):
        raise _fail(source, f"{what} points outside the vocab table")


def _build_vocab(data: Any, source: str) -> list[tuple[str, bytes, int | None]]:
    if not isinstance(data, list):
        raise _fail(source, "vocab is not a list")
    out: list[tuple[str, bytes, int | None]] = []
    for i, entry in enumerate(data):
        if not isinstance(entry, list) or len(entry) != 3:
            raise _fail(source, f"vocab entry {i} is not [text, bytes_hex, token_id]")
        text, hexed, tid = entry
        if not isinstance(text, str):
            raise _fail(source, f"vocab entry {i}: text is not a string")
        if hexed is None:
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:
                raise _fail(
                    source, f"vocab entry {i}: text has lone surrogates but no bytes"
                ) from None
        elif isinstance(hexed, str):
            try:
                raw = bytes.fromhex(hexed)
            except ValueError:
                raise _fail(source, f"vocab entry {i}: bytes are not hex") from None
        else:
            raise _fail(source, f"vocab entry {i}: bytes are not a hex string")
        if tid is not None and (type(tid) is not int or not 0 <= tid < 1 << 40):
            raise _fail(source, f"vocab entry {i}: token id is not a sane integer")
        out.append((text, raw, tid))
    return out


def _unpack_top(d: dict[str, Any], size: int, source: str, where: str) -> tuple[array, array]:
    """The packed top-k vocab indices and float32 logprobs of a node, checked."""
    width = d.get("tw", 4)
    if width not in (2, 4) or type(width) is not int:
        raise _fail(source, f"{where}.tw must be 2 or 4")
    tv_text, tl_text = d.get("tv"), d.get("tl")
    if not isinstance(tv_text, str) or not isinstance(tl_text, str):
        raise _fail(source, f"{where}: tv and tl must be base64 strings")
    try:
        tv = unpack(tv_text, "H" if width == 2 else _U32)
        tl = unpack(tl_text, "f")
    except ValueError:
        raise _fail(source, f"{where}: tv or tl is not valid base64 of whole numbers") from None
    if tv and max(tv) >= size:
        raise _fail(source, f"{where}.tv points outside the vocab table")
    if tl:
        total = sum(tl)
        if total != total or min(tl) < _FLOOR or max(tl) > -_FLOOR:
            raise _fail(source, f"{where}.tl holds a NaN, infinite or absurd logprob")
    return tv, tl


def _build_tokens(
    d: Any, vocab: list[tuple[str, bytes, int | None]], source: str, nid: str
) -> list[Token]:
    where = f"node {nid[:40]!r} tokens"
    if not isinstance(d, dict):
        raise _fail(source, f"{where} is not an object")
    v = d.get("v")
    _check_indices(v, len(vocab), source, f"{where}.v")
    n = len(v)
    lp = d.get("lp")
    _check_numbers(lp, source, f"{where}.lp", allow_none=True)
    if len(lp) != n:
        raise _fail(source, f"{where}: lp and v differ in length")
    ent = d.get("ent")
    if ent is not None:
        _check_numbers(ent, source, f"{where}.ent", allow_none=True)
        if len(ent) != n:
            raise _fail(source, f"{where}: ent and v differ in length")
    dist = d.get("dist", DIST_RAW)
    if isinstance(dist, str):
        if dist not in _DISTS:
            raise _fail(source, f"{where}: unknown dist {dist[:20]!r}")
        dists: Sequence[str] | None = None
    elif isinstance(dist, list) and len(dist) == n and set(dist) <= set(_DISTS):
        dists = dist
    else:
        raise _fail(source, f"{where}: dist must be 'raw', 'sampling' or a list of them")
    k = d.get("k")
    if k is None:
        if "tv" in d or "tl" in d:
            raise _fail(source, f"{where}: top-k lists without counts (k)")
        k, tv, tl = [0] * n, array("H"), array("f")
    else:
        _check_indices(k, 1 << 20, source, f"{where}.k")
        tv, tl = _unpack_top(d, len(vocab), source, where)
        if len(k) != n or sum(k) != len(tv) or len(tv) != len(tl):
            raise _fail(source, f"{where}: top-k counts do not match the lists")
    tokens: list[Token] = []
    append = tokens.append
    start = 0
    for i in range(n):
        text, raw, tid = vocab[v[i]]
        ki = k[i]
        top: Sequence[Alt] = LazyTop(vocab, tv, tl, start, start + ki) if ki else ()
        start += ki
        append(
            Token(
                text,
                raw,
                tid,
                None if lp[i] is None else lp[i] / _SCALE,
                top,
                None if ent is None or ent[i] is None else ent[i] / _SCALE,
                dist if dists is None else dists[i],
            )
        )
    return tokens


_OPT_STR = ("model", "backend", "label", "finish_reason", "error")


def _build_node(d: Any, vocab: list[tuple[str, bytes, int | None]], source: str, i: int) -> Node:
    if not isinstance(d, dict):
        raise _fail(source, f"node #{i} is not an object")
    nid = d.get("id")
    if not isinstance(nid, str) or not nid:
        raise _fail(source, f"node #{i} has no string id")
    where = f"node {nid[:40]!r}"
    parent = d.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise _fail(source, f"{where}: parent is not a string or null")
    children = d.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise _fail(source, f"{where}: children is not a list of ids")
    origin = d.get("origin", "prompt")
    if origin not in ORIGINS:
        raise _fail(source, f"{where}: unknown origin {str(origin)[:20]!r}")
    has_tokens, has_plain = "tokens" in d, "plain" in d
    if has_tokens == has_plain:
        raise _fail(source, f"{where}: needs exactly one of 'tokens' and 'plain'")
    tokens = _build_tokens(d["tokens"], vocab, source, nid) if has_tokens else None
    plain = d.get("plain", "")
    if not isinstance(plain, str):
        raise _fail(source, f"{where}: plain is not a string")
    created = d.get("created", 0.0)
    modified = d.get("modified")
    for name, val in (("created", created), ("modified", modified)):
        if val is None and name == "modified":
            continue
        if type(val) not in (int, float) or not -_TIME_LIMIT <= val <= _TIME_LIMIT:
            raise _fail(source, f"{where}: {name} is not a sane timestamp")
    for name in _OPT_STR:
        if d.get(name) is not None and not isinstance(d[name], str):
            raise _fail(source, f"{where}: {name} is not a string")
    for name in ("bookmark", "visited"):
        if not isinstance(d.get(name, False), bool):
            raise _fail(source, f"{where}: {name} is not true/false")
    settings = d.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise _fail(source, f"{where}: settings is not an object")
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise _fail(source, f"{where}: meta is not an object")
    return Node(
        id=nid,
        parent=parent,
        children=list(children),
        origin=origin,
        tokens=tokens,
        plain=plain,
        settings=settings,
        model=d.get("model"),
        backend=d.get("backend"),
        created=created,
        modified=modified,
        bookmark=d.get("bookmark", False),
        label=d.get("label"),
        visited=d.get("visited", False),
        finish_reason=d.get("finish_reason"),
        error=d.get("error"),
        meta=meta,
    )


def check_tree(nodes: dict[str, Node], root_id: str, current_id: str, source: str) -> None:
    """Parent and children links agree, every node is reachable once, no cycles."""
    if root_id not in nodes:
        raise _fail(source, f"root {str(root_id)[:40]!r} is not a node")
    if nodes[root_id].parent is not None:
        raise _fail(source, "the root node has a parent")
    if current_id not in nodes:
        raise _fail(source, f"current node {str(current_id)[:40]!r} is not a node")
    listed: set[str] = set()
    for node in nodes.values():
        for cid in node.children:
            child = nodes.get(cid)
            if child is None:
                raise _fail(source, f"node {node.id[:40]!r} has a missing child {cid[:40]!r}")
            if cid in listed:
                raise _fail(source, f"node {cid[:40]!r} is listed as a child twice")
            listed.add(cid)
            if child.parent != node.id:
                raise _fail(source, f"node {cid[:40]!r} does not name its parent {node.id[:40]!r}")
    for node in nodes.values():
        if node.id != root_id and node.id not in listed:
            if node.parent is None:
                raise _fail(source, f"node {node.id[:40]!r} has no parent but is not the root")
            raise _fail(source, f"node {node.id[:40]!r} is missing from its parent's children")
    # Every non-root node now has exactly one consistent parent; anything the root cannot
    # reach hangs in a cycle.
    seen = 0
    stack = [root_id]
    while stack:
        node = nodes[stack.pop()]
        seen += 1
        if seen > len(nodes):
            break
        stack.extend(node.children)
    if seen != len(nodes):
        raise _fail(source, "cycle in parent links (some nodes are unreachable from the root)")


def _build_session(data: dict[str, Any], source: str) -> Session:
    vocab = _build_vocab(data.get("vocab", []), source)
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise _fail(source, "nodes missing, empty or not a list")
    nodes: dict[str, Node] = {}
    for i, d in enumerate(raw_nodes):
        node = _build_node(d, vocab, source, i)
        if node.id in nodes:
            raise _fail(source, f"duplicate node id {node.id[:40]!r}")
        nodes[node.id] = node
    root_id, current_id = data.get("root"), data.get("current")
    if not isinstance(root_id, str) or not isinstance(current_id, str):
        raise _fail(source, "root and current must be node ids")
    check_tree(nodes, root_id, current_id, source)
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise _fail(source, "meta is not an object")
    return Session(nodes=nodes, root_id=root_id, current_id=current_id, meta=meta)
