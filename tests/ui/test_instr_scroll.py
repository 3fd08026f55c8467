"""The instrument screens in the loom app at 80x24, driven by keys as a newcomer would:
the probe's whole table and its summary are reachable (End, PageDown, the mouse wheel),
typing goes into a dialog at once, nothing is cut at 80 columns, and a long run shows
"n of N" and stops on Escape without leaving anything half-done in the tree."""

from __future__ import annotations

import asyncio
import re
import time

from loomtests.fakes import FullBackend, SlowBackend
from loomtests.ui import screen_text, settle, until
from textual import events
from textual.widgets import Input

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.ui.app import make_app

SIZE = (80, 24)


def _app(tmp_path, backend):
    session = Session.new("I pick a number:")
    return make_app(session=session, path=tmp_path / "s.json", backend=backend, new_session=False)


async def _ready(app, pilot, tokens: int = 6) -> None:
    await pilot.pause()
    app.engine.generate(
        app.session.current_id, None, GenerationSettings(max_tokens=tokens, temperature=0)
    )
    app.refresh_all()
    await pilot.pause()


def _flat(app) -> str:
    """The screen's text with the frame and line ends taken out (wrapped text rejoined)."""
    lines = [line.strip(" │╭╮╰╯─▊▎▔▁") for line in screen_text(app).splitlines()]
    return re.sub(r"\s+", " ", " ".join(lines))


async def test_probe_1_to_100_scrolls_to_its_summary(tmp_path):
    """The seeds' experiment at 80x24: the answers typed at once (no Tab), 100 rows, and
    End brings the last answer and the covered-mass / entropy / KL line on screen."""
    app = _app(tmp_path, FullBackend())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.focused, Input) and app.focused.id == "answers"
        await pilot.press(*"1-100", "enter")  # the default "1-10" is selected: replaced
        await settle(pilot)
        assert app.screen.query_one("#answers", Input).value == "1-100"
        text = screen_text(app)
        assert "' 1'" in text and "covered" not in text  # the table is longer than the screen
        await pilot.press("end")
        await pilot.pause()
        text = screen_text(app)
        assert "' 100'" in text
        assert re.search(r"covered [\d.]+; H [\d.]+ nats; KL\(u\) [\d.]+", _flat(app))
        await pilot.press("home")
        await pilot.pause()
        assert "' 1'" in screen_text(app) and "covered" not in screen_text(app)


async def test_probe_results_scroll_by_page_and_by_wheel(tmp_path):
    app = _app(tmp_path, FullBackend())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press(*"1-100", "enter")
        await settle(pilot)
        body = app.screen.query_one("#body")
        await pilot.press("pagedown")
        await pilot.pause()
        after_page = body.scroll_y
        assert after_page > 0 and "' 1'" not in screen_text(app)
        await pilot.press("pageup")
        await pilot.pause()
        assert body.scroll_y == 0
        wheel = events.MouseScrollDown(body, 2, 2, 0, 1, 0, False, False, False)
        for _ in range(3):
            body.post_message(wheel)
        await pilot.pause(0.3)
        assert body.scroll_y > 0


async def test_dialogs_take_typing_at_once(tmp_path):
    """Probe, compare and sweep: the first input has the focus when the dialog opens."""
    app = _app(tmp_path, FullBackend())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        app.view.move_cursor(len(app.view.units) - 2)  # on a model token, for the sweep
        await pilot.pause()
        for key, field in (("p", "answers"), ("d", "model_b"), ("w", "edits")):
            await pilot.press(key)
            await settle(pilot)
            await pilot.press(*"ab")
            await pilot.pause()
            typed = app.screen.query_one(f"#{field}", Input)
            assert typed.value == "ab", key
            await pilot.press("escape")
            await settle(pilot)


async def test_nothing_is_cut_at_80_columns(tmp_path):
    """Every instrument screen's title, hint and input placeholders are on screen whole."""
    from loomtui.ui.screens.instruments import INSTRUMENTS
    from loomtui.ui.screens.instruments.base import InstrumentScreen

    app = _app(tmp_path, FullBackend())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        app.view.move_cursor(len(app.view.units) - 2)
        await pilot.pause()
        for name, spec in INSTRUMENTS.items():
            await pilot.press(spec.key)
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, InstrumentScreen), name
            flat = _flat(app)
            texts = [screen.TITLE_TEXT, getattr(screen, "HINT_TEXT", "")]
            texts += [i.placeholder for i in screen.query(Input) if not i.value]
            for text in filter(None, texts):
                assert re.sub(r"\s+", " ", text) in flat, (name, text)
            if name == "multiverse":
                await pilot.press("escape")
            await pilot.press("escape")
            await settle(pilot)


async def test_a_long_probe_shows_progress_and_escape_cancels_it(tmp_path):
    backend = SlowBackend(batch_s=0.25)
    app = _app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("p")
        await settle(pilot)
        before = backend.batches
        await pilot.press(*"1-100", "enter")
        await until(pilot, lambda: "of 100" in screen_text(app))
        assert re.search(r"\b(16|32|48) of 100\b", screen_text(app))
        await pilot.press("escape")
        await settle(pilot)
        assert "cancelled" in screen_text(app)
        assert backend.batches - before < 7  # 100 answers are 7 batches: it stopped early
        assert "' 100'" not in screen_text(app)  # no partial table drawn
        assert app.screen.query_one("#answers", Input)  # still open: a second Escape closes
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query("#answers")


async def test_escape_during_a_sweep_keeps_no_branch(tmp_path):
    """A cancelled sweep takes its branches back: the tree reads as before."""
    backend = SlowBackend(token_s=0.02)
    app = _app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        app.view.move_cursor(len(app.view.units) - 3)
        await pilot.pause()
        session = app.session
        texts = sorted(session.branch_text(n.id) for n in session.leaves())
        await pilot.press("w")
        await until(pilot, lambda: "1 of 5" in screen_text(app))
        await pilot.press("escape")
        await settle(pilot)
        assert "cancelled" in screen_text(app)
        assert sorted(session.branch_text(n.id) for n in session.leaves()) == texts
        assert session.current_id in session


async def test_escape_during_a_multiverse_expansion(tmp_path):
    backend = SlowBackend()
    slow = backend.next_distributions

    def next_distributions(contexts, top_k=20):
        time.sleep(0.3)
        return slow(contexts, top_k)

    backend.next_distributions = next_distributions
    app = _app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        nodes = len(app.session.nodes)
        await pilot.press("v")
        await until(pilot, lambda: "1 of 3" in screen_text(app))
        await pilot.press("escape")
        await settle(pilot)
        assert "cancelled" in screen_text(app)
        assert app.screen.mv is None
        await pilot.press("enter")  # nothing to insert
        await asyncio.sleep(0)
        assert len(app.session.nodes) == nodes
