"""The adaptive looming screen: from the cursor, decode greedily and branch into the top-K
alternatives wherever the model is unsure; the grown tree lands in the session and a table
lists its branch points and why each branch ended."""

from __future__ import annotations

import threading
from collections import Counter

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input

from ....core.display import visible
from ....instruments import adaptive
from ....instruments.progress import Progress
from .base import InstrumentInputs, InstrumentScreen

#: (input id, the setting it sets, its default, how to read it)
FIELDS: tuple[tuple[str, str, str, type], ...] = (
    ("ad-entropy", "H", "2.0", float),
    ("ad-top", "K", "3", int),
    ("ad-depth", "D", "2", int),
    ("ad-tokens", "T", "24", int),
)


def _tail(text: str, width: int = 28) -> str:
    """The end of a node's text on one line, control characters made visible."""
    line = visible(text, keep_newlines=False)
    return line if len(line) <= width else "…" + line[-(width - 1) :]


def result_view(result: adaptive.AdaptiveResult) -> Group:
    """The branch points (where, how unsure, the children's first tokens) and a count of
    why the other branches ended. Model text is data: plain Text, controls visible."""
    table = Table(box=None, pad_edge=False, expand=False)
    table.add_column("depth", justify="right")
    table.add_column("branch ends with")
    table.add_column("why")
    table.add_column("children start")
    for g in result.branch_points():
        kids = " | ".join(visible(k.text or "⏎end", keep_newlines=False) for k in g.children)
        where = _tail(g.text) if g.tokens else "(the cursor)"
        table.add_row(Text(str(g.depth)), Text(where), Text(str(g.reason)), Text(kids))
    ends = Counter(str(g.reason) for g in result.kept() if g.finish_reason != "branch")
    kind = "exact entropy" if result.exact else "entropy lower bounds (top-k lists)"
    how = "batched" if result.batched else "one branch at a time"
    summary = Text(
        f"{len(result.kept())} nodes, {len(result.branch_points())} branch points, "
        f"{result.tokens} tokens; {result.model_calls} model calls ({how}, {kind}), "
        f"{result.elapsed_s:.1f} s\n"
        "other branches ended: " + ", ".join(f"{n} {why}" for why, n in ends.most_common())
    )
    if not result.branch_points():
        return Group(summary, Text("no branch point: the model was sure all the way"))
    return Group(table, summary)


class AdaptiveScreen(InstrumentScreen):
    TITLE_TEXT = "Adaptive looming: greedy, branching where the model is unsure"
    HINT_TEXT = (
        "H entropy (nats), K children, D branch points deep, T tokens per node; "
        "enter grows the tree from the cursor; esc cancels (nothing kept) or closes"
    )
    DEFAULT_CSS = """
    AdaptiveScreen #ad-inputs { height: 3; }
    AdaptiveScreen #ad-inputs Input { width: 1fr; }
    """

    def __init__(self, inputs: InstrumentInputs, max_nodes: int = 64) -> None:
        super().__init__(inputs)
        self.max_nodes = max_nodes
        self.result: adaptive.AdaptiveResult | None = None
        self.point_run: tuple[str, int | None] | None = None

    def compose_inputs(self) -> ComposeResult:
        with Horizontal(id="ad-inputs"):
            for field_id, name, default, _ in FIELDS:
                yield Input(value=default, placeholder=name, id=field_id, tooltip=name)

    def begin(self) -> None:
        self.show(Text("enter grows the tree from the cursor (the new nodes go in the session)"))

    def settings(self) -> adaptive.AdaptiveSettings:
        """The typed settings (ValueError with a line to show when one is not a number)."""
        values: dict[str, float | int] = {}
        for field_id, name, _, kind in FIELDS:
            raw = self.query_one(f"#{field_id}", Input).value.strip()
            try:
                values[name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None
        settings = adaptive.AdaptiveSettings(
            entropy=float(values["H"]),
            top_k=int(values["K"]),
            max_depth=int(values["D"]),
            max_tokens=int(values["T"]),
            max_nodes=self.max_nodes,
        )
        settings.check()
        return settings

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.run_loom()

    def run_loom(self) -> None:
        if self.running is not None:
            self.set_status("still growing: esc cancels it")
            return
        try:
            settings = self.settings()
        except ValueError as exc:
            self.set_status(str(exc))
            return
        engine = self.engine
        node_id, offset = self.after
        self.point_run = (node_id, offset)

        def work(progress: Progress, cancel: threading.Event) -> adaptive.AdaptiveResult:
            return adaptive.loom(
                engine, node_id, offset, settings, progress=progress, cancel=cancel
            )

        self.start(work, "growing", unit="node")

    def show_result(self, result: adaptive.AdaptiveResult) -> None:
        # The worker computed; the tree is changed here, on the app's thread, in one go.
        assert self.point_run is not None
        node_id, offset = self.point_run
        if node_id not in self.session:
            self.set_status("the point is gone from the tree: nothing added")
            return
        adaptive.commit(self.engine, node_id, offset, result)
        self.result = result
        # The node may have been cut at the point: growing again adds beside this tree.
        if offset is not None and offset > 0:
            self.after = (node_id, None)
        self.show(result_view(result))
        self.set_status(f"{len(result.kept())} nodes added to the tree")
        self.inputs.tree_changed()
