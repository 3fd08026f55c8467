"""Wrapping a document's units into lines of at most ``width`` cells: the engine under
:class:`loomtui.ui.document.DocLayout` (split from it; the rules are described there).

Units are numbered in the whole branch; the engine lays out ``_units`` (the units from the
branch's unit ``base`` on) and names each piece by its unit's number in the branch, while
``unit_line`` is kept per laid-out unit (``unit_line[i]`` for unit ``base + i``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len

from ..core.tokens import Token

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


class WrapEngine:
    """Lines of pieces, appended to as units are placed at the end of the document."""

    def __init__(self, width: int) -> None:
        self.width = max(4, width)
        self.base = 0  # the branch's number of the first laid-out unit
        self._units: list[Unit] = []
        self.lines: list[list[Piece]] = [[]]
        self.unit_line: list[int] = []  # first line each laid-out unit has a piece on
        #: Chat turns: the unit each turn starts at -> its role (kept across re-wraps), and
        #: the laid-out marker lines -> their role.
        self.turn_starts: dict[int, str] = {}
        self.markers: dict[int, str] = {}
        self._clear_lines()

    def _clear_lines(self) -> None:
        self.lines, self.unit_line = [[]], []
        self.markers = {}
        self._x = 0  # cells used on the last line
        # The word the last line ends with (a break may move it down whole): its first
        # piece's index on the line (-1: the line ends in whitespace or is empty), the
        # character where it starts inside that piece, and its first cell.
        self._wpiece, self._wsplit, self._wx = -1, 0, 0

    def _place_from(self, first: int) -> None:
        """Lay out ``units[first:]``: the hot loop of opening (or re-wrapping) a long
        branch, kept flat, with :meth:`_flow`'s rule for a unit that fits on the line
        inlined for printable ASCII (display text has no other ASCII whitespace than
        spaces)."""
        units, unit_line = self._units, self.unit_line
        width = self.width
        base = self.base
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
                line.append((index + base, text))
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
        """Lay out unit ``index`` (already in :attr:`_units`) at the end of the document."""
        self.unit_line.append(len(self.lines) - 1)
        if not text:
            self.lines[-1].append((index + self.base, ""))  # a cursor stop with no cells
            return
        if "\n" not in text:
            self._flow(index, text)
            return
        for n, part in enumerate(text.split("\n")):
            if n:
                # A newline ends the line; the piece marks where it was (for the cursor).
                self.lines[-1].append((index + self.base, ""))
                self.lines.append([])
                self._x, self._wpiece = 0, -1
            if part:
                self._flow(index, part)

    def _flow(self, index: int, text: str) -> None:
        """Place ``text`` (no newline) of unit ``index``: whole when it fits (one piece),
        else run by run (whitespace, words) with breaks between them."""
        width = self.width
        g = index + self.base  # the unit as pieces name it
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
            line.append((g, text))
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
                self.lines[-1].append((g, run))
                self._x = x + w
                continue
            line = self.lines[-1]
            if x + w <= width:
                if self._wpiece < 0:
                    self._wpiece, self._wsplit, self._wx = len(line), 0, x
                line.append((g, run))
                self._x = x + w
            elif self._wpiece >= 0 and self._wx > 0 and x - self._wx + w <= width:
                # The word so far moves down whole and this run follows it.
                self._move_word_down(index)
                self.lines[-1].append((g, run))
                self._x += w
            elif self._wpiece < 0 and x > 0 and w <= width:
                self._new_line(index)
                self.lines[-1].append((g, run))
                self._wpiece, self._wsplit, self._wx = 0, 0, 0
                self._x = w
            else:
                self._break_word(index, run)

    def _new_line(self, index: int) -> None:
        lines = self.lines
        old = len(lines) - 1
        had_piece = bool(lines[-1]) and lines[-1][-1][0] == index + self.base
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
        base = self.base
        for u, _ in moved:
            if u != stays and unit_line[u - base] == old:
                unit_line[u - base] = old + 1
        if index + base != stays and unit_line[index] == old:
            unit_line[index] = old + 1
        self._x -= self._wx
        self._wpiece, self._wsplit, self._wx = 0, 0, 0

    def _break_word(self, index: int, run: str) -> None:
        """A word longer than the line: fill the line and break it by characters."""
        width = self.width
        g = index + self.base
        chunk: list[str] = []
        for ch in run:
            cw = cell_len(ch)
            if self._x + cw > width and (chunk or self._x > 0):
                if chunk:
                    self.lines[-1].append((g, "".join(chunk)))
                    chunk = []
                self._new_line(index)
                self._wpiece, self._wsplit, self._wx = 0, 0, 0
            chunk.append(ch)
            self._x += cw
        if chunk:
            self.lines[-1].append((g, "".join(chunk)))
