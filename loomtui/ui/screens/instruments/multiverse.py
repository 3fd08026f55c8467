"""The block multiverse screen: the top-k futures of the point as blocks sized by
probability; enter inserts the selected path as a branch."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding

from ....core.display import visible_bytes
from ....instruments import multiverse
from ...widgets.instr_multiverse import MultiverseBlocks
from .base import InstrumentInputs, InstrumentScreen, context_before


class MultiverseScreen(InstrumentScreen):
    TITLE_TEXT = "Block multiverse: the likely futures of this point"
    HINT_TEXT = "↑↓ siblings  → child  ← parent  z zoom  x out  enter insert  esc close"
    BINDINGS = [
        *InstrumentScreen.BINDINGS,
        Binding("up", "move(-1)", "Prev", show=False),
        Binding("down", "move(1)", "Next", show=False),
        Binding("right", "child", "Child", show=False),
        Binding("left", "parent", "Parent", show=False),
        Binding("z", "zoom_in", "Zoom in"),
        Binding("x", "zoom_out", "Zoom out"),
        Binding("enter", "insert", "Insert path"),
    ]

    def __init__(self, inputs: InstrumentInputs, depth: int = 3, top_k: int = 4) -> None:
        super().__init__(inputs)
        self.depth, self.top_k = depth, top_k
        self.mv: multiverse.Multiverse | None = None
        self.summary = ""  # the expansion's numbers, before the selected path

    def compose_body(self) -> ComposeResult:
        yield MultiverseBlocks(id="body")

    def begin(self) -> None:
        if self.backend is None:
            self.set_status("no model attached")
            return
        node_id, offset = self.after
        backend = self.backend
        ctx = context_before(self.session, backend, node_id, offset)
        depth, top_k = self.depth, self.top_k
        self.start(
            lambda progress, cancel: multiverse.expand(
                backend, ctx, depth, top_k, progress=progress, cancel=cancel
            ),
            "expanding",
            unit="level",
        )

    def show_result(self, result: multiverse.Multiverse) -> None:
        self.mv = result
        exact = "" if result.exact else " (API: top-k only)"
        self.summary = (
            f"depth {result.depth}, top-{result.top_k}: {result.calls} batched calls{exact}"
        )
        self.set_status(self.summary)
        self._blocks().set_multiverse(result)

    def on_multiverse_blocks_moved(self, event: MultiverseBlocks.Moved) -> None:
        # A block's label is cut to its column: the status has the selected path whole.
        b = event.selected
        if b is None:
            return
        # Bytes joined across tokens; an unfinished character shows as ‹e2 80›.
        text = visible_bytes(b.path_bytes(), keep_newlines=False, keep_tabs=False)
        self.set_status(f"{self.summary}; selected {text!r} {b.prob:.1%}")

    def cancelled(self) -> None:
        self._blocks().set_message("cancelled")

    def _blocks(self) -> MultiverseBlocks:
        return self.query_one(MultiverseBlocks)

    def action_page(self, step: int) -> None:
        self._blocks().move(step)

    def action_move(self, step: int) -> None:
        self._blocks().move(step)

    def action_child(self) -> None:
        self._blocks().descend()

    def action_parent(self) -> None:
        self._blocks().ascend()

    def action_zoom_in(self) -> None:
        self._blocks().zoom_in()

    def action_zoom_out(self) -> None:
        self._blocks().zoom_out()

    def action_insert(self) -> None:
        blocks = self._blocks()
        if self.mv is None or blocks.selected is None:
            return
        node_id, offset = self.after
        info = self.backend.info() if self.backend else None
        node = multiverse.insert_path(
            self.engine,
            node_id,
            offset,
            self.mv,
            blocks.selected,
            model=info.name if info else None,
            backend_kind=info.backend if info else None,
        )
        self.inputs.tree_changed()
        self.dismiss(None)
        self.app.notify(f"inserted {node.text!r} as a branch", markup=False)
