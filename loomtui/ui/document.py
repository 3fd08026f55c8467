"""The token view's document model: the current branch as units (tokens, or words of plain
text), wrapped into visual lines of cells, and the cursor geometry over those lines.
Pure Python over the core tree (rich.cells for widths only; no textual).

Wrapping breaks at word boundaries, where a word is a run of units with no whitespace
between them (``" 4"`` + ``"2."`` is one word). A word moves whole to the next line when it
fits there; only a word longer than a line is broken inside. Whitespace at a soft break stays
at the end of the line it follows (what does not fit there is hidden), so a wrapped line never
starts with a token's leading space; the space is still part of its token's unit.

Wrapping is incremental: appending units (streaming tokens) only changes the last line (its
trailing word may move down), so a 20,000-token branch is laid out once and each arriving
token costs O(its length + the trailing word).

In a chat session each turn starts on a line of its own under a quiet marker line
(``── user ──``, ``── assistant ──``): a marker line holds no pieces, so it is no cursor stop
and no click target; Up/Down pass over it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from rich.cells import cell_len

from ..core.display import MAX_TOKEN_CHARS, visible
from ..core.tokens import Token
from ..core.tree import Node, Session

# Plain text is navigated by word: leading whitespace, then a run of non-space characters.
_WORD = re.compile(r"\s*\S+|\s+")
# Break opportunities: whitespace, except the no-break spaces.
_NOBREAK = "\u00a0\u2007\u202f"
_RUNS = re.compile(rf"[^\S{_NOBREAK}]+|[\S{_NOBREAK}]+")


@dataclass(slots=True)
class Unit:
    """One cursor stop: a token of a model node, or a word of a plain-text node.

    ``offset`` is the unit's start inside its node (tokens or characters); ``end`` is where
    it ends, so ``(node_id, end)`` is the point just after it.
    """

    node_id: str
    offset: int
    end: int
    text: str  # display text: decoded across tokens, controls made visible
    token: Token | None = None

    @property
    def logprob(self) -> float | None:
        return None if self.token is None else self.token.logprob


#: A piece of a line: (unit index, text). A unit may have several pieces (a newline inside
#: it, a break inside a long word, a leading space left at the end of the line above); an
#: empty text marks a newline, an unfinished character or a hidden space.
Piece = tuple[int, str]

#: A cursor stop on a line: (first cell, cell after the last, unit index).
Stop = tuple[int, int, int]


def _is_blank(text: str) -> bool:
    return not text or text.isspace()


class DocLayout:
    """Units of a branch and their wrapping into lines of at most ``width`` cells."""

    def __init__(self, width: int = 80) -> None:
        self.width = max(4, width)
        self.units: list[Unit] = []
        self.lines: list[list[Piece]] = [[]]
        self.unit_line: list[int] = []  # first line each unit has a piece on
        self.signature: list[tuple[str, int]] = []  # (node id, length) of the laid-out path
        #: Chat turns: the unit each turn starts at -> its role (kept across re-wraps), and
        #: the laid-out marker lines -> their role.
        self.turn_starts: dict[int, str] = {}
        self.markers: dict[int, str] = {}
        self._node_turn: dict[str, str] = {}  # nodes of the path that start a turn
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._clear_lines()

    def _clear_lines(self) -> None:
        self.lines, self.unit_line = [[]], []
        self.markers = {}
        self._x = 0  # cells used on the last line
        # The word the last line ends with (a break may move it down whole): its first
        # piece's index on the line (-1: the line ends in whitespace or is empty), the
        # character where it starts inside that piece, and its first cell.
        self._wpiece, self._wsplit, self._wx = -1, 0, 0

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
            self._add_tokens(node.id, node.tokens[start : sig[-1][1]], start)
            self.signature = sig
            return max(0, first)
        self._reset()
        self._node_turn = _turn_starts(session, path)
        for node in path:
            self._add_node(node)
        self.signature = sig
        return 0

    def relayout(self, width: int) -> None:
        """Re-wrap every unit for a new width."""
        width = max(4, width)
        if width == self.width:
            return
        self.width = width
        self._clear_lines()
        self._place_from(0)

    def _reset(self) -> None:
        self.units = []
        self.turn_starts = {}
        self._clear_lines()
        self._decoder.reset()

    def is_marker(self, line: int) -> bool:
        """Whether ``line`` is a chat turn's marker line (no cursor stop)."""
        return line in self.markers

    def _add_node(self, node: Node) -> None:
        if node.tokens is not None:
            self._add_tokens(node.id, node.tokens, 0)
            return
        self._decoder.reset()  # plain text is whole characters
        first = len(self.units)
        if node.plain and node.id in self._node_turn:
            self.turn_starts[first] = self._node_turn[node.id]
        for m in _WORD.finditer(node.plain):
            self.units.append(Unit(node.id, m.start(), m.end(), visible(m.group())))
        self._place_from(first)

    def _add_tokens(self, node_id: str, tokens: list[Token], start: int) -> None:
        first = len(self.units)
        if start == 0 and tokens and node_id in self._node_turn:
            self.turn_starts[first] = self._node_turn[node_id]
        units = self.units
        decode = self._decoder.decode
        for i, tok in enumerate(tokens, start):
            raw = decode(tok.bytes) if tok.bytes else tok.text
            if not (raw.isprintable() and raw.isascii() and len(raw) <= MAX_TOKEN_CHARS):
                raw = visible(raw, max_chars=MAX_TOKEN_CHARS)
            units.append(Unit(node_id, i, i + 1, raw, tok))
        self._place_from(first)

    def _place_from(self, first: int) -> None:
        """Lay out ``units[first:]``: the hot loop of opening (or re-wrapping) a long
        branch, kept flat, with :meth:`_flow`'s rule for a unit that fits on the line
        inlined for printable ASCII (display text has no other ASCII whitespace than
        spaces)."""
        units, unit_line = self.units, self.unit_line
        width = self.width
        starts = self.turn_starts
        for index in range(first, len(units)):
            if starts and index in starts:
                self._marker(starts[index])
            text = units[index].text
            n = len(text)
            x = self._x
            if text and x + n <= width and text.isascii() and text.isprintable():
                line = self.lines[-1]
                k = text.rfind(" ")
                if k < 0:
                    if self._wpiece < 0:
                        self._wpiece, self._wsplit, self._wx = len(line), 0, x
                elif k == n - 1:
                    self._wpiece = -1
                else:
                    self._wpiece, self._wsplit, self._wx = len(line), k + 1, x + k + 1
                unit_line.append(len(self.lines) - 1)
                line.append((index, text))
                self._x = x + n
            else:
                self._place(index, text)

    def _marker(self, role: str) -> None:
        """A turn's marker line, then a fresh line for the turn's first unit."""
        if self.lines[-1]:
            self.lines.append([])
        self.markers[len(self.lines) - 1] = role
        self.lines.append([])
        self._x, self._wpiece = 0, -1

    def _place(self, index: int, text: str) -> None:
        """Lay out unit ``index`` (already in :attr:`units`) at the end of the document."""
        self.unit_line.append(len(self.lines) - 1)
        if not text:
            self.lines[-1].append((index, ""))  # a cursor stop with no cells
            return
        if "\n" not in text:
            self._flow(index, text)
            return
        for n, part in enumerate(text.split("\n")):
            if n:
                # A newline ends the line; the piece marks where it was (for the cursor).
                self.lines[-1].append((index, ""))
                self.lines.append([])
                self._x, self._wpiece = 0, -1
            if part:
                self._flow(index, part)

    def _flow(self, index: int, text: str) -> None:
        """Place ``text`` (no newline) of unit ``index``: whole when it fits (one piece),
        else run by run (whitespace, words) with breaks between them."""
        width = self.width
        x = self._x
        w = len(text) if text.isascii() else cell_len(text)
        if x + w <= width:
            # Where the last word starts (display text has no ASCII whitespace but spaces).
            k = text.rfind(" ")
            if not text.isascii():
                k = len(text) - 1
                while k >= 0 and not (text[k].isspace() and text[k] not in _NOBREAK):
                    k -= 1
            line = self.lines[-1]
            if k < 0:
                if self._wpiece < 0:
                    self._wpiece, self._wsplit, self._wx = len(line), 0, x
            elif k == len(text) - 1:
                self._wpiece = -1
            else:
                head = text[: k + 1]
                hw = len(head) if head.isascii() else cell_len(head)
                self._wpiece, self._wsplit, self._wx = len(line), k + 1, x + hw
            line.append((index, text))
            self._x = x + w
            return
        for m in _RUNS.finditer(text):
            run = m.group()
            w = len(run) if run.isascii() else cell_len(run)
            x = self._x
            if run[0].isspace() and run[0] not in _NOBREAK:
                self._wpiece = -1
                if x + w > width:
                    # A soft break follows: keep what fits, hide the rest.
                    fit, used = [], x
                    for ch in run:
                        used += cell_len(ch)
                        if used > width:
                            break
                        fit.append(ch)
                    run, w = "".join(fit), width - x
                self.lines[-1].append((index, run))
                self._x = x + w
                continue
            line = self.lines[-1]
            if x + w <= width:
                if self._wpiece < 0:
                    self._wpiece, self._wsplit, self._wx = len(line), 0, x
                line.append((index, run))
                self._x = x + w
            elif self._wpiece >= 0 and self._wx > 0 and x - self._wx + w <= width:
                # The word so far moves down whole and this run follows it.
                self._move_word_down(index)
                self.lines[-1].append((index, run))
                self._x += w
            elif self._wpiece < 0 and x > 0 and w <= width:
                self._new_line(index)
                self.lines[-1].append((index, run))
                self._wpiece, self._wsplit, self._wx = 0, 0, 0
                self._x = w
            else:
                self._break_word(index, run)

    def _new_line(self, index: int) -> None:
        lines = self.lines
        old = len(lines) - 1
        had_piece = bool(lines[-1]) and lines[-1][-1][0] == index
        lines.append([])
        self._x = 0
        if not had_piece and self.unit_line[index] == old:
            self.unit_line[index] = old + 1

    def _move_word_down(self, index: int) -> None:
        """Move the last line's trailing word to a new line of its own; unit ``index`` is
        the one being placed (its next piece goes on the new line)."""
        lines, unit_line = self.lines, self.unit_line
        old = len(lines) - 1
        line = lines[-1]
        start, split = self._wpiece, self._wsplit
        moved = line[start:]
        keep = line[:start]
        if split:
            u, t = moved[0]
            keep.append((u, t[:split]))
            moved[0] = (u, t[split:])
        lines[-1] = keep
        lines.append(moved)
        stays = keep[-1][0] if keep else -1
        for u, _ in moved:
            if u != stays and unit_line[u] == old:
                unit_line[u] = old + 1
        if index != stays and unit_line[index] == old:
            unit_line[index] = old + 1
        self._x -= self._wx
        self._wpiece, self._wsplit, self._wx = 0, 0, 0

    def _break_word(self, index: int, run: str) -> None:
        """A word longer than the line: fill the line and break it by characters."""
        width = self.width
        chunk: list[str] = []
        for ch in run:
            cw = cell_len(ch)
            if self._x + cw > width and (chunk or self._x > 0):
                if chunk:
                    self.lines[-1].append((index, "".join(chunk)))
                    chunk = []
                self._new_line(index)
                self._wpiece, self._wsplit, self._wx = 0, 0, 0
            chunk.append(ch)
            self._x += cw
        if chunk:
            self.lines[-1].append((index, "".join(chunk)))

    # ------------------------------------------------------------------ queries
    def line_count(self) -> int:
        return len(self.lines)

    def unit_at_point(self, node_id: str, offset: int) -> int | None:
        """Index of the unit holding ``(node_id, offset)``, or the last unit before it."""
        best = None
        for i, u in enumerate(self.units):
            if u.node_id == node_id:
                if u.offset <= offset:
                    best = i
                if u.end > offset:
                    break
        return best

    def lines_of_unit(self, index: int) -> range:
        """Lines that show (part of) unit ``index`` (perhaps one more)."""
        first = self.unit_line[index]
        last = self.unit_line[index + 1] if index + 1 < len(self.unit_line) else len(self.lines) - 1
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
        return self.unit_line[index]

    def on_line(self, index: int, line: int) -> bool:
        """Whether unit ``index`` has a piece on ``line``."""
        if not 0 <= line < len(self.lines) or not 0 <= index < len(self.units):
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
        if not self.units:
            return None
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
