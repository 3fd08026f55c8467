"""The token view's document model: the current branch as units (tokens, or words of plain
text), wrapped into visual lines of cells, and the cursor geometry over those lines.
Pure Python over the core tree (rich.cells for widths only; no textual). The wrapping itself
is :mod:`loomtui.ui.docwrap`'s.

Wrapping breaks at word boundaries, where a word is a run of units with no whitespace
between them (``" 4"`` + ``"2."`` is one word). A word moves whole to the next line when it
fits there; only a word longer than a line is broken inside. Whitespace at a soft break stays
at the end of the line it follows (what does not fit there is hidden), so a wrapped line never
starts with a token's leading space; the space is still part of its token's unit.

Wrapping is incremental: appending units (streaming tokens) only changes the last line (its
trailing word may move down), so a 20,000-token branch is laid out once and each arriving
token costs O(its length + the trailing word).

Wrapping is also lazy on a long branch (more than :data:`LAZY_UNITS` units): only its end is
laid out at first, from a point just after a newline (where a line starts afresh, so the lines
are exactly those of the whole branch's layout); nearby text is laid out a chunk at a time
when something reaches it (the cursor going up past the first line or down past the last),
and a jump far away (Home, End, a point elsewhere) lays out a fresh part there instead. Units
keep their number in the whole branch; line numbers count from the first laid-out line, so
laying out earlier text moves every line down, and :attr:`DocLayout.on_shift` tells the view.

In a chat session each turn starts on a line of its own under a quiet marker line
(``── user ──``, ``── assistant ──``): a marker line holds no pieces, so it is no cursor stop
and no click target; Up/Down pass over it. (A chat branch is always laid out whole.)
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator, Sequence

from rich.cells import cell_len

from ..core.display import MAX_TOKEN_CHARS, visible
from ..core.tokens import Token
from ..core.tree import Node, Session
from .docwrap import Piece, Unit, WrapEngine

__all__ = ["DocLayout", "Piece", "Stop", "Unit", "Units"]

# Plain text is navigated by word: leading whitespace, then a run of non-space characters.
_WORD = re.compile(r"\s*\S+|\s+")

#: A cursor stop on a line: (first cell, cell after the last, unit index).
Stop = tuple[int, int, int]

#: A branch of more units than this is laid out lazily (see the module's docstring)...
LAZY_UNITS = 100_000
#: ...this many units from its end at first, and at least this many more each time.
WINDOW_UNITS = 10_000
#: A token ending a line is at most this long (longer ones may be cut for display).
_BREAK_BYTES = 64


def _is_blank(text: str) -> bool:
    return not text or text.isspace()


class Units(Sequence[Unit]):
    """The branch's units, by their number in the whole branch. Touching a unit that is not
    laid out yet lays out the text back to it (see :meth:`DocLayout.ensure`)."""

    __slots__ = ("_layout",)

    def __init__(self, layout: DocLayout) -> None:
        self._layout = layout

    def __len__(self) -> int:
        return self._layout.total

    def __getitem__(self, index):  # type: ignore[override]
        layout = self._layout
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(layout.total))]
        if index < 0:
            index += layout.total
        if not 0 <= index < layout.total:
            raise IndexError(index)
        if not layout.base <= index < layout.end:
            layout.ensure(index)
        return layout._units[index - layout.base]

    def __iter__(self) -> Iterator[Unit]:
        # Every unit of the branch, laying out the parts as it goes (slow on a long branch:
        # :meth:`DocLayout.laid_out` gives what is laid out already).
        for index in range(self._layout.total):
            yield self[index]


class DocLayout(WrapEngine):
    """Units of a branch and their wrapping into lines of at most ``width`` cells."""

    def __init__(self, width: int = 80) -> None:
        super().__init__(width)
        self.units = Units(self)
        self.total = 0  # units in the whole branch
        self.signature: list[tuple[str, int]] = []  # (node id, length) of the laid-out path
        #: The branch's nodes: (node, number of its first unit, its unit count).
        self._spans: list[tuple[Node, int, int]] = []
        self._span_of: dict[str, int] = {}
        #: Called when lines were laid out: with how many went above the first one (every
        #: line moved down by as many; 0: only after the last), or None when the laid-out
        #: part was replaced (a jump far from it).
        self.on_shift: Callable[[int | None], None] | None = None
        self._node_turn: dict[str, str] = {}  # nodes of the path that start a turn
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    # ------------------------------------------------------------------ building
    def load(self, session: Session, node_id: str) -> int:
        """Lay out the branch ending at ``node_id``. Returns the first changed line:
        0 after a full rebuild, later when the branch only grew at its end (streaming)."""
        path = session.path(node_id)
        sig = [(n.id, len(n)) for n in path]
        old = self.signature
        grew = (
            old
            and len(sig) == len(old)
            and sig[:-1] == old[:-1]
            and sig[-1][0] == old[-1][0]
            and sig[-1][1] >= old[-1][1]
            and path[-1].tokens is not None
        )
        if grew:
            first = len(self.lines) - 1
            node = path[-1]
            start = old[-1][1]
            assert node.tokens is not None
            added = sig[-1][1] - start
            span_node, span_first, count = self._spans[-1]
            at_end = self.end == self.total
            self._spans[-1] = (span_node, span_first, count + added)
            self.total += added
            if at_end:
                self._add_tokens(node.id, node.tokens[start : sig[-1][1]], start)
            else:
                first = len(self.lines)  # laid out when something reaches it
            self.signature = sig
            return max(0, first)
        self._reset()
        self._node_turn = _turn_starts(session, path)
        spans: list[tuple[Node, int, int]] = []
        total = 0
        for node in path:
            count = len(node.tokens) if node.tokens is not None else _word_count(node.plain)
            spans.append((node, total, count))
            total += count
        self._spans, self.total = spans, total
        self._span_of = {node.id: i for i, (node, _, _) in enumerate(spans)}
        start = 0
        if total > LAZY_UNITS and not self._node_turn:
            start = self._break_before(total - WINDOW_UNITS)
        self.base = start
        self._lay_out(start, total)
        self.signature = sig
        return 0

    def relayout(self, width: int) -> None:
        """Re-wrap every laid-out unit for a new width."""
        width = max(4, width)
        if width == self.width:
            return
        self.width = width
        self._clear_lines()
        self._place_from(0)

    def _reset(self) -> None:
        self._units = []
        self.base = self.total = 0
        self._spans, self._span_of = [], {}
        self.turn_starts = {}
        self._clear_lines()
        self._decoder.reset()

    def is_marker(self, line: int) -> bool:
        """Whether ``line`` is a chat turn's marker line (no cursor stop)."""
        return line in self.markers

    def _lay_out(self, start: int, end: int) -> None:
        """Place the branch's units ``start`` to ``end`` after the laid-out ones (``start``
        is the branch's first unit or a point just after a newline, inside a token node)."""
        for node, first, count in self._spans:
            if first + count <= start or first >= end or not count:
                if not count and start <= first < end and node.tokens is None:
                    self._decoder.reset()  # an empty plain node: nothing to place
                continue
            if node.tokens is None:
                self._add_node(node)
            else:
                lo = max(start, first) - first
                self._add_tokens(node.id, node.tokens[lo : min(end, first + count) - first], lo)

    def _break_before(self, at: int) -> int:
        """The latest point at or before unit ``at`` where a line starts afresh: just after
        a token that ends with a newline (0 when there is none)."""
        for node, first, count in reversed(self._spans):
            if first >= at or node.tokens is None:
                continue
            tokens = node.tokens
            for i in range(min(at - first, count - 1), 0, -1):
                data = tokens[i - 1].bytes
                if data.endswith(b"\n") and len(data) <= _BREAK_BYTES:
                    return first + i
        return 0

    def laid_out(self) -> Iterator[tuple[int, Unit]]:
        """(number, unit) of each laid-out unit: what is on or near the screen, without
        laying out the rest of a long branch (iterating :attr:`units` would)."""
        return enumerate(self._units, self.base)

    @property
    def end(self) -> int:
        """The number of the unit after the last laid-out one."""
        return self.base + len(self._units)

    def _break_after(self, at: int) -> int:
        """The first point at or after unit ``at`` where a line starts afresh (the branch's
        end when there is none): a laid-out part that ends there ends with whole lines."""
        for node, first, count in self._spans:
            if first + count <= at or node.tokens is None:
                continue
            tokens = node.tokens
            for i in range(max(at - first, 1), count):
                data = tokens[i - 1].bytes
                if data.endswith(b"\n") and len(data) <= _BREAK_BYTES:
                    return first + i
        return self.total

    def ensure(self, index: int) -> None:
        """Lay out unit ``index``: the text back or on to it, a chunk at a time, or, far
        from the laid-out part (Home, End, a point elsewhere), a fresh part around it."""
        if self.base <= index < self.end or not 0 <= index < self.total:
            return
        if index < self.base - 2 * WINDOW_UNITS or index >= self.end + 2 * WINDOW_UNITS:
            self._jump(index)
            return
        while index < self.base:
            self._extend(index)
        while index >= self.end:
            self._extend_on()

    def _jump(self, index: int) -> None:
        """Replace the laid-out part with one from a break before ``index`` on."""
        start = self._break_before(index)
        self._units, self.base = [], start
        self._clear_lines()
        self._decoder.reset()
        self._lay_out(start, self._break_after(max(index + 1, start + WINDOW_UNITS)))
        if self.on_shift is not None:
            self.on_shift(None)

    def _extend_on(self) -> int:
        """Lay out the next chunk after the laid-out part (the wrapping goes on from where
        it ended, as it does for streamed tokens); returns how many lines it added."""
        lines = len(self.lines)
        self._lay_out(self.end, self._break_after(self.end + WINDOW_UNITS))
        if self.on_shift is not None:
            self.on_shift(0)  # no line moved; there are more of them
        return len(self.lines) - lines

    def _extend(self, index: int | None = None) -> int:
        """Lay out a chunk of earlier text (back to unit ``index`` at least, when given) in
        front of the laid-out lines; returns how many lines it added."""
        target = self.base - WINDOW_UNITS if index is None else min(index, self.base - WINDOW_UNITS)
        start = self._break_before(max(0, target))
        part = DocLayout(self.width)
        part._spans, part.base, part.total = self._spans, start, self.total
        part._lay_out(start, self.base)
        # The chunk ends with a newline: its last line is the empty one the laid-out text
        # starts on.
        assert part.lines[-1] == [], "a chunk must end at a newline"
        added = len(part.lines) - 1
        self._units = part._units + self._units
        self.unit_line = part.unit_line + [y + added for y in self.unit_line]
        self.lines = part.lines[:-1] + self.lines
        self.base = start
        if self.on_shift is not None and added:
            self.on_shift(added)
        return added

    def _add_node(self, node: Node) -> None:
        if node.tokens is not None:
            self._add_tokens(node.id, node.tokens, 0)
            return
        self._decoder.reset()  # plain text is whole characters
        first = len(self._units)
        if node.plain and node.id in self._node_turn:
            self.turn_starts[first] = self._node_turn[node.id]
        for m in _WORD.finditer(node.plain):
            self._units.append(Unit(node.id, m.start(), m.end(), visible(m.group())))
        self._place_from(first)

    def _add_tokens(self, node_id: str, tokens: list[Token], start: int) -> None:
        first = len(self._units)
        if start == 0 and tokens and node_id in self._node_turn:
            self.turn_starts[first] = self._node_turn[node_id]
        units = self._units
        decode = self._decoder.decode
        for i, tok in enumerate(tokens, start):
            raw = decode(tok.bytes) if tok.bytes else tok.text
            if not (raw.isprintable() and raw.isascii() and len(raw) <= MAX_TOKEN_CHARS):
                raw = visible(raw, max_chars=MAX_TOKEN_CHARS)
            units.append(Unit(node_id, i, i + 1, raw, tok))
        self._place_from(first)

    # ------------------------------------------------------------------ queries
    def line_count(self) -> int:
        return len(self.lines)

    def unit_at_point(self, node_id: str, offset: int) -> int | None:
        """Index of the unit holding ``(node_id, offset)``, or the last unit before it."""
        span = self._span_of.get(node_id)
        if span is None:
            return None
        node, first, count = self._spans[span]
        if not count or offset < 0:
            return None
        if node.tokens is not None:  # a token per unit: no search
            return first + min(offset, count - 1)
        self.ensure(first)
        best = None
        units, base = self._units, self.base
        for i in range(first - base, first - base + count):
            u = units[i]
            if u.offset <= offset:
                best = i + base
            if u.end > offset:
                break
        return best

    def lines_of_unit(self, index: int) -> range:
        """Lines that show (part of) unit ``index`` (perhaps one more)."""
        self.ensure(index)
        at = index - self.base
        unit_line = self.unit_line
        first = unit_line[at]
        last = unit_line[at + 1] if at + 1 < len(unit_line) else len(self.lines) - 1
        return range(first, last + 1)

    # ------------------------------------------------------------------ cursor geometry
    def home_line(self, index: int) -> int:
        """The visual line the cursor is on when it sits on unit ``index``: where its text
        shows (not a leading space left on the line above), else its first line."""
        lines = self.lines
        for y in self.lines_of_unit(index):
            for u, text in lines[y]:
                if u == index and not _is_blank(text):
                    return y
        return self.unit_line[index - self.base]

    def on_line(self, index: int, line: int) -> bool:
        """Whether unit ``index`` has a piece on ``line``."""
        if not 0 <= line < len(self.lines) or not 0 <= index < self.total:
            return False
        return any(u == index for u, _ in self.lines[line])

    def stops(self, line: int) -> list[Stop]:
        """The cursor stops of ``line`` with their cells, left to right. A blank piece of a
        unit that shows elsewhere (a leading space left here by a break) is not a stop of
        this line, unless the line has nothing else."""
        out: list[Stop] = []
        blank: list[Stop] = []
        x = 0
        for u, text in self.lines[line]:
            w = len(text) if text.isascii() else cell_len(text)
            stop = (x, x + w, u)
            if _is_blank(text) and self.home_line(u) != line:
                blank.append(stop)
            elif not out or out[-1][2] != u:
                out.append(stop)
            else:  # the same unit again (e.g. " " then "word"): one wider stop
                out[-1] = (out[-1][0], x + w, u)
            x += w
        return out or blank

    def column(self, index: int, line: int) -> int:
        """The first cell of unit ``index`` on ``line`` (0 if it has none there)."""
        for x0, _, u in self.stops(line):
            if u == index:
                return x0
        return 0

    def nearest(self, line: int, goal: int) -> int | None:
        """The unit on ``line`` nearest cell ``goal``: the one covering it, else the closest
        (past the end of the line: its last stop, e.g. the newline)."""
        best, best_d = None, None
        for x0, x1, u in self.stops(line):
            if x0 <= goal < x1:
                return u
            d = x0 - goal if goal < x0 else goal - max(x0, x1 - 1)
            if best_d is None or d < best_d:
                best, best_d = u, d
        return best

    def last_line(self) -> int:
        """The last line with a cursor stop (a trailing newline leaves one empty line)."""
        y = len(self.lines) - 1
        while y > 0 and not self.lines[y]:
            y -= 1
        return y

    def line_step(self, line: int, goal: int, step: int) -> tuple[int, int] | None:
        """(unit, line) ``step`` visual lines from ``line`` nearest cell ``goal``, clamped
        to the first and last line; None for an empty document."""
        if not self.total:
            return None
        while line + step < 0 and self.base > 0:  # earlier text not laid out yet
            line += self._extend()
        while line + step > self.last_line() and self.end < self.total:  # later text
            self._extend_on()
        last = self.last_line()
        target = max(0, min(last, line + step))
        if not self.lines[target]:
            # A turn's marker line (or an empty last line): go on past it the way we were
            # going; at the edge of the document, come back to the nearest line with stops.
            way = 1 if step > 0 else -1
            t = target
            while 0 <= t <= last and not self.lines[t]:
                t += way
            if not 0 <= t <= last:
                t = target
                while 0 <= t <= last and not self.lines[t]:
                    t -= way
            if not 0 <= t <= last:
                return None
            target = t
        unit = self.nearest(target, goal)
        return None if unit is None else (unit, target)


def _word_count(text: str) -> int:
    """How many units a plain-text node has (its words, as :data:`_WORD` finds them)."""
    return sum(1 for _ in _WORD.finditer(text))


def _turn_starts(session: Session, path: list[Node]) -> dict[str, str]:
    """In a chat session, the nodes of ``path`` that start a turn -> the turn's role (an
    empty node that would start one is kept too: its first streamed token starts it)."""
    if not session.is_chat():
        return {}
    out: dict[str, str] = {}
    previous: str | None = None
    for node, role in session.path_roles(path[-1].id, True) if path else ():
        if node.parent is None and not len(node):
            continue  # the empty root
        if role != previous:
            out[node.id] = role
        if len(node):
            previous = role
    return out
