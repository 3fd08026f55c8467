"""Text from outside is data, never markup: a model name, a server's error body, a session's
file name, a label or a node id holding ``[/]``, ``[/INST]`` or ``[type=..., input_value=...]``
is shown literally in toasts and widgets, and never ends the app with a ``MarkupError``."""

from __future__ import annotations

import asyncio

import pytest
from loomtests.scripted_server import FAKE_KEY, Reply
from loomtests.ui import demo_session, screen_text, wait_idle

from loomtui.backends.openai import open_api_backend
from loomtui.core.store import SessionStore
from loomtui.core.tree import Node
from loomtui.ui.app import make_app

MODEL = "m[/]x"
#: What a llama.cpp chat template and a pydantic validation error put in error bodies.
ERROR = "bad [/INST] prompt: [type=int_parsing, input_value='x', input_type=str]"
#: A title-setting escape (OSC 0) and a bell, as a hostile server might send them.
OSC = "\x1b]0;pwned\x07"
CONFIG = {"ui": {"theme": "green-red"}}


async def _until(pilot, predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("timed out")
        await pilot.pause(0.05)


def _drawn(app) -> str:
    """What the toasts on screen show (their rendered text, one per line), after a frame is
    drawn (a message that is markup fails while drawing)."""
    screen_text(app)
    return "\n".join(toast.render().plain for toast in app.screen.query("Toast"))


def _toasts(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_model_name_and_error_body_from_a_server_are_shown_literally(
    scripted, monkeypatch, tmp_path
):
    monkeypatch.setenv("LOOM_TEST_KEY", FAKE_KEY)
    scripted.model = MODEL
    scripted.script = [Reply(status=400, body={"error": {"message": ERROR + OSC}})]

    def factory(progress):
        return open_api_backend(api_base=scripted.base, api_key_env="LOOM_TEST_KEY")

    app = make_app(demo_session(), backend_factory=factory, config=CONFIG, new_session=False)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await _until(pilot, lambda: app.engine.backend is not None)
        await pilot.pause(0.1)
        assert f"model ready: {MODEL}" in _toasts(app)
        assert f"model ready: {MODEL}" in _drawn(app)  # drawn, literally
        assert MODEL in screen_text(app)  # the status bar
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        await pilot.pause(0.1)
        assert scripted.posts(), "the generation never reached the server"
        assert ERROR + "␛]0;pwned␇" in _drawn(app)
        assert "\x1b" not in _drawn(app) and "\x1b" not in screen_text(app)
        # The failed node keeps the reason, and the info line shows it literally too.
        assert "[/INST]" in screen_text(app)
    assert app.return_code in (None, 0)


async def test_a_session_file_whose_name_is_markup_saves_and_says_so(tmp_path):
    folder = tmp_path / "m["
    folder.mkdir()
    path = folder / "]x\x1b[2J.json"  # m[/]x<erase screen>.json
    with SessionStore.create(path, demo_session()):
        pass
    store = SessionStore.open(path)
    try:
        app = make_app(store=store, config=CONFIG, new_session=False)
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            shown = f"saved {str(path).replace(chr(27), '␛')}"
            assert shown in _toasts(app) and shown in _drawn(app)
            assert "\x1b" not in screen_text(app)
        assert app.return_code in (None, 0)
    finally:
        store.close()


@pytest.mark.parametrize("bad", ["[/]", "[/INST]", "[bold red]loud[/bold red]", "[link=x]y"])
async def test_any_toast_from_a_widget_or_screen_is_plain_text(bad):
    """The class, at its root: Widget.notify passes ``markup=True`` by default; the app's
    notify never parses markup, whoever calls it and whatever it is asked."""
    app = make_app(demo_session(), config=CONFIG, new_session=False)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await pilot.pause()
        app.view.notify(f"from a widget: {bad}")
        app.screen.notify(f"from a screen: {bad}", title=f"title {bad}", markup=True)
        app.notify(f"from the app: {bad}\x1b]0;pwned\x07", markup=True)
        await pilot.pause(0.1)
        shown = _drawn(app)
        assert f"from a widget: {bad}" in shown
        assert f"from a screen: {bad}" in shown and f"title {bad}" in shown
        assert f"from the app: {bad}␛]0;pwned␇" in shown
        assert "\x1b" not in screen_text(app)
    assert app.return_code in (None, 0)


async def test_labels_and_node_ids_holding_markup_are_shown_literally():
    session = demo_session()
    # A node id from an imported or hand-edited file, and a label typed by the user.
    odd = "n[/]1[b]"
    node = Node(
        id=odd, parent="prompt", origin="prompt", plain=" and [/INST] then", created=5.0
    )
    session.nodes[odd] = node
    session.node("prompt").children.append(odd)
    session.current_id = odd
    app = make_app(session, config=CONFIG, new_session=False)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("ctrl+a")  # nothing typed before: the field is empty anyway
        for ch in "[/]lab[b]el":
            await pilot.press(ch if ch.isalnum() else _KEY[ch])
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert session.node(odd).label == "[/]lab[b]el"
        text = screen_text(app)
        assert "[/]lab[b]el" in text  # the branches and tree panels
        assert "[/INST]" in text  # the document
    assert app.return_code in (None, 0)


_KEY = {"[": "left_square_bracket", "]": "right_square_bracket", "/": "slash"}
