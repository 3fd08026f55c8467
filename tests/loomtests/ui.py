"""Helpers for the UI tests: a deterministic demo session, waiting, screen text."""

from __future__ import annotations

import asyncio
import time

from loomtests.words import _alts
from loomtui.core.tokens import Token
from loomtui.core.tree import Node, Session


def demo_session() -> Session:
    """A small fixed tree: a prompt, and two model continuations (fixed ids and times)."""
    root = Node(id="root", origin="prompt", created=1.0)
    prompt = Node(
        id="prompt", parent="root", origin="prompt", plain="Once upon a time", created=2.0
    )
    root.children = ["prompt"]

    def toks(start: int, count: int, skew: float) -> list[Token]:
        out = []
        for i in range(count):
            top = _alts(start + i)
            alt = top[(i * 7 + start) % 3]
            lp = alt.logprob - skew * (i % 4)
            out.append(Token(alt.text, alt.bytes, alt.token_id, lp, top, 1.2 + i / 10))
        return out

    g1 = Node(
        id="gen1",
        parent="prompt",
        origin="model",
        tokens=toks(0, 24, 0.8),
        model="fake-model",
        backend="fake",
        created=3.0,
        finish_reason="length",
    )
    g2 = Node(
        id="gen2",
        parent="prompt",
        origin="model",
        tokens=toks(3, 12, 2.0),
        model="fake-model",
        backend="fake",
        created=4.0,
        finish_reason="length",
    )
    prompt.children = ["gen1", "gen2"]
    session = Session(
        nodes={n.id: n for n in (root, prompt, g1, g2)},
        root_id="root",
        current_id="gen1",
        meta={"created": 0.0},
    )
    return session


async def wait_idle(app, pilot, timeout: float = 10.0) -> None:
    """Wait until no generation is running and the messages are processed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while app.cancel_event is not None or app.workers:
        if loop.time() > end:
            raise AssertionError("generation did not finish")
        await pilot.pause(0.02)
    await pilot.pause()


def screen_text(app) -> str:
    """The screen as plain text (what a person would read)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in s) for s in strips)


async def settle(pilot) -> None:
    """Let the app finish what it is doing: messages, then every worker, then messages."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot, cond, timeout: float = 20.0) -> None:
    """Wait (in the app's time) until ``cond()`` holds; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.02)
