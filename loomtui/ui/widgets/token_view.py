"""The document view: the current branch on Textual's Line API.

Like toolong's log view, each visible line is rendered once into a :class:`Strip` and kept in
an LRU cache; ``virtual_size`` comes from the layout, so scrolling a 20,000-token branch only
renders the lines on screen. Each segment carries its unit index in ``Style(meta=...)``, so a
click resolves to a token with no geometry maths.

The cursor is a unit and the visual line it is on (a unit may span lines); Up/Down keep a goal
column across repeated presses, like an editor, and go to the unit nearest it on the next line.
"""

from __future__ import annotations

from collections import OrderedDict

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...core.scale import Theme, load_theme
from ...core.tree import Session
from ...render.tokens import (
    TURN_STYLE,
    colour_logprob,
    token_style,
    turn_marker,
    unscored_style,
)
from ..document import DocLayout, Unit

_CACHE_LINES = 2000
#: Search matches in the document (ui/finding.py): every match, and the one jumped to.
FOUND_STYLE = Style(color="black", bgcolor="#d7d75f")
FOUND_HERE_STYLE = Style(color="black", bgcolor="#ff8700", bold=True)


class TokenView(ScrollView, can_focus=True):
    """Shows a branch, one colour per token by probability, with a token cursor."""

    BINDINGS = [
        Binding("left", "cursor(-1)", "Prev token", show=False, id="cursor-left"),
        Binding("right", "cursor(1)", "Next token", show=False, id="cursor-right"),
        Binding("up", "line(-1)", "Line up", show=False, id="cursor-up"),
        Binding("down", "line(1)", "Line down", show=False, id="cursor-down"),
        Binding("home", "cursor_home", "Start", show=False, id="cursor-home"),
        Binding("end", "cursor_end", "End", show=False, id="cursor-end"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="page-down"),
        # Only while a search is shown (check_action): otherwise escape is the app's cancel.
        Binding("escape", "clear_found", "Clear search", show=False, id="clear-search"),
    ]

    DEFAULT_CSS = """
    TokenView { background: $surface; }
    """

    cursor: reactive[int] = reactive(-1, always_update=True, layout=False)

    class ClearFound(Message):
        """Escape while search matches are highlighted: the owner forgets the search."""

    class CursorMoved(Message):
        """The token cursor moved to unit ``index`` (-1: empty document)."""

        def __init__(self, view: TokenView, index: int) -> None:
            super().__init__()
            self.view = view
            self.index = index

    def __init__(
        self,
        *,
        theme: Theme | None = None,
        scale_mode: str | None = None,
        color_by: str = "raw",
        **kw,
    ):
        super().__init__(**kw)
        self.layout_ = DocLayout(80)
        self.layout_.on_shift = self._lines_shifted  # earlier text laid out (a long branch)
        self.scale_theme = theme or load_theme()
        self.scale_mode = scale_mode
        #: "raw" or "sampled": which of a token's probabilities colours it (set at start).
        self.color_by = color_by
        self._lines: OrderedDict[int, Strip] = OrderedDict()
        self._styles: dict[tuple[int | None, bool], Style] = {}
        self.follow = True  # keep the cursor at the end while text streams in
        self._pending: tuple[Session, str, int | None] | None = None
        self._base_style: Style | None = None
        self._frame_width = 0
        self._sized = False
        self._cursor_line: int | None = None  # the line Up/Down/a click put the cursor on
        self._goal: int | None = None  # the column Up/Down aim for (kept across presses)
        #: Search matches to highlight: node id -> [(first unit, unit after last)], and the
        #: spans of the match jumped to; ``_found_units`` maps them onto this layout's units.
        self._found: dict[str, list[tuple[int, int]]] = {}
        self._found_here: dict[str, list[tuple[int, int]]] = {}
        self._found_units: dict[int, Style] | None = None

    # ------------------------------------------------------------------ content
    @property
    def units(self) -> list[Unit]:
        return self.layout_.units

    def show(self, session: Session, node_id: str, *, cursor: int | None = None) -> None:
        """Show the branch ending at ``node_id``; incremental when it only grew."""
        if not self.size.width and not self._sized:
            # Never laid out yet: wrap once, when the width is known (on_resize).
            self._pending = (session, node_id, cursor)
            return
        self._pending = None  # this call supersedes a deferred one
        # Hidden (e.g. behind the editor): keep the last width; on_resize re-wraps if needed.
        width = self._wrap_width() if self.size.width else self.layout_.width
        if width != self.layout_.width:
            self.layout_.relayout(width)
            self._lines.clear()
        first = self.layout_.load(session, node_id)
        self._invalidate_from(first)
        self._found_units = None  # units moved: the highlights are placed again
        self.virtual_size = Size(self.layout_.width, self.layout_.line_count())
        n = len(self.units)
        if cursor is not None:
            self.move_cursor(cursor)
        elif self.follow or self.cursor >= n:
            self.move_cursor(n - 1)
        self.refresh()

    def set_theme(self, theme: Theme, scale_mode: str | None = None) -> None:
        """Change the colour scale; every cached line is rebuilt."""
        self.scale_theme = theme
        self.scale_mode = scale_mode
        self._styles.clear()
        self._lines.clear()
        self.refresh()

    def set_found(
        self,
        found: dict[str, list[tuple[int, int]]],
        here: dict[str, list[tuple[int, int]]] | None = None,
    ) -> None:
        """Highlight search matches (node id -> unit ranges), ``here`` the current one."""
        self._found, self._found_here = found, here or {}
        self._found_units = None
        self._lines.clear()
        self.refresh()

    def found_style(self, index: int) -> Style | None:
        """The highlight of unit ``index`` (None: not inside a match)."""
        if not self._found:
            return None
        if self._found_units is None:
            marks: dict[int, Style] = {}
            for found, style in ((self._found, FOUND_STYLE), (self._found_here, FOUND_HERE_STYLE)):
                covered: dict[str, set[int]] = {}
                for nid, spans in found.items():
                    covered[nid] = {x for lo, hi in spans for x in range(lo, hi)}
                for i, u in self.layout_.laid_out():  # (a long branch: its laid-out part)
                    cov = covered.get(u.node_id)
                    if cov and any(x in cov for x in range(u.offset, max(u.end, u.offset + 1))):
                        marks[i] = style
            self._found_units = marks
        return self._found_units.get(index)

    def _wrap_width(self) -> int:
        # Leave room for the vertical scrollbar so wrapping does not change when it appears.
        return (
            max(4, self.size.width - self.styles.scrollbar_size_vertical) if self.size.width else 80
        )

    def _lines_shifted(self, added: int | None) -> None:
        """More of a long branch was laid out: ``added`` lines above the first (every line
        moved down by as many, and the view with them: the same text stays on screen; 0:
        lines only after the last), or None: a fresh part elsewhere (the cursor's move
        scrolls to it)."""
        self._lines.clear()
        self._found_units = None  # highlights are placed on the newly laid-out units too
        if added is None:
            self._cursor_line = None
        elif self._cursor_line is not None:
            self._cursor_line += added
        self.virtual_size = Size(self.layout_.width, self.layout_.line_count())
        if added:
            self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True)

    def _invalidate_from(self, line: int) -> None:
        for key in [k for k in self._lines if k >= line]:
            del self._lines[key]

    def on_resize(self, event: events.Resize) -> None:
        if self.size.width:
            self._sized = True
        if self._pending is not None:
            session, node_id, cursor = self._pending
            self._pending = None
            self.show(session, node_id, cursor=cursor)
            return
        width = self._wrap_width()
        if width != self.layout_.width:
            self.layout_.relayout(width)
            self._lines.clear()
            self.virtual_size = Size(self.layout_.width, self.layout_.line_count())
            self.scroll_to_cursor()

    # ------------------------------------------------------------------ cursor
    def current_unit(self) -> Unit | None:
        if 0 <= self.cursor < len(self.units):
            return self.units[self.cursor]
        return None

    @property
    def cursor_line(self) -> int:
        """The visual line the cursor is on (0 in an empty document)."""
        if not 0 <= self.cursor < len(self.units):
            return 0
        line = self._cursor_line
        if line is not None and self.layout_.on_line(self.cursor, line):
            return line
        return self.layout_.home_line(self.cursor)

    def move_cursor(self, index: int, *, line: int | None = None, keep_goal: bool = False) -> None:
        """Put the cursor on unit ``index`` (on visual ``line`` when given: a unit may span
        lines). Any move but Up/Down forgets the goal column."""
        n = len(self.units)
        index = max(-1 if n == 0 else 0, min(index, n - 1))
        old = self.cursor
        self.cursor = index
        self._cursor_line = line
        if not keep_goal:
            self._goal = None
        self.follow = index == n - 1
        layout = self.layout_
        for i in (old, index):
            # (The old cursor's lines only where they are laid out: a long branch's other
            # parts are not laid out again for it.)
            if 0 <= i < n and (i == index or layout.base <= i < layout.end):
                for line in layout.lines_of_unit(i):
                    self._lines.pop(line, None)
        self.scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self, index))

    def scroll_to_cursor(self) -> None:
        if not 0 <= self.cursor < len(self.units):
            return
        line = self.cursor_line
        top = round(self.scroll_y)
        height = max(1, self.scrollable_content_region.height)
        if line < top:
            if line > 0 and self.layout_.is_marker(line - 1):
                line -= 1  # show the turn's marker above its first line too
            self.scroll_to(y=line, animate=False, immediate=True)
        elif line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False, immediate=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape clears a search shown; while generating it cancels (the app's key)."""
        if action == "clear_found":
            return bool(self._found) and not getattr(self.app, "generating", False)
        return True

    def action_clear_found(self) -> None:
        self.post_message(self.ClearFound())

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor + step)

    def action_cursor_home(self) -> None:
        self.move_cursor(0)

    def action_cursor_end(self) -> None:
        self.move_cursor(len(self.units) - 1)

    def action_line(self, step: int) -> None:
        self._move_lines(step)

    def action_page(self, step: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=self.scroll_y + step * height, animate=False, immediate=True)
        self._move_lines(step * height)

    def _move_lines(self, step: int) -> None:
        if not self.units:
            return
        layout = self.layout_
        line = self.cursor_line
        if self._goal is None:
            self._goal = layout.column(self.cursor, line)
        found = layout.line_step(line, self._goal, step)
        if found is not None:
            self.move_cursor(found[0], line=found[1], keep_goal=True)

    def on_click(self, event: events.Click) -> None:
        unit = event.style.meta.get("u") if event.style else None
        if unit is not None:
            self.move_cursor(int(unit), line=round(self.scroll_y) + event.y)
        self.focus()

    # ------------------------------------------------------------------ rendering
    def _style_for(self, unit: Unit) -> Style:
        tok = unit.token
        lp = None if tok is None else colour_logprob(tok, self.color_by)
        scored = tok is not None
        # 1/20 nat buckets: finer than the scale can show, few enough to stay cached.
        key = (lp if lp is None else round(lp * 20), scored)
        style = self._styles.get(key)
        if style is None:
            theme = self.scale_theme
            style = token_style(theme, lp, self.scale_mode) if scored else unscored_style(theme)
            self._styles[key] = style
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        # rich_style is costly (it walks the CSS); compute it once per frame, not per line.
        self._base_style = self.rich_style
        self._frame_width = self.scrollable_content_region.width
        try:
            return super().render_lines(crop)
        finally:
            self._base_style = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        base = self._base_style
        if base is None:
            base, width = self.rich_style, self.scrollable_content_region.width
        else:
            width = self._frame_width
        strip = self._line(index)
        if strip is None:
            return Strip.blank(width, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _line(self, index: int) -> Strip | None:
        lines = self.layout_.lines
        if not 0 <= index < len(lines):
            return None
        cursor = self.cursor
        cached = self._lines.get(index)
        if cached is not None:
            # Valid: move_cursor() and show() drop the lines they change.
            self._lines.move_to_end(index)
            return cached
        role = self.layout_.markers.get(index)
        if role is not None:
            # A chat turn's marker: quiet, and no unit in its meta (no click target).
            text = turn_marker(role)[: self.layout_.width]
            strip = Strip([Segment(text, TURN_STYLE)])
            self._lines[index] = strip
            return strip
        units = self.units
        cursor_style = Style(reverse=True)
        segments = []
        for u, text in lines[index]:
            style = self._style_for(units[u]) + Style.from_meta({"u": u})
            found = self.found_style(u)
            if found is not None:
                style = style + found
            if u == cursor:
                if not text:
                    text = " "  # show where an empty or newline unit sits
                style = style + cursor_style
            if text:
                segments.append(Segment(text, style))
        strip = Strip(segments)
        self._lines[index] = strip
        while len(self._lines) > _CACHE_LINES:
            self._lines.popitem(last=False)
        return strip
