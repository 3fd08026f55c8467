"""The adaptive looming screen in the app: opened by its key (A) at the cursor, the four
settings typed, enter grows the tree (progress "node n of N"), the new nodes land in the
session and the tree panel, a table lists the branch points; Escape cancels a run and
nothing is kept. On the fake backends (the numbers are checked in tests/instruments)."""

from __future__ import annotations

import re

from loomtests.fakes import FullBackend, SlowBackend
from loomtests.ui import screen_text, settle, until
from textual.widgets import Input

from loomtui.backends.base import GenerationSettings
from loomtui.core.sessionfile import load_session
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.screens.instruments import INSTRUMENTS
from loomtui.ui.screens.instruments.adaptive import AdaptiveScreen

SIZE = (80, 24)


def _app(tmp_path, backend):
    return make_app(
        session=Session.new("The cat"),
        path=tmp_path / "s.json",
        backend=backend,
        new_session=False,
    )


async def _ready(app, pilot):
    await pilot.pause()
    app.engine.generate(
        app.session.current_id, None, GenerationSettings(max_tokens=4, temperature=0)
    )
    app.refresh_all()
    await pilot.pause()


async def _set(pilot, field: str, value: str) -> None:
    box = pilot.app.screen.query_one(f"#{field}", Input)
    box.value = value
    await pilot.pause()


def _grown(session):
    return [n for n in session.nodes.values() if "adaptive" in n.meta]


async def test_the_key_grows_a_tree_from_the_cursor(tmp_path):
    app = _app(tmp_path, FullBackend())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        assert INSTRUMENTS["adaptive"].key == "A"
        await pilot.press("A")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AdaptiveScreen)
        assert app.focused is screen.query_one("#ad-entropy", Input)
        assert not _grown(app.session)  # nothing runs before enter
        await _set(pilot, "ad-entropy", "1.5")
        await _set(pilot, "ad-top", "2")
        await _set(pilot, "ad-depth", "2")
        await _set(pilot, "ad-tokens", "5")
        await pilot.press("enter")
        await settle(pilot)
        grown = _grown(app.session)
        text = screen_text(app)
        assert grown and f"{len(grown)} nodes added to the tree" in text
        points = [n for n in grown if n.finish_reason == "branch"]
        assert points and "entropy" in text and "branch points" in text
        assert all(len(app.session.children(p.id)) == 2 for p in points)
        assert max(n.meta["adaptive"]["depth"] for n in grown) <= 2
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is not screen
    # Saved with the session, each node with why it ended.
    saved = _grown(load_session(tmp_path / "s.json"))
    assert sorted(n.meta["adaptive"]["reason"] for n in saved) == sorted(
        n.meta["adaptive"]["reason"] for n in grown
    )


async def test_a_bad_number_is_said_and_nothing_runs(tmp_path):
    app = _app(tmp_path, FullBackend())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("A")
        await settle(pilot)
        await _set(pilot, "ad-top", "three")
        await pilot.press("enter")
        await settle(pilot)
        assert "K must be a number, not 'three'" in screen_text(app)
        assert not _grown(app.session)


async def test_escape_cancels_a_run_and_keeps_nothing(tmp_path):
    backend = SlowBackend(token_s=0.1)
    app = _app(tmp_path, backend)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        before = set(app.session.nodes)
        await pilot.press("A")
        await settle(pilot)
        await _set(pilot, "ad-entropy", "1.0")
        await _set(pilot, "ad-tokens", "8")
        await pilot.press("enter")
        await until(pilot, lambda: re.search(r"growing: node \d+ of 13", screen_text(app)))
        await pilot.press("escape")
        await settle(pilot)
        assert "cancelled" in screen_text(app)
        assert set(app.session.nodes) == before and not _grown(app.session)
