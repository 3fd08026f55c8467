"""The document's layout: the current branch as units (tokens, or words of plain text),
wrapped into lines of cells. Pure Python over the core tree (rich.cells for widths only).

Wrapping is incremental: appending units (streaming tokens) only extends the last line, so a
20,000-token branch is laid out once and each arriving token costs O(its length).
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


#: A piece of a line: (unit index, text)
Piece = tuple[int, str]


class DocLayout:
    """Units of a branch and their wrapping into lines of at most ``width`` cells."""

    def __init__(self, width: int = 80) -> None:
        self.width = max(4, width)
        self.units: list[Unit] = []
        self.lines: list[list[Piece]] = [[]]
        self.unit_line: list[int] = []  # first line each unit appears on
        self._x = 0  # cells used on the last line
        self.signature: list[tuple[str, int]] = []  # (node id, length) of the laid-out path
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
            self._add_tokens(node.id, node.tokens[start : sig[-1][1]], start)
            self.signature = sig
            return max(0, first)
        self._reset()
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
        units = self.units
        self.lines, self.unit_line, self._x, self.units = [[]], [], 0, []
        for unit in units:
            self._place(unit)

    def _reset(self) -> None:
        self.units, self.lines, self.unit_line, self._x = [], [[]], [], 0
        self._decoder.reset()

    def _add_node(self, node: Node) -> None:
        if node.tokens is not None:
            self._add_tokens(node.id, node.tokens, 0)
            return
        self._decoder.reset()  # plain text is whole characters
        for m in _WORD.finditer(node.plain):
            self._add(Unit(node.id, m.start(), m.end(), visible(m.group())))

    def _add_tokens(self, node_id: str, tokens: list[Token], start: int) -> None:
        """The hot loop of opening a long branch: kept flat, with a fast path for tokens
        that are printable, whole-character and fit on the current line."""
        units, lines, unit_line = self.units, self.lines, self.unit_line
        decode = self._decoder.decode
        width = self.width
        for i, tok in enumerate(tokens, start):
            raw = decode(tok.bytes) if tok.bytes else tok.text
            if raw.isprintable() and raw.isascii() and len(raw) <= MAX_TOKEN_CHARS:
                text = raw
                if text and self._x + len(text) <= width:
                    unit_line.append(len(lines) - 1)
                    lines[-1].append((len(units), text))
                    units.append(Unit(node_id, i, i + 1, text, tok))
                    self._x += len(text)
                    continue
            else:
                text = visible(raw, max_chars=MAX_TOKEN_CHARS)
            self._place(Unit(node_id, i, i + 1, text, tok))
            lines = self.lines

    def _add(self, unit: Unit) -> None:
        self._place(unit)

    def _place(self, unit: Unit) -> None:
        index = len(self.units)
        self.units.append(unit)
        lines = self.lines
        self.unit_line.append(len(lines) - 1)
        text = unit.text
        if "\n" not in text:
            # Fast path: most tokens are short, printable and fit on the current line.
            w = len(text) if text.isascii() else cell_len(text)
            if text and self._x + w <= self.width:
                lines[-1].append((index, text))
                self._x += w
            elif text:
                self._place_text(index, text, w)
            else:
                lines[-1].append((index, ""))
            return
        for n, part in enumerate(text.split("\n")):
            if n:
                # A newline ends the line; the piece marks where it was (for the cursor).
                lines[-1].append((index, ""))
                lines.append([])
                self._x = 0
            if part:
                self._place_text(index, part, cell_len(part))

    def _place_text(self, index: int, text: str, w: int) -> None:
        width = self.width
        if self._x + w <= width:
            self.lines[-1].append((index, text))
            self._x += w
            return
        if w <= width and self._x > 0 and not text.isspace():
            # Word wrap: the whole piece moves to the next line.
            self.lines.append([(index, text)])
            self._x = w
            return
        # Too long for any line: break it by characters.
        chunk: list[str] = []
        for ch in text:
            cw = cell_len(ch)
            if self._x + cw > width and (chunk or self._x > 0):
                if chunk:
                    self.lines[-1].append((index, "".join(chunk)))
                    chunk = []
                self.lines.append([])
                self._x = 0
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
        """Lines that show (part of) unit ``index``."""
        first = self.unit_line[index]
        last = self.unit_line[index + 1] if index + 1 < len(self.unit_line) else len(self.lines) - 1
        return range(first, last + 1)
