"""Searching the whole tree by text or by regular expression.

Every branch is searched as the text it reads as, so a match may run across node boundaries:
each node is searched as the tail of the branch above it plus its own text, and a match is
reported at the node it *ends* in (a match wholly above belongs to the node above, found
there once for every branch through it). The tail is the pattern's length less one for
plain text (exact: a literal match can start no further back), and :data:`SPAN_WINDOW`
characters for a regular expression (a regex match across a boundary is found when it starts
at most that far before the node it ends in). Along one branch the matches are those a scan
of the branch's whole text finds (no two overlap), with one exception for a regex: a match
that reaches the end of its node may go on in a child, so the child's branch gets the longer
match too (``a+`` over "aa" then "a": "aa" on the parent's branch, "aaa" on the child's).
Offsets come back as the tree's own points: token index in a model's node, character in
plain text.

Matching uses the ``regex`` module with a deadline, so a pathological pattern (``(a+)+b``)
stops with ``timed_out`` instead of freezing the caller; it also releases the GIL while it
matches, so the app's worker thread leaves the interface responsive. Plain text is matched
case-insensitively unless asked otherwise. Pure: no textual, no rich.
"""

from __future__ import annotations

import codecs
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from .errors import LoomError
from .tree import Node, Session

#: How far before a node a regex match ending in it may start (characters).
SPAN_WINDOW = 200
#: Matches kept at most (the count says "10000+" past it).
DEFAULT_LIMIT = 10_000
#: Seconds a whole search may take before it stops with what it found.
DEFAULT_TIMEOUT_S = 2.0
#: Characters of context on each side of a match in its snippet.
CONTEXT = 30

#: (node id, first unit, unit after the last): the part of one node a match covers.
Span = tuple[str, int, int]


class SearchError(LoomError, ValueError):
    """A pattern that cannot be searched for (an invalid regular expression, an empty one)."""


@dataclass(frozen=True, slots=True)
class Match:
    """One match on the branch ending at (or through) :attr:`node_id`."""

    node_id: str  # the node the match ends in
    start: tuple[str, int]  # (node id, unit offset) of its first character
    spans: tuple[Span, ...]  # each node it covers, in branch order
    text: str  # what matched
    before: str = ""  # up to CONTEXT characters before it on the branch
    after: str = ""  # up to CONTEXT characters after it in its last node

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(s[0] for s in self.spans)


@dataclass
class SearchResult:
    """What a search found, in tree order (depth first, then by offset)."""

    pattern: str
    matches: list[Match] = field(default_factory=list)
    truncated: bool = False  # stopped at the limit
    timed_out: bool = False  # stopped at the deadline (a pattern too costly to finish)
    elapsed_s: float = 0.0

    @property
    def count_text(self) -> str:
        """The count as a person reads it: "17", "10000+", "3+ (stopped: too slow)"."""
        n = f"{len(self.matches)}{'+' if self.truncated or self.timed_out else ''}"
        return n + (" (stopped: too slow)" if self.timed_out else "")

    def by_node(self) -> dict[str, list[int]]:
        """Node id -> indexes of the matches touching it (the tree panel's marks)."""
        out: dict[str, list[int]] = {}
        for i, m in enumerate(self.matches):
            for nid in dict.fromkeys(m.nodes):
                out.setdefault(nid, []).append(i)
        return out


def compile_pattern(pattern: str, *, is_regex: bool = False, case: bool = False) -> Any:
    """The compiled pattern; a one-line :class:`SearchError` for an invalid regex."""
    if not pattern:
        raise SearchError("nothing to search for")
    import regex  # here, not at the top: the app's start imports this module (~7 ms)

    flags = regex.V0 | (0 if case else regex.IGNORECASE)
    try:
        return regex.compile(pattern if is_regex else regex.escape(pattern), flags)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise SearchError(f"invalid regular expression: {str(exc).splitlines()[0]}") from None


def unit_starts(node: Node) -> list[int] | None:
    """Where each token of ``node`` starts in its text (characters), decoded as
    :attr:`Node.text` decodes the whole run; None for plain text (a unit is a character)."""
    if node.tokens is None:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    starts, n = [], 0
    for tok in node.tokens:
        starts.append(n)
        n += len(decoder.decode(tok.bytes))
    return starts


class _Units:
    """Characters to units, per node, computed once per node that holds a match."""

    def __init__(self) -> None:
        self._starts: dict[str, list[int] | None] = {}

    def _of(self, node: Node) -> list[int] | None:
        if node.id not in self._starts:
            self._starts[node.id] = unit_starts(node)
        return self._starts[node.id]

    def span(self, node: Node, lo: int, hi: int) -> Span:
        """Characters ``[lo, hi)`` of ``node`` as the units that hold them."""
        starts = self._of(node)
        if starts is None:
            return node.id, lo, hi
        if not starts:
            return node.id, 0, 0
        first = max(0, bisect_right(starts, lo) - 1)
        last = max(first, bisect_right(starts, max(lo, hi - 1)) - 1)
        return node.id, first, last + 1


def node_text(node: Node, cache: dict[str, Any] | None = None) -> str:
    """:attr:`Node.text`, kept in ``cache`` (id -> (tokens list, length, text)) while the
    node's tokens are the same list at the same length (tokens only grow in place or are
    replaced by a new list; the entry holds the old list, so its id is never reused)."""
    toks = node.tokens
    if toks is None:
        return node.plain
    if cache is not None:
        hit = cache.get(node.id)
        if hit is not None and hit[0] is toks and hit[1] == len(toks):
            return hit[2]
    text = b"".join([t.bytes for t in toks]).decode("utf-8", "replace")
    if cache is not None:
        cache[node.id] = (toks, len(toks), text)
    return text


#: Between the nodes' texts in the one string searched: a match running over it is searched
#: again node by node (rare: a literal never contains it unless its pattern does).
_SEP = "\x00"


def search(
    session: Session,
    pattern: str,
    *,
    is_regex: bool = False,
    case: bool = False,
    limit: int = DEFAULT_LIMIT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cache: dict[str, Any] | None = None,
) -> SearchResult:
    """Every match of ``pattern`` in the tree (see the module's docstring for the rules).

    ``cache`` keeps node texts between searches (:func:`node_text`): a caller searching
    again (a pattern being typed) reuses them. Hidden nodes and what hangs below them are
    left out, as the views leave them out.

    Each node's subject (the tail above it, then its text) is laid end to end in one string
    and searched with one call (a call per node costs more than the matching). The matches
    are then taken node by node, parents first, as a scan of each whole branch takes them:
    one starting inside a match found above is skipped, and where such a match would hide
    the next one (or a match runs over a separator) the node is searched alone, from where
    the match above ended.
    """
    compiled = compile_pattern(pattern, is_regex=is_regex, case=case)
    window = SPAN_WINDOW if is_regex else len(pattern) - 1
    start = time.perf_counter()
    deadline = start + timeout_s
    result = SearchResult(pattern)
    seg = _subjects(session, window, cache)
    parts = seg.parts
    offsets, at = [], 0
    for part in parts:
        offsets.append(at)
        at += len(part) + 1
    found: dict[int, list[tuple[int, int, Any]]] = {}  # segment -> (start, end, match) in it
    redo: set[int] = set()
    try:
        for m in compiled.finditer(_SEP.join(parts), concurrent=True, timeout=timeout_s):
            a, b = m.span()
            k = bisect_right(offsets, a) - 1
            base = offsets[k]
            if b - base > len(parts[k]):  # runs over the separator: node by node
                redo.update(range(k, bisect_right(offsets, b - 1)))
                continue
            found.setdefault(k, []).append((a - base, b - base, m))
            if len(found) > 2 * limit:  # nodes enough, even if some matches are skipped
                result.truncated = True
                break
        _take(session, seg, compiled, found, redo, deadline, limit, result, is_regex)
    except TimeoutError:
        result.timed_out = True
    result.elapsed_s = time.perf_counter() - start
    return result


def _take(
    session: Session,
    seg: _Segments,
    compiled: Any,
    found: dict[int, list[tuple[int, int, Any]]],
    redo: set[int],
    deadline: float,
    limit: int,
    result: SearchResult,
    is_regex: bool,
) -> None:
    """Keep the matches a scan of each whole branch keeps (see :func:`search`), in tree
    order, into ``result``. A regex match that reaches the end of its node may go on in a
    child (``a+`` over "aa" then "a"): it does not hide the child's longer match."""
    units = _Units()
    nodes = session.nodes
    last_end = [0] * len(seg.parts)  # per segment: where the last match on its branch ended
    for k in range(len(seg.parts)):
        up = seg.parent[k]
        done = last_end[up] if up >= 0 else 0  # branch offset
        last_end[k] = done
        cands = found.get(k)
        if cands is None and k not in redo:
            continue
        free = max(0, done - seg.sub_start[k])  # in the subject: where the scan goes on
        if k in redo or any(a < free < b for a, b, _ in cands or ()):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            cands = [
                (m.start(), m.end(), m)
                for m in compiled.finditer(seg.parts[k], free, concurrent=True, timeout=left)
            ]
        cut = len(seg.tails[k])
        for a, b, m in cands or ():
            if a < free or b <= cut or a == b:
                continue  # inside a match above, wholly above (found there), or empty
            node = nodes[seg.order[k]]
            result.matches.append(
                _match(session, seg.texts, units, node, seg.tails[k], a, b, m.group())
            )
            if not (is_regex and b == len(seg.parts[k])):
                last_end[k] = seg.sub_start[k] + b
            if len(result.matches) >= limit:
                result.truncated = True
                return


@dataclass(slots=True)
class _Segments:
    """The shown nodes with text, depth first: each one's id, the tail of the branch above
    it, its subject (tail + text), its nearest such ancestor (index, -1: none) and where its
    subject starts in its branch's text; and every node's text by id."""

    order: list[str] = field(default_factory=list)
    tails: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    sub_start: list[int] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


def _subjects(session: Session, window: int, cache: dict[str, Any] | None) -> _Segments:
    """The hot loop of a search (one pass over every node): kept flat, its appends bound."""
    nodes = session.nodes
    get = nodes.get
    seg = _Segments()
    add_id, add_tail, add_part = seg.order.append, seg.tails.append, seg.parts.append
    add_up, add_start = seg.parent.append, seg.sub_start.append
    texts = seg.texts
    count = 0
    # (node id, tail above it, its nearest segment above, characters of the branch above)
    stack: list[tuple[str, str, int, int]] = [(session.root_id, "", -1, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        nid, tail, up, pos = pop()
        node = get(nid)
        if node is None or node.hidden:  # pruned: out of every view
            continue
        text = node.plain if node.tokens is None else node_text(node, cache)
        texts[nid] = text
        if text:
            add_id(nid)
            add_tail(tail)
            add_part(tail + text if tail else text)
            add_up(up)
            add_start(pos - len(tail))
            up = count
            count += 1
            pos += len(text)
            if window:
                tail = text[-window:] if len(text) >= window else (tail + text)[-window:]
        children = node.children
        if children:
            for cid in reversed(children):
                push((cid, tail, up, pos))
    return seg


def _match(
    session: Session,
    texts: dict[str, str],
    units: _Units,
    node: Node,
    tail: str,
    a: int,
    b: int,
    matched: str,
) -> Match:
    """The :class:`Match` of characters ``[a, b)`` of ``tail + node's text``."""
    cut = len(tail)
    text = texts[node.id]
    # Walk up from the node while the match starts further back.
    covered: list[tuple[Node, int, int]] = [(node, max(0, a - cut), b - cut)]
    back = cut - a  # characters of the match above this node
    above = node
    while back > 0 and above.parent is not None:
        above = session.nodes[above.parent]
        above_text = texts.get(above.id)
        if above_text is None:
            above_text = texts[above.id] = node_text(above)
        if not above_text:
            continue
        take = min(back, len(above_text))
        covered.append((above, len(above_text) - take, len(above_text)))
        back -= take
    covered.reverse()
    spans = tuple(units.span(n, lo, hi) for n, lo, hi in covered)
    first = spans[0]
    # The context before it: the start node's text up to it, then the branch above.
    start_node, start_char = covered[0][0], covered[0][1]
    before = texts[start_node.id][:start_char][-CONTEXT:]
    above = start_node
    while len(before) < CONTEXT and above.parent is not None:
        above = session.nodes[above.parent]
        above_text = texts.get(above.id)
        if above_text is None:
            above_text = texts[above.id] = node_text(above)
        before = above_text[-CONTEXT:] + before
    return Match(
        node_id=node.id,
        start=(first[0], first[1]),
        spans=spans,
        text=matched,
        before=before[-CONTEXT:],
        after=text[b - cut : b - cut + CONTEXT],
    )
