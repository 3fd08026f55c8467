"""The generation lifecycle (loomtui.ui.generation): driven through the app at 80x24, and on
its own with a host that is not an app (it needs only what GenerationHost declares)."""

from __future__ import annotations

import threading
from typing import Any

from loomtests.ui import screen_text, wait_idle
from loomtests.words import WORDS, WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.ui.app import make_app
from loomtui.ui.generation import Generation
from loomtui.ui.messages import GenerationFinished, TokensArrived

SIZE = (80, 24)


class _Crashing(WordsBackend):
    """Yields two tokens, then raises: a bug in a backend, not a BackendError."""

    def generate(self, context, settings, cancel=None):
        events = super().generate(context, settings, cancel)
        yield next(events)
        yield next(events)
        raise RuntimeError("the backend fell over")


async def test_a_crashing_backend_ends_as_a_failed_generation():
    app = make_app(session=Session.new("Hi"), backend=_Crashing(), new_session=False)
    app.settings = GenerationSettings(max_tokens=6)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert not app.generation.running
        assert app.generation.last == "failed"
        messages = [n.message for n in app._notifications]
        assert any("RuntimeError: the backend fell over" in m for m in messages)
        assert "failed" in screen_text(app)
        # The app still works: the next generation (a healthy backend) runs.
        app.engine.backend = WordsBackend()
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert app.generation.last.startswith("done: 6 tok")


async def test_a_press_while_loading_is_dropped_when_the_load_fails():
    gate = threading.Event()

    def failing(progress):
        gate.wait(20)
        raise OSError("no such model")

    app = make_app(session=Session.new("Hi"), backend_factory=failing, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        await pilot.press("ctrl+g")
        assert app.generation.queued == (app.session.current_id, None)
        gate.set()
        for _ in range(200):
            await pilot.pause(0.02)
            if not app.loading:
                break
        await wait_idle(app, pilot)
        assert len(app.session.nodes) == 2  # nothing generated
        assert "no model (load failed)" in screen_text(app)


class _Host:
    """Not an app: runs the worker inline and records what it is told."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = GenerationSettings(max_tokens=3)
        self.loading: str | None = "loading"
        self.messages: list[Any] = []
        self.notes: list[str] = []
        self.events: list[str] = []

    def run_worker(self, work, **kw):
        work()

    def post_message(self, message) -> bool:
        self.messages.append(message)
        return True

    def notify(self, message, **kw) -> None:
        self.notes.append(message)

    def generation_started(self) -> None:
        self.events.append("started")

    def tokens_shown(self) -> None:
        self.events.append("tokens")

    def generation_ended(self) -> None:
        self.events.append("ended")


def test_the_lifecycle_needs_no_app():
    session = Session.new("Hi")
    host = _Host(Engine(session, None))
    gen = Generation(host)
    gen.request((session.current_id, None))  # still loading: remembered
    assert gen.queued == (session.current_id, None) and not host.messages
    host.engine.backend = WordsBackend()
    host.loading = None
    gen.model_ready()  # the queued press starts, from the whole prompt
    assert host.events == ["started"] and gen.running
    assert isinstance(host.messages[0], TokensArrived)  # coalesced: one for three tokens
    assert [type(m) for m in host.messages[1:]] == [GenerationFinished]
    gen.tokens_arrived()
    gen.finished(host.messages[-1])
    assert host.events == ["started", "tokens", "ended"]
    assert not gen.running and gen.last.startswith("done: 3 tok")
    assert session.branch_text(session.current_id) == "Hi" + "".join(WORDS[:3])
    assert gen.cancel() is False  # nothing to cancel now
