"""The attractor sweep screen: the token under the cursor replaced by its alternatives (or
typed edits), each continued greedily, and where the futures meet again."""

from __future__ import annotations

import threading

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input

from ....instruments import sweep
from ....instruments.progress import Progress
from ....render.instruments import sweep_rows
from .base import InstrumentInputs, InstrumentScreen


class SweepScreen(InstrumentScreen):
    TITLE_TEXT = "Attractor sweep: this token swapped for its alternatives"
    HINT_TEXT = "each variant continued greedily; esc cancels (no branch kept) or closes"

    def __init__(self, inputs: InstrumentInputs, top_k: int = 4, max_tokens: int = 32) -> None:
        super().__init__(inputs)
        self.top_k, self.max_tokens = top_k, max_tokens
        self.variants: list[sweep.Variant] = []
        self.origin: tuple[str, int] | None = None  # the original token, once split off
        self.shown: sweep.SweepResult | None = None  # every finished sweep's variants

    def compose_inputs(self) -> ComposeResult:
        yield Input(placeholder="edits to try instead, separated by |; enter", id="edits")

    def begin(self) -> None:
        self.sweep_from(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        edits = [e for e in event.value.split("|") if e.strip()]
        if edits:
            self.sweep_from(edits)
            event.input.value = ""

    def sweep_from(self, edits: list[str] | None) -> None:
        """Sweep the token under the cursor; once a first sweep has split it off into its
        own node, later ones (typed edits) branch beside it without re-running it."""
        if self.running is not None:
            self.set_status("a sweep is still running: try the edits when it is done")
            return
        if self.origin is not None:
            self.run_sweep(*self.origin, edits, include_original=False)
            return
        node_id, offset = self.point
        node = self.session.node(node_id)
        if node.tokens is None or offset is None or offset >= len(node.tokens):
            self.set_status("put the cursor on a model token to sweep it")
            return
        self.run_sweep(node_id, offset, edits, include_original=True)

    def run_sweep(
        self, node_id: str, offset: int, edits: list[str] | None, *, include_original: bool
    ) -> None:
        engine, top_k, max_tokens = self.engine, self.top_k, self.max_tokens

        def work(progress: Progress, cancel: threading.Event) -> sweep.SweepResult:
            return sweep.sweep(
                engine,
                node_id,
                offset,
                top_k,
                edits=edits,
                max_tokens=max_tokens,
                include_original=include_original,
                progress=progress,
                cancel=cancel,
            )

        self.start(work, "continuing variants greedily")

    def show_result(self, result: sweep.SweepResult) -> None:
        for v in result.variants:
            if v.is_original:
                self.origin = (v.node_id, 0)
        self.variants.extend(result.variants)
        shown = sweep.SweepResult(
            variants=self.variants, head_id=result.head_id, ngram=result.ngram
        )
        self.shown = shown
        self.show(sweep_rows(shown))
        self.set_status(f"{len(result.variants)} branches added")
        self.inputs.tree_changed()

    def cancelled(self) -> None:
        self.inputs.tree_changed()  # the sweep took back its branches: show the tree as it is
        if self.shown is None:
            super().cancelled()
            return
        # The rows of earlier sweeps stay (their branches are in the tree); the stopped
        # run's are not among them, and the table says so.
        note = Text("cancelled: the last sweep kept no branch; the rows above are earlier")
        self.show(Group(sweep_rows(self.shown), note))
