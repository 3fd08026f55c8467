"""Every long instrument run at 80x24 says how far it is ("n of N") and stops on Escape:
the model diff and the replay as well as the probe, sweep and multiverse. A stopped or
failed run leaves no earlier result on screen as if it were its own, and nothing in the
tree. The screens are built from typed inputs on a fake backend slowed down enough to
watch (the numbers themselves are checked in tests/instruments)."""

from __future__ import annotations

import time

from loomtests.fakes import SlowBackend
from loomtests.ui import screen_text, settle, until
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.ui.screens import instruments as ins
from loomtui.ui.screens.instruments.base import InstrumentInputs

SIZE = (80, 24)


class Host(App[None]):
    """A bare app with a session of three generation points; screens see their inputs."""

    def __init__(self, backend) -> None:
        super().__init__()
        self.session = Session.new("I pick a number:")
        self.engine = Engine(self.session, backend)
        first = self.engine.generate(
            self.session.current_id, None, GenerationSettings(max_tokens=6, n=2, seed=1)
        )
        self.engine.generate(
            first.nodes[0].id, None, GenerationSettings(max_tokens=4, temperature=0)
        )
        self.node = first.nodes[0]
        self.refreshed = 0

    def inputs(self) -> InstrumentInputs:
        return InstrumentInputs.at(self.engine, (self.node.id, 2), tree_changed=self.changed)

    def changed(self) -> None:
        self.refreshed += 1

    def compose(self) -> ComposeResult:
        yield Static("host")


async def _open(pilot, name: str, *args) -> None:
    await pilot.app.push_screen(ins.INSTRUMENTS[name].factory(pilot.app.inputs(), *args))
    await pilot.pause()


def _tree(session: Session) -> dict[str, str]:
    return {nid: session.branch_text(nid) for nid in session.nodes}


async def test_model_diff_shows_its_passes_and_escape_cancels_it():
    mine, other = SlowBackend("a", batch_s=0.3), SlowBackend("b", seed=5, batch_s=0.3)
    host = Host(mine)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "compare", other)
        await until(pilot, lambda: "pass 1 of 4" in screen_text(host))
        await pilot.press("escape")
        await settle(pilot)
        text = screen_text(host)
        assert "cancelled" in text and "of 4" not in text
        assert "largest disagreements" not in text  # no table of a half-done diff
        assert mine.batches + other.batches < 4  # it stopped: four passes make a diff
        await pilot.press("escape")  # a second Escape closes
        await pilot.pause()
        assert not host.screen.query("#model_b")


async def test_model_diff_runs_to_its_end_with_progress():
    host = Host(SlowBackend("a", batch_s=0.05))
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "compare", SlowBackend("b", seed=5, batch_s=0.05))
        await until(pilot, lambda: " of 4 (esc cancels)" in screen_text(host))
        await settle(pilot)
        assert "largest disagreements" in screen_text(host)


async def test_replay_shows_its_points_and_escape_cancels_it():
    host = Host(SlowBackend("a"))
    before = _tree(host.session)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "replay", SlowBackend("b", seed=9, token_s=0.08))
        await until(pilot, lambda: "generation point 1 of 2" in screen_text(host))
        await pilot.press("escape")
        await settle(pilot)
        text = screen_text(host)
        assert "cancelled" in text and "replayed" not in text
        assert _tree(host.session) == before and host.refreshed == 0
        assert not any("replay_of" in n.meta for n in host.session.nodes.values())


async def test_replay_from_a_typed_model_is_cancelled_while_it_opens():
    """Escape while the second model is still opening: the replay never starts."""
    opened: list[str] = []

    def open_model(spec: str):
        opened.append(spec)
        time.sleep(0.5)
        return SlowBackend("b", seed=9)

    host = Host(SlowBackend("a"))
    before = _tree(host.session)
    async with host.run_test(size=SIZE) as pilot:
        inputs = InstrumentInputs.at(host.engine, (host.node.id, 2), open_model=open_model)
        await host.push_screen(ins.INSTRUMENTS["replay"].factory(inputs))
        await pilot.pause()
        await pilot.press(*"tiny", "enter")  # the input has the focus
        await until(pilot, lambda: bool(opened))
        assert "opening tiny… (esc cancels)" in screen_text(host)
        await pilot.press("escape")
        await settle(pilot)
        assert opened == ["tiny"] and "cancelled" in screen_text(host)
        assert _tree(host.session) == before


async def test_a_cancelled_probe_takes_the_previous_table_away():
    """1-10 gives a table; 1-100 stopped by Escape must not leave the 1-10 table on screen
    as if it were the answer to 1-100."""
    backend = SlowBackend()
    host = Host(backend)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "probe")
        await settle(pilot)
        assert "' 10'" in screen_text(host) and "covered" in screen_text(host)
        backend.batch_s = 0.3
        await pilot.press("end", "ctrl+u", *"1-100", "enter")
        await until(pilot, lambda: "of 100" in screen_text(host))
        await pilot.press("escape")
        await settle(pilot)
        text = screen_text(host)
        assert "cancelled" in text
        assert "' 10'" not in text and "covered" not in text
        assert host.screen.query_one("#answers", Input).value == "1-100"


async def test_a_failed_probe_takes_the_previous_table_away():
    backend = SlowBackend()
    host = Host(backend)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "probe")
        await settle(pilot)
        assert "covered" in screen_text(host)
        backend.fail = RuntimeError("the server went away")
        await pilot.press("enter")
        await settle(pilot)
        text = " ".join(screen_text(host).split())
        assert "failed: the server went away" in text
        assert "' 10'" not in text and "covered" not in text


async def test_a_cancelled_second_sweep_keeps_the_first_rows_and_says_so():
    """The first sweep's branches are in the tree, so its rows stay; the stopped sweep of
    typed edits adds none, and the screen says the rows are the earlier ones."""
    backend = SlowBackend()
    host = Host(backend)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "sweep")
        await settle(pilot)
        before = _tree(host.session)
        backend.token_s = 0.05
        await pilot.press(*" the dog| a mat| one more", "enter")
        await until(pilot, lambda: "1 of 3" in screen_text(host))
        await pilot.press("escape")
        await settle(pilot)
        flat = " ".join(screen_text(host).split())
        assert "cancelled: the last sweep kept no branch; the rows above are earlier" in flat
        assert "mean 3-gram overlap" in flat  # the first sweep's table is still there
        assert _tree(host.session) == before
        assert "' the dog'" not in flat
