"""The mode-collapse screen on the fake models: built from typed inputs (no app), it runs
at the point, draws the report, keeps the samples as branches marked by model and tells
the owner the tree changed; Escape during a run takes every branch back."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Static

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.ui.screens.instruments.base import InstrumentInputs, ResultView
from loomtui.ui.screens.instruments.collapse import CollapseScreen


class Host(App[None]):
    def __init__(self, backend) -> None:
        super().__init__()
        self.session = Session.new("The cat")
        self.engine = Engine(self.session, backend)
        gen = self.engine.generate(
            self.session.current_id, None, GenerationSettings(max_tokens=6, temperature=0)
        )
        self.node = gen.nodes[0]
        self.changed = 0

    def inputs(self) -> InstrumentInputs:
        return InstrumentInputs.at(self.engine, (self.node.id, 2), tree_changed=self.bump)

    def bump(self) -> None:
        self.changed += 1

    def compose(self) -> ComposeResult:
        yield Static("host")


async def test_collapse_screen_runs_at_the_point_and_keeps_branches(make_fake):
    a, b = make_fake(name="base", seed=1), make_fake(name="tuned", seed=2)
    host = Host(a)
    async with host.run_test(size=(120, 40)) as pilot:
        before = set(host.session.nodes)
        await host.push_screen(
            CollapseScreen(host.inputs(), b, n=3, temperatures=(1.0,), max_tokens=3)
        )
        await pilot.pause()
        await host.workers.wait_for_complete()
        await pilot.pause()
        body = host.screen.query_one(ResultView).query_one("#result", Static)
        console = Console(width=110, record=True, file=io.StringIO())
        console.print(body.content)
        shown = console.export_text()
        assert "A base" in shown and "B tuned" in shown and "KL(A‖B)" in shown
        assert host.changed == 1
        # The point was after the cursor's token (offset 3): the node was cut there and
        # the samples hang below the head, 3 samples + 1 greedy per model.
        head = host.session.node(host.node.id)
        assert len(head.tokens) == 3
        new = [host.session.nodes[n] for n in set(host.session.nodes) - before]
        below = [n for n in new if n.parent == head.id and n.meta.get("collapse")]
        assert sorted(n.model for n in below) == ["base"] * 4 + ["tuned"] * 4
