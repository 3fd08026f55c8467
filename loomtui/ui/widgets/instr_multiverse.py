"""The block multiverse drawn in the terminal: one column per depth, each branch a block
whose height is its path probability (renormalised to the zoomed-in branch)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...core.display import visible as _visible
from ...instruments.multiverse import Branch, Multiverse, layout


def visible(text: str) -> str:
    """Model text on one line: newlines and other controls shown as symbols."""
    return _visible(text, keep_newlines=False)


# Two alternating shades per column, so neighbouring blocks are told apart by colour alone.
_SHADES = ("on #2d3f5a", "on #3f5a2d", "on #5a2d3f", "on #5a4a2d")
_OTHER = "on #303030"


class MultiverseBlocks(Widget, can_focus=True):
    """Nested blocks. ``zoom`` is the branch the view is renormalised to (None: the prompt);
    ``selected`` is the branch under the cursor."""

    DEFAULT_CSS = "MultiverseBlocks { height: 1fr; }"
    col_width: reactive[int] = reactive(22)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.mv: Multiverse | None = None
        self.zoom: Branch | None = None
        self.selected: Branch | None = None

    def set_multiverse(self, mv: Multiverse) -> None:
        self.mv = mv
        self.zoom = None
        self.selected = mv.children[0] if mv.children else None
        self.refresh()

    # ------------------------------------------------------------------ navigation
    def roots(self) -> list[Branch]:
        if self.mv is None:
            return []
        return self.zoom.children if self.zoom is not None else self.mv.children

    def siblings(self, b: Branch) -> list[Branch]:
        if b.parent is None:
            return self.mv.children if self.mv else []
        return b.parent.children

    def move(self, step: int) -> None:
        if self.selected is None:
            return
        sibs = self.siblings(self.selected)
        i = sibs.index(self.selected)
        self.selected = sibs[(i + step) % len(sibs)]
        self.refresh()

    def descend(self) -> None:
        if self.selected is not None and self.selected.children:
            self.selected = self.selected.children[0]
            self.refresh()

    def ascend(self) -> None:
        if self.selected is not None and self.selected.parent is not None:
            if self.selected.parent is not self.zoom:
                self.selected = self.selected.parent
                self.refresh()

    def zoom_in(self) -> None:
        """Renormalise the view to the selected branch."""
        if self.selected is not None and self.selected.children:
            self.zoom = self.selected
            self.selected = self.selected.children[0]
            self.refresh()

    def zoom_out(self) -> None:
        if self.zoom is not None:
            self.selected = self.zoom
            self.zoom = self.zoom.parent
            self.refresh()

    # ------------------------------------------------------------------ drawing
    def render(self) -> Text:
        height = max(1, self.size.height)
        width = self.col_width
        if self.mv is None:
            return Text("expanding…", style="dim")
        base = self.zoom.prob if self.zoom is not None else 1.0
        depth = self.mv.depth - (len(self.zoom.path()) if self.zoom is not None else 0)
        cols = max(1, min(depth, max(1, self.size.width // width)))
        grid = [[(" " * width, "")] * cols for _ in range(height)]

        def draw(branches: list[Branch], parent_prob: float, top: int, rows: int, col: int):
            if col >= cols or rows <= 0:
                return
            for n, block in enumerate(layout(branches, parent_prob, rows)):
                if block.rows <= 0:
                    continue
                start = top + block.start
                b = block.branch
                shade = _OTHER if b is None else _SHADES[(n + col) % 2 + (col % 2) * 2]
                style = shade + (" reverse bold" if b is not None and b is self.selected else "")
                share = b.prob / base if b is not None else block.share * parent_prob / base
                label = "·other" if b is None else visible(b.alt.text).replace(" ", "␣")
                head = f"{label[: width - 8]:<{width - 7}}{share:6.1%} "
                for r in range(block.rows):
                    grid[start + r][col] = (head if r == 0 else " " * width, style)
                if b is not None and b.children:
                    draw(b.children, b.prob, start, block.rows, col + 1)

        draw(self.roots(), base, 0, height, 0)
        out = Text(no_wrap=True, overflow="crop")
        for y, row in enumerate(grid):
            for cell, style in row:
                out.append(cell[:width].ljust(width), style=style)
            if y < height - 1:
                out.append("\n")
        return out
