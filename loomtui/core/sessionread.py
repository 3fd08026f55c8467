"""Reading a session file's JSON into a :class:`Session`, checking everything on the way.

Split from :mod:`sessionfile` (which writes and dispatches): the validation is long because
every field of an untrusted file is checked, with C-speed checks for the long token arrays.
Each problem raises :class:`SessionFileError` with one line naming the file and the problem.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Sequence
from itertools import accumulate, repeat
from operator import itemgetter
from typing import Any

from .ratings import RATINGS
from .sessioncheck import check_tree, fail
from .tokens import DIST_RAW, DIST_SAMPLING, U32, PackedTop, Token, VocabRow, VocabTable
from .tree import ORIGINS, ROLES, Node, Session

_DISTS = (DIST_RAW, DIST_SAMPLING)
_NUM_LIMIT = 10**12  # micro-nats: logprobs/entropies beyond a million nats are corrupt
_TIME_LIMIT = 1e11  # seconds since 1970: year ~5000
_SCALE = 1_000_000.0  # token logprobs and entropies are stored as integer micro-nats
_FLOOR = -100_000.0  # -inf (a token the sampler could not pick) is stored as this
_BIG_ENDIAN = sys.byteorder == "big"
_U32 = U32
#: Top-k arrays at least this long are checked with numpy rather than the builtins.
_VECTOR_MIN = 4096


def unpack(text: str, typecode: str) -> array:
    """An array from base64 of its little-endian bytes, as the file stores top-k lists
    (raises ValueError on bad base64 or length)."""
    values = array(typecode)
    values.frombytes(base64.b64decode(text.encode("ascii"), validate=True))
    if _BIG_ENDIAN:
        values.byteswap()
    return values


# --------------------------------------------------------------------------- validation
_NONE = type(None)


def _check_numbers(values: Any, source: str, what: str, *, allow_none: bool = False) -> None:
    """A list of integers (micro-nats) in the sane range: C-speed checks, lists are long."""
    if not isinstance(values, list):
        raise fail(source, f"{what} is not a list")
    kinds = set(map(type, values))
    allowed = {int, _NONE} if allow_none else {int}
    if not kinds <= allowed:
        raise fail(source, f"{what} holds something that is not an integer")
    nums = [x for x in values if x is not None] if _NONE in kinds else values
    if nums and (min(nums) < -_NUM_LIMIT or max(nums) > _NUM_LIMIT):
        raise fail(source, f"{what} holds an absurdly large number")


def _check_indices(values: Any, size: int, source: str, what: str) -> None:
    if not isinstance(values, list) or not set(map(type, values)) <= {int}:
        raise fail(source, f"{what} must be a list of integers")
    if values and (min(values) < 0 or max(values) >= size):
        raise fail(source, f"{what} points outside the vocab table")


def _build_vocab(data: Any, source: str) -> VocabTable:
    """The file's ``vocab`` as a table marked ``from_file`` (its rows in the file's order).

    A row's bytes are the truth: where they are whole UTF-8, its text is their decoding,
    whatever the file says (``show`` and ``export`` then agree)."""
    if not isinstance(data, list):
        raise fail(source, "vocab is not a list")
    out: list[VocabRow] = []
    for i, entry in enumerate(data):
        if not isinstance(entry, list) or len(entry) != 3:
            raise fail(source, f"vocab entry {i} is not [text, bytes_hex, token_id]")
        text, hexed, tid = entry
        if not isinstance(text, str):
            raise fail(source, f"vocab entry {i}: text is not a string")
        if hexed is None:
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:
                raise fail(
                    source, f"vocab entry {i}: text has lone surrogates but no bytes"
                ) from None
        elif isinstance(hexed, str):
            try:
                raw = bytes.fromhex(hexed)
            except ValueError:
                raise fail(source, f"vocab entry {i}: bytes are not hex") from None
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                pass  # unfinished UTF-8: the text only labels the bytes, which show draws
            else:
                # Bytes are the truth: a row whose text spells something else would `show`
                # one text and `export` another, so the text is derived from the bytes.
                text = decoded
        else:
            raise fail(source, f"vocab entry {i}: bytes are not a hex string")
        if tid is not None and (type(tid) is not int or not 0 <= tid < 1 << 40):
            raise fail(source, f"vocab entry {i}: token id is not a sane integer")
        out.append((text, raw, tid))
    return VocabTable(out, from_file=True)


def _unpack_top(d: dict[str, Any], size: int, source: str, where: str) -> tuple[array, array]:
    """The packed top-k vocab indices and float32 logprobs of a node, checked."""
    width = d.get("tw", 4)
    if width not in (2, 4) or type(width) is not int:
        raise fail(source, f"{where}.tw must be 2 or 4")
    tv_text, tl_text = d.get("tv"), d.get("tl")
    if not isinstance(tv_text, str) or not isinstance(tl_text, str):
        raise fail(source, f"{where}: tv and tl must be base64 strings")
    try:
        tv = unpack(tv_text, "H" if width == 2 else _U32)
        tl = unpack(tl_text, "f")
    except ValueError:
        raise fail(source, f"{where}: tv or tl is not valid base64 of whole numbers") from None
    if len(tv) >= _VECTOR_MIN:  # long lists: numpy (imported only for them)
        import numpy as np

        nv, nl = np.frombuffer(tv, dtype=tv.typecode), np.frombuffer(tl, dtype=np.float32)
        bad_v = int(nv.max()) >= size
        bad_l = not (np.isfinite(nl).all() and nl.min() >= _FLOOR and nl.max() <= -_FLOOR)
    else:
        bad_v = bool(tv) and max(tv) >= size
        total = sum(tl)
        bad_l = bool(tl) and (total != total or min(tl) < _FLOOR or max(tl) > -_FLOOR)
    if bad_v:
        raise fail(source, f"{where}.tv points outside the vocab table")
    if bad_l:
        raise fail(source, f"{where}.tl holds a NaN, infinite or absurd logprob")
    return tv, tl


def _build_tokens(
    d: Any, vocab: list[tuple[str, bytes, int | None]], source: str, nid: str
) -> list[Token]:
    where = f"node {nid[:40]!r} tokens"
    if not isinstance(d, dict):
        raise fail(source, f"{where} is not an object")
    v = d.get("v")
    _check_indices(v, len(vocab), source, f"{where}.v")
    n = len(v)
    lp = d.get("lp")
    _check_numbers(lp, source, f"{where}.lp", allow_none=True)
    if len(lp) != n:
        raise fail(source, f"{where}: lp and v differ in length")
    ent = d.get("ent")
    if ent is not None:
        _check_numbers(ent, source, f"{where}.ent", allow_none=True)
        if len(ent) != n:
            raise fail(source, f"{where}: ent and v differ in length")
    slp = d.get("slp")
    if slp is not None:
        _check_numbers(slp, source, f"{where}.slp", allow_none=True)
        if len(slp) != n:
            raise fail(source, f"{where}: slp and v differ in length")
    dist = d.get("dist", DIST_RAW)
    if isinstance(dist, str):
        if dist not in _DISTS:
            raise fail(source, f"{where}: unknown dist {dist[:20]!r}")
        dists: Sequence[str] | None = None
    elif isinstance(dist, list) and len(dist) == n and set(dist) <= set(_DISTS):
        dists = dist
    else:
        raise fail(source, f"{where}: dist must be 'raw', 'sampling' or a list of them")
    k = d.get("k")
    if k is None:
        if "tv" in d or "tl" in d:
            raise fail(source, f"{where}: top-k lists without counts (k)")
        k, tv, tl = [0] * n, array("H"), array("f")
    else:
        _check_indices(k, 1 << 20, source, f"{where}.k")
        tv, tl = _unpack_top(d, len(vocab), source, where)
        if len(k) != n or sum(k) != len(tv) or len(tv) != len(tl):
            raise fail(source, f"{where}: top-k counts do not match the lists")
    # Column by column at C speed, then one Token per position: this is the loop of a
    # million-token load (one Python iteration per token took 1.2 s of its ~2.5 s).
    rows = list(map(vocab.__getitem__, v))
    if not any(k):
        tops: list[Any] = [()] * n
    elif 0 in k:
        tops = []
        start = 0
        for ki in k:
            tops.append(PackedTop(vocab, tv, tl, start, start + ki) if ki else ())
            start += ki
    else:
        ends = list(accumulate(k))
        starts = [0, *ends[:-1]] if ends else []
        tops = list(map(PackedTop, repeat(vocab), repeat(tv), repeat(tl), starts, ends))
    return list(
        map(
            Token,
            map(_FIRST, rows),
            map(_SECOND, rows),
            map(_THIRD, rows),
            _scaled(lp),
            tops,
            repeat(None) if ent is None else _scaled(ent),
            repeat(dist) if dists is None else dists,
            repeat(None) if slp is None else _scaled(slp),
        )
    )


_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)


def _scaled(values: list[int | None]) -> list[float | None]:
    """Micro-nats as nats, each ``x / _SCALE`` (numpy divides the same float64 values, so a
    long list without None gives the very same floats at C speed)."""
    if len(values) >= _VECTOR_MIN and None not in values:
        import numpy as np

        return (np.asarray(values, dtype=np.float64) / _SCALE).tolist()
    return [None if x is None else x / _SCALE for x in values]


_OPT_STR = ("model", "backend", "label", "finish_reason", "error")


def _build_node(d: Any, vocab: list[tuple[str, bytes, int | None]], source: str, i: int) -> Node:
    if not isinstance(d, dict):
        raise fail(source, f"node #{i} is not an object")
    nid = d.get("id")
    if not isinstance(nid, str) or not nid:
        raise fail(source, f"node #{i} has no string id")
    where = f"node {nid[:40]!r}"
    parent = d.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise fail(source, f"{where}: parent is not a string or null")
    children = d.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise fail(source, f"{where}: children is not a list of ids")
    origin = d.get("origin", "prompt")
    if origin not in ORIGINS:
        raise fail(source, f"{where}: unknown origin {str(origin)[:20]!r}")
    has_tokens, has_plain = "tokens" in d, "plain" in d
    if has_tokens == has_plain:
        raise fail(source, f"{where}: needs exactly one of 'tokens' and 'plain'")
    tokens = _build_tokens(d["tokens"], vocab, source, nid) if has_tokens else None
    plain = d.get("plain", "")
    if not isinstance(plain, str):
        raise fail(source, f"{where}: plain is not a string")
    created = d.get("created", 0.0)
    modified = d.get("modified")
    for name, val in (("created", created), ("modified", modified)):
        if val is None and name == "modified":
            continue
        if type(val) not in (int, float) or not -_TIME_LIMIT <= val <= _TIME_LIMIT:
            raise fail(source, f"{where}: {name} is not a sane timestamp")
    for name in _OPT_STR:
        if d.get(name) is not None and not isinstance(d[name], str):
            raise fail(source, f"{where}: {name} is not a string")
    for name in ("bookmark", "visited", "hidden"):
        if not isinstance(d.get(name, False), bool):
            raise fail(source, f"{where}: {name} is not true/false")
    settings = d.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise fail(source, f"{where}: settings is not an object")
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise fail(source, f"{where}: meta is not an object")
    role = d.get("role")
    if role is not None and role not in ROLES:
        raise fail(source, f"{where}: unknown role {str(role)[:20]!r}")
    if d.get("rating") not in (None, *RATINGS) or type(d.get("rating")) is bool:
        raise fail(source, f"{where}: rating is not -1, 0 or 1")
    if not isinstance(d.get("checked") or "", str):
        raise fail(source, f"{where}: checked is not a node id")
    count = d.get("count", 1)
    if type(count) is not int or not 1 <= count <= 2**53:
        raise fail(source, f"{where}: count is not a whole number >= 1")
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
        role=role,
        hidden=d.get("hidden", False),
        count=count,
        checked=d.get("checked"),
        rating=d.get("rating"),
    )


def _build_session(data: dict[str, Any], source: str) -> Session:
    vocab = _build_vocab(data.get("vocab", []), source)
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise fail(source, "nodes missing, empty or not a list")
    nodes: dict[str, Node] = {}
    for i, d in enumerate(raw_nodes):
        node = _build_node(d, vocab, source, i)
        if node.id in nodes:
            raise fail(source, f"duplicate node id {node.id[:40]!r}")
        nodes[node.id] = node
    root_id, current_id = data.get("root"), data.get("current")
    if not isinstance(root_id, str) or not isinstance(current_id, str):
        raise fail(source, "root and current must be node ids")
    check_tree(nodes, root_id, current_id, source)
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise fail(source, "meta is not an object")
    return Session(nodes=nodes, root_id=root_id, current_id=current_id, meta=meta)
