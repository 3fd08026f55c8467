"""Several models in the app (issue 16): ctrl+g spreads the continuations over the model list
(``[model] also``, the settings dialog), the extra model loads on the worker the first time,
and at 80x24 the branch panel and the tree mark each node in its model's colour, with a
legend naming each model in its colour."""

from __future__ import annotations

import threading

import pytest
from loomtests.ui import screen_text, wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.config import as_config
from loomtui.core.display import visible
from loomtui.core.errors import LoomError
from loomtui.core.tree import Session
from loomtui.render.models import MODEL_COLOURS, MODEL_MARK, ModelColours, model_legend
from loomtui.ui.app import make_app
from loomtui.ui.widgets.branches import BranchPanel
from loomtui.ui.widgets.tree_panel import TreePanel

SIZE = (80, 24)
HOSTILE = "evil[bold red]\x1b[31m"  # a model name is data: never markup, escapes shown


def _marks(app, widget) -> dict[int, set[str]]:
    """Screen row -> the colours of the model marks drawn there, inside ``widget``."""
    region = widget.region
    strips = app.screen._compositor.render_strips()
    out: dict[int, set[str]] = {}
    for y in range(region.y, region.bottom):
        x = 0
        for seg in strips[y]:
            if region.x <= x < region.right and MODEL_MARK in seg.text and seg.style:
                color = seg.style.color
                if color is not None:
                    out.setdefault(y, set()).add(color.triplet.hex if color.triplet else "")
            x += seg.cell_length
    return out


def _rows(app) -> list[str]:
    return screen_text(app).splitlines()


def _app(also=("b",), opener=None, n=2):
    opened: list[str] = []

    def open_model(entry, progress):
        opened.append(entry)
        progress("reading weights", 0.5)
        return WordsBackend(name="model-b" if entry == "b" else HOSTILE)

    app = make_app(
        session=Session.new("Once upon a time"),
        backend=WordsBackend(name="model-a"),
        new_session=False,
        config={"model": {"also": list(also)}},
        open_model=opener or open_model,
    )
    app.settings = GenerationSettings(max_tokens=4, n=n)
    return app, opened


async def test_two_models_siblings_show_two_colours_and_a_legend_at_80x24():
    app, opened = _app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        # one model so far: no marks, no legend (nothing to tell apart)
        assert not _marks(app, app.query_one(BranchPanel))
        assert not app.query_one("#model-legend").display
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        await pilot.pause()
        assert opened == ["b"]  # loaded once, on the worker, the first time
        session = app.session
        prompt = next(iter(session.children(session.root_id)))
        kids = session.children(prompt.id)
        assert [n.model for n in kids] == ["model-a", "model-b"]
        a, b = MODEL_COLOURS[0], MODEL_COLOURS[1]
        branch = _marks(app, app.query_one(BranchPanel))
        assert sorted(c for cs in branch.values() for c in cs) == [a, b]  # one row each
        tree = _marks(app, app.query_one(TreePanel))
        assert {c for cs in tree.values() for c in cs} == {a, b}
        rows = _rows(app)
        legend_a = [r for r in rows if f"{MODEL_MARK} model-a" in r]
        legend_b = [r for r in rows if f"{MODEL_MARK} model-b" in r]
        assert legend_a and legend_b
        # the legend's marks are in the same colours as the nodes'
        legend = app.query_one("#model-legend")
        assert {c for cs in _marks(app, legend).values() for c in cs} == {a, b}
        # a second generation reuses the loaded model (no second load)
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert opened == ["b"]


async def test_a_reopened_session_keeps_each_models_colour_and_a_hostile_name_is_data():
    app, _ = _app(also=("h",))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        await pilot.pause()
        text = screen_text(app)
        assert f"{MODEL_MARK} {visible(HOSTILE, keep_newlines=False)}" in text
        assert "\x1b" not in text
        session = app.session
    # the same session opened again (no extra model now): colours by first appearance
    again = make_app(session=session, backend=WordsBackend(name="model-a"), new_session=False)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = _marks(again, again.query_one(TreePanel))
        assert {c for cs in tree.values() for c in cs} == {MODEL_COLOURS[0], MODEL_COLOURS[1]}


async def test_a_model_that_fails_to_load_is_one_line_and_the_others_land():
    def broken(entry, progress):
        raise OSError("no such file: b.gguf")

    app, _ = _app(opener=broken, n=3)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        session = app.session
        prompt = next(iter(session.children(session.root_id)))
        assert [n.model for n in session.children(prompt.id)] == ["model-a"] * 3
        messages = [n.message for n in app._notifications]
        assert "generation failed: b: cannot load: no such file: b.gguf" in messages


async def test_the_settings_dialog_sets_the_model_list():
    app = make_app(
        session=Session.new("Once upon a time"),
        backend=WordsBackend(name="model-a"),
        new_session=False,
        open_model=lambda entry, progress: WordsBackend(name=f"model-{entry}"),
    )
    app.settings = GenerationSettings(max_tokens=3, n=1)
    async with app.run_test(size=SIZE) as pilot:
        app.action_settings()
        await pilot.pause()
        field = app.screen.query_one("#set-models")
        field.value = "b, c,  b"
        app.screen.apply(save=False)
        await pilot.pause()
        assert app.models.entries == ["b", "c"]
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        session = app.session
        prompt = next(iter(session.children(session.root_id)))
        # n = 1 is raised to one continuation per model
        assert [n.model for n in session.children(prompt.id)] == ["model-a", "model-b", "model-c"]


async def test_the_loading_of_a_second_model_shows_in_the_status_line():
    gate, seen = threading.Event(), threading.Event()

    def slow(entry, progress):
        progress("reading weights", 0.4)
        seen.set()
        gate.wait(10)
        return WordsBackend(name="model-b")

    app, _ = _app(opener=slow)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        for _ in range(100):
            await pilot.pause(0.02)
            if seen.is_set() and "loading b 40%" in screen_text(app):
                break
        assert "loading b 40%" in screen_text(app)
        gate.set()
        await wait_idle(app, pilot)
        assert not app.generation.running


async def test_the_model_diff_opens_on_two_siblings_of_different_models_in_their_colours():
    app, _ = _app(n=4)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        session = app.session
        prompt = next(iter(session.children(session.root_id)))
        a0, a1, b0, b1 = session.children(prompt.id)
        assert [n.model for n in (a0, a1, b0, b1)] == ["model-a"] * 2 + ["model-b"] * 2
        app.navigation.go_to(a1.id, descend=True)
        await pilot.pause()
        await pilot.press("d")  # the model diff, on a1: two siblings from model-b, asked
        await pilot.pause(0.3)
        await pilot.press("enter")  # the first, highlighted
        await pilot.pause(0.3)
        text = screen_text(app)
        assert f"A {MODEL_MARK} model-a" in text and f"B {MODEL_MARK} model-b" in text
        for node in (a1, b0):
            joint = sum(t.logprob for t in node.tokens)
            assert f"Σ logprob {joint:.3f} over {len(node.tokens)} tokens" in text
        assert f"A:{a1.text} " in text and f"B:{b0.text} " in text
        body = app.screen.query_one("#result")
        assert {c for cs in _marks(app, body).values() for c in cs} == set(MODEL_COLOURS[:2])
        # what one side has and the other lacks is in its model's colour
        only_a = set(a1.text.split()) - set(b0.text.split())
        only_b = set(b0.text.split()) - set(a1.text.split())
        assert only_a and only_b
        assert all(_word_colour(app, body, "A:", w) == MODEL_COLOURS[0] for w in only_a)
        assert all(_word_colour(app, body, "B:", w) == MODEL_COLOURS[1] for w in only_b)


def _word_colour(app, widget, row_start: str, word: str) -> str | None:
    """The colour of ``word`` in the row of ``widget`` that begins with ``row_start``."""
    region = widget.region
    for strip in app.screen._compositor.render_strips()[region.y : region.bottom]:
        segs = list(strip)
        line = "".join(seg.text for seg in segs)
        if not line[region.x :].lstrip().startswith(row_start):
            continue
        for seg in segs:
            if word in seg.text.split() and seg.style and seg.style.color:
                return seg.style.color.triplet.hex if seg.style.color.triplet else None
    return None


def test_colours_follow_first_appearance_and_the_legend_fits_its_width():
    colours = ModelColours(["m1", "m2"])
    assert [colours.see(n) for n in ("m2", "m1", "m3")] == [
        MODEL_COLOURS[1],
        MODEL_COLOURS[0],
        MODEL_COLOURS[2],
    ]
    many = ModelColours(f"model-{i}-with-a-long-name" for i in range(10))
    assert many.see("model-8-with-a-long-name") == MODEL_COLOURS[0]  # the palette cycles
    lines = model_legend(many, width=20, max_lines=4).plain.splitlines()
    assert len(lines) == 4 and lines[-1] == "+7 more models"
    assert all(len(line) <= 20 for line in lines)
    assert model_legend(ModelColours(["only"])).plain == ""  # one model: nothing to tell apart


def test_the_model_list_is_declared_in_the_config():
    assert as_config({"model": {"also": ["profile:gpu", "m.gguf"]}}).model.also == [
        "profile:gpu",
        "m.gguf",
    ]
    with pytest.raises(LoomError, match="did you mean 'also'"):
        as_config({"model": {"alsoo": ["m.gguf"]}})
    with pytest.raises(LoomError, match="model.also"):
        as_config({"model": {"also": "m.gguf"}})


async def test_the_extra_models_are_closed_when_the_app_ends():
    closed: list[str] = []

    class Closing(WordsBackend):
        def close(self) -> None:
            closed.append(self.name)

    app, _ = _app(opener=lambda entry, progress: Closing(name="model-b"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert closed == []
    assert closed == ["model-b"]
