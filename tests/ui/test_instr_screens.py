"""Snapshot tests of the instrument screens at 80x24, on the deterministic fake backend (the
screens are what is under test here; the numbers are checked against the real model
elsewhere). The screens are built from typed inputs, never from an app."""

from __future__ import annotations

import html

from textual.app import App, ComposeResult
from textual.widgets import Static

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.ui.screens import instruments as ins
from loomtui.ui.screens.instruments.base import InstrumentInputs, InstrumentScreen
from loomtui.ui.widgets.instr_multiverse import MultiverseBlocks

SIZE = (80, 24)


class Host(App[None]):
    """A bare app with a session and an engine; the screens see only their inputs."""

    def __init__(self, backend, point_offset: int | None = 2) -> None:
        super().__init__()
        self.session = Session.new("The cat")
        self.engine = Engine(self.session, backend)
        gen = self.engine.generate(
            self.session.current_id, None, GenerationSettings(max_tokens=12, temperature=0)
        )
        self.node = gen.nodes[0]
        self.offset = point_offset
        self.refreshed = 0
        self.jumps: list[tuple[str, int]] = []

    def inputs(self) -> InstrumentInputs:
        return InstrumentInputs.at(
            self.engine,
            (self.node.id, self.offset),
            tree_changed=self.refresh_all,
            jump_to=lambda node_id, offset: self.jumps.append((node_id, offset)),
        )

    def refresh_all(self) -> None:
        self.refreshed += 1

    def compose(self) -> ComposeResult:
        yield Static("host")


async def _open(pilot, name: str, *args) -> None:
    app = pilot.app
    screen = ins.INSTRUMENTS[name].factory(app.inputs(), *args)
    await app.push_screen(screen)
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_instruments_registry():
    keys = [spec.key for spec in ins.INSTRUMENTS.values()]
    assert len(set(keys)) == len(keys)
    assert {"multiverse", "probe", "compare", "sweep", "entropy"} <= set(ins.INSTRUMENTS)


def test_multiverse_screen(snap_compare, fake):
    async def run(pilot):
        await _open(pilot, "multiverse")
        await pilot.press("down", "right")

    assert snap_compare(Host(fake), terminal_size=SIZE, run_before=run)


async def test_multiverse_zoom_and_insert(fake):
    host = Host(fake)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "multiverse")
        screen = host.screen
        blocks = screen.query_one(MultiverseBlocks)
        await pilot.press("down", "z")
        assert blocks.zoom is screen.mv.children[1]
        chosen = blocks.selected
        await pilot.press("enter")
        await pilot.pause()
        new = host.session.current
        assert new.text == chosen.path_bytes().decode()
        assert host.session.branch_text(new.id).startswith("The cat")
        assert host.refreshed == 1


def test_probe_screen(snap_compare, fake):
    async def run(pilot):
        await _open(pilot, "probe")

    assert snap_compare(Host(fake), terminal_size=SIZE, run_before=run)


def test_compare_screen(snap_compare, fake, make_fake):
    async def run(pilot):
        await _open(pilot, "compare", make_fake("other", seed=5))

    assert snap_compare(Host(fake), terminal_size=SIZE, run_before=run)


def test_sweep_screen(snap_compare, fake):
    host = Host(fake)

    async def run(pilot):
        await _open(pilot, "sweep")

    assert snap_compare(host, terminal_size=SIZE, run_before=run)
    assert host.refreshed == 1 and len(host.session.leaves()) >= 5


async def test_sweep_screen_tries_typed_edits(fake):
    """Edits typed in the sweep screen become branches beside the original token and the
    alternatives, each continued greedily; the table lists them all."""
    host = Host(fake)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "sweep")
        screen = host.screen
        first = len(screen.variants)
        original = next(v for v in screen.variants if v.is_original)
        head = host.session.node(original.node_id).parent
        await pilot.press(*" the dog| a mat", "enter")  # the input has the focus
        await pilot.pause()
        await host.workers.wait_for_complete()
        await pilot.pause()
        edits = [n for n in host.session.children(head) if n.tokens is None]
        assert sorted(n.plain for n in edits) == [" a mat", " the dog"]
        assert all(n.children and host.session.node(n.children[0]).tokens for n in edits)
        assert len(screen.variants) == first + 2 and host.refreshed == 2
        assert sum(v.is_original for v in screen.variants) == 1  # not continued twice
        shown = html.unescape(host.export_screenshot()).replace("\xa0", " ")
        assert "' the dog'" in shown and "' a mat'" in shown


def test_entropy_screen(snap_compare, fake):
    async def run(pilot):
        await _open(pilot, "entropy")

    assert snap_compare(Host(fake), terminal_size=SIZE, run_before=run)


async def test_entropy_jump_cycles_from_the_cursor(fake):
    """n jumps to the most uncertain token, and from there (the cursor now on it) to the
    next one: the cycle needs no memory in the app."""
    host = Host(fake, point_offset=None)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "entropy")
        await pilot.press("n")
        await pilot.pause()
        assert len(host.jumps) == 1 and not isinstance(host.screen, InstrumentScreen)
        host.node, host.offset = host.session.node(host.jumps[0][0]), host.jumps[0][1]
        await _open(pilot, "entropy")
        await pilot.press("n")
        await pilot.pause()
        assert len(host.jumps) == 2 and host.jumps[1] != host.jumps[0]


async def test_instrument_keys_in_the_real_app(fake, tmp_path):
    """In the loom app, each instrument's key opens its screen from the cursor, and the
    multiverse's enter inserts a branch the app's tree then shows."""
    from loomtui.ui.app import make_app

    session = Session.new("The cat")
    app = make_app(session=session, path=tmp_path / "s.json", backend=fake, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.engine.generate(
            session.current_id, None, GenerationSettings(max_tokens=5, temperature=0)
        )
        app.refresh_all()
        await pilot.pause()
        for name, spec in ins.INSTRUMENTS.items():
            await pilot.press(spec.key)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, InstrumentScreen), name
            if name == "multiverse":
                before = len(session.nodes)
                await pilot.press("enter")
                await pilot.pause()
                assert len(session.nodes) > before
                assert session.current.settings["instrument"] == "multiverse"
            else:
                await pilot.press("escape")
                await pilot.pause()


def test_replay_screen(snap_compare, fake, make_fake):
    host = Host(fake)

    async def run(pilot):
        await _open(pilot, "replay", make_fake("new", seed=9))

    assert snap_compare(host, terminal_size=SIZE, run_before=run)
    replayed = [n for n in host.session.nodes.values() if "replay_of" in n.meta]
    assert len(replayed) == 1 and replayed[0].model == "new"
    assert host.refreshed == 1


def test_probe_screen_1_to_100_at_its_end(snap_compare, fake):
    """The seeds' experiment: 100 answers typed at once, scrolled to the summary."""

    async def run(pilot):
        await _open(pilot, "probe")
        await pilot.press(*"1-100", "enter")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()

    assert snap_compare(Host(fake), terminal_size=SIZE, run_before=run)


def test_probe_screen_side_by_side(snap_compare, fake):
    """Two prompts side by side fit 80 columns (narrower bars)."""

    async def run(pilot):
        await _open(pilot, "probe")
        await pilot.press("tab", *"The cat", "enter")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(Host(fake), terminal_size=SIZE, run_before=run)


async def test_multiverse_status_shows_the_selected_path_whole(fake):
    """A block's label is cut to its column (and marked "…"); the status line has the
    selected path whole, bytes joined across tokens, and follows the cursor."""
    from loomtests.ui import screen_text

    from loomtui.core.display import visible_bytes
    from loomtui.core.tokens import Alt

    def shown(branch) -> str:
        return visible_bytes(branch.path_bytes(), keep_newlines=False, keep_tabs=False)

    host = Host(fake)
    async with host.run_test(size=SIZE) as pilot:
        await _open(pilot, "multiverse")
        screen = host.screen
        blocks = screen.query_one(MultiverseBlocks)
        first = screen.mv.children[0]
        assert f"selected {shown(first)!r}" in screen_text(host)
        await pilot.press("down")
        second = screen.mv.children[1]
        assert blocks.selected is second
        assert f"selected {shown(second)!r}" in screen_text(host)
        # A long token: cut in its block (marked), whole in the status once selected.
        word = " antidisestablishmentarianism"
        second.alt = Alt(word, word.encode(), None, second.alt.logprob)
        await pilot.press("right", "left")
        await pilot.pause()
        text = screen_text(host)
        assert (
            "␣antidisestab…" in text
            and "antidisestablishmentarianism'" not in text.split("selected")[0]
        )
        flat = " ".join(text.split())
        assert f"selected '{word}'" in flat
