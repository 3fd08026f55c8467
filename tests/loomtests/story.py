"""The search tests' story (a prompt and three continuations with fixed ids) and what
they read off the screen: toasts, rendered styles, the tree panel's text, a search typed."""

from __future__ import annotations

from pathlib import Path

from loomtests.ui import screen_text
from loomtests.words import WordsBackend
from loomtui.core.sessionfile import save_session
from loomtui.core.store import SessionStore
from loomtui.core.tokens import Token
from loomtui.core.tree import Node, Session
from loomtui.ui.app import make_app
from loomtui.ui.widgets.token_view import FOUND_HERE_STYLE, FOUND_STYLE
from loomtui.ui.widgets.tree_panel import TreePanel


def toks(*texts: str) -> list[Token]:
    return [Token(t, t.encode(), i, -0.4 - i / 10, (), 1.0) for i, t in enumerate(texts)]


def story() -> Session:
    """A prompt and three continuations (fixed ids): the newest is ``dog``."""
    root = Node(id="root", origin="prompt", created=1.0, children=["prompt"])
    prompt = Node(
        id="prompt",
        parent="root",
        origin="prompt",
        plain="Once upon a time",
        created=2.0,
        children=["cat", "owl", "dog"],
    )
    nodes = [root, prompt]
    for i, (nid, words) in enumerate(
        (
            ("cat", (" the", " cat", " sat", " down", ".")),
            ("owl", (" an", " owl", " flew", " off", ".")),
            ("dog", (" a", " dog", " ran", " after", " the", " cat", ".")),
        )
    ):
        nodes.append(
            Node(
                id=nid,
                parent="prompt",
                origin="model",
                tokens=toks(*words),
                model="m",
                backend="fake",
                created=3.0 + i,
                finish_reason="length",
            )
        )
    return Session({n.id: n for n in nodes}, "root", "owl", meta={"created": 0.0})


def reopen(path: Path):
    store = SessionStore.open(path)
    return store, make_app(store=store, backend=WordsBackend(), new_session=False)


def make(tmp_path: Path) -> Path:
    path = tmp_path / "story.json"
    save_session(story(), path)
    return path


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def styles_of(app, text: str) -> list:
    """The styles of every rendered segment whose text is ``text`` (the whole screen)."""
    strips = app.screen._compositor.render_strips()
    return [seg.style for strip in strips for seg in strip if seg.text == text]


def bg(style) -> tuple | None:
    return None if style.bgcolor is None else tuple(style.bgcolor.get_truecolor())


FOUND, HERE = bg(FOUND_STYLE), bg(FOUND_HERE_STYLE)


def tree_text(app) -> str:
    panel = app.query_one(TreePanel)
    region = panel.region
    lines = screen_text(app).splitlines()[region.y : region.y + region.height]
    return "\n".join(line[region.x : region.x + region.width] for line in lines)


async def search_for(app, pilot, pattern: str, regex: bool = False) -> None:
    await pilot.press("slash")
    await pilot.pause()
    if regex:
        app.screen.query_one("#search-regex").value = True
    await pilot.press(*pattern)
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()
