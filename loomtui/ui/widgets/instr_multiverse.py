"""The block multiverse widget: cursor, zoom and focus over the blocks that
:func:`loomtui.render.instruments.multiverse_blocks` draws (one column per depth, each branch
a block whose height is its path probability, renormalised to the zoomed-in branch)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ...instruments.multiverse import Branch, Multiverse
from ...render.instruments import multiverse_blocks


class MultiverseBlocks(Widget, can_focus=True):
    """Nested blocks. ``zoom`` is the branch the view is renormalised to (None: the prompt);
    ``selected`` is the branch under the cursor."""

    DEFAULT_CSS = "MultiverseBlocks { height: 1fr; }"
    col_width: reactive[int] = reactive(22)

    class Moved(Message):
        """The cursor is on another branch (a block's label may be cut: the screen shows
        the selected path whole)."""

        def __init__(self, selected: Branch | None) -> None:
            super().__init__()
            self.selected = selected

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.mv: Multiverse | None = None
        self.zoom: Branch | None = None
        self.selected: Branch | None = None
        self.message = "expanding…"  # shown until there is a multiverse

    def set_message(self, text: str) -> None:
        """What to show while there is no multiverse (expanding, cancelled)."""
        self.message = text
        self.refresh()

    def set_multiverse(self, mv: Multiverse) -> None:
        self.mv = mv
        self.zoom = None
        self.selected = mv.children[0] if mv.children else None
        self._moved()

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
        self._moved()

    def descend(self) -> None:
        if self.selected is not None and self.selected.children:
            self.selected = self.selected.children[0]
            self._moved()

    def ascend(self) -> None:
        if self.selected is not None and self.selected.parent is not None:
            if self.selected.parent is not self.zoom:
                self.selected = self.selected.parent
                self._moved()

    def zoom_in(self) -> None:
        """Renormalise the view to the selected branch."""
        if self.selected is not None and self.selected.children:
            self.zoom = self.selected
            self.selected = self.selected.children[0]
            self._moved()

    def zoom_out(self) -> None:
        if self.zoom is not None:
            self.selected = self.zoom
            self.zoom = self.zoom.parent
            self._moved()

    def _moved(self) -> None:
        self.refresh()
        self.post_message(self.Moved(self.selected))

    # ------------------------------------------------------------------ drawing
    def render(self) -> Text:
        if self.mv is None:
            return Text(self.message, style="dim")
        return multiverse_blocks(
            self.mv, self.zoom, self.selected, self.size.width, self.size.height, self.col_width
        )
