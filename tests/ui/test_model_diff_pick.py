"""The model diff (``d``) on a node with several siblings from other models asks which one
to diff against (each in its model's colour, with the start of its text); with one it
opens on it at once, as before; esc leaves the diff empty."""

from __future__ import annotations

from loomtests.ui import screen_text, wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.render.models import MODEL_COLOURS, MODEL_MARK
from loomtui.ui.app import make_app
from loomtui.ui.screens.pick_sibling import SiblingPickScreen

SIZE = (100, 30)


def _app(also: tuple[str, ...], n: int):
    def open_model(entry, progress):
        return WordsBackend(name=f"model-{entry}")

    app = make_app(
        session=Session.new("Once upon a time"),
        backend=WordsBackend(name="model-a"),
        new_session=False,
        config={"model": {"also": list(also)}},
        open_model=open_model,
    )
    app.settings = GenerationSettings(max_tokens=4, n=n)
    return app


async def _grown(app, pilot):
    await pilot.press("ctrl+g")
    await wait_idle(app, pilot)
    session = app.session
    prompt = next(iter(session.children(session.root_id)))
    return session.children(prompt.id)


async def test_several_siblings_from_other_models_are_offered_and_the_pick_is_diffed():
    app = _app(("b", "c"), n=3)  # one continuation each from model-a, model-b, model-c
    async with app.run_test(size=SIZE) as pilot:
        a, b, c = await _grown(app, pilot)
        assert [n.model for n in (a, b, c)] == ["model-a", "model-b", "model-c"]
        app.navigation.go_to(a.id, descend=True)
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SiblingPickScreen)
        text = screen_text(app)
        assert "with which of 2 siblings" in text
        assert f"{MODEL_MARK} model-b: {b.text.strip()}" in text
        assert f"{MODEL_MARK} model-c: {c.text.strip()}" in text
        marks = [
            seg.style.color.triplet.hex
            for strip in app.screen._compositor.render_strips()
            for seg in strip
            if MODEL_MARK in seg.text and seg.style and seg.style.color
        ]
        assert MODEL_COLOURS[1] in marks and MODEL_COLOURS[2] in marks  # each its colour
        await pilot.press("down", "enter")  # model-c's
        await pilot.pause(0.3)
        assert not isinstance(app.screen, SiblingPickScreen)
        text = screen_text(app)
        assert f"A {MODEL_MARK} model-a" in text and f"B {MODEL_MARK} model-c" in text
        assert f"B {MODEL_MARK} model-b" not in text
        assert f"B:{c.text} " in text


async def test_one_sibling_from_another_model_opens_at_once_and_esc_on_the_picker_shows_none():
    app = _app(("b",), n=2)
    async with app.run_test(size=SIZE) as pilot:
        a, b = await _grown(app, pilot)
        app.navigation.go_to(a.id, descend=True)
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, SiblingPickScreen)  # nothing to choose
        assert f"B {MODEL_MARK} model-b" in screen_text(app)
    app = _app(("b", "c"), n=3)
    async with app.run_test(size=SIZE) as pilot:
        a, _, _ = await _grown(app, pilot)
        app.navigation.go_to(a.id, descend=True)
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, SiblingPickScreen)
        assert f"B {MODEL_MARK}" not in screen_text(app)  # no diff shown
