"""Editing where you are, at 80x24: the editor opens at the token cursor, ctrl+s saves the
edit as a sibling and leaves the token cursor at the edit point (ctrl+g continues there),
Escape discards an unchanged edit and asks about a changed one; keys typed while the model
loads are all kept."""

from __future__ import annotations

import threading

from loomtests.ui import demo_session, screen_text, wait_idle
from loomtests.words import WORDS, WordsBackend
from textual import events

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.editing import LeaveEditScreen, char_offset, point_at_char

SIZE = (80, 24)


def _editor_index(app) -> int:
    editor = app.editor
    return editor.document.get_index_from_location(editor.cursor_location)


async def _generated(prompt: str, max_tokens: int = 6):
    app = make_app(session=Session.new(prompt), backend=WordsBackend(), new_session=False)
    app.settings = GenerationSettings(max_tokens=max_tokens)
    return app


async def test_editor_opens_at_the_token_cursor():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("home", *["right"] * 6)  # a token in the middle of gen1
        unit = app.view.current_unit()
        assert unit.node_id == "gen1" and unit.token is not None
        want = char_offset(app.session, unit.node_id, unit.end)
        text = app.session.branch_text("gen1")
        assert 0 < want < len(text)
        await pilot.press("e")
        assert app.editor.has_focus and app.editor.text == text
        # Just after the token under the token cursor: the point ctrl+g generates from.
        assert _editor_index(app) == want
        assert text[:want].endswith(unit.text)


async def test_saved_edit_leaves_the_cursor_at_the_edit_point_and_generates_there():
    app = await _generated("The sky")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        original = app.session.branch_text(app.session.current_id)
        assert original == "The sky" + "".join(WORDS[:6])
        await pilot.press("left", "left", "left", "left")  # onto " cat"
        assert app.view.current_unit().text == " cat"
        await pilot.press("e")
        shown = screen_text(app)
        assert "Save edit" in shown and "Close (asks)" in shown  # the footer says how
        await pilot.press("s")  # "The sky the cats| sat on a mat"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not app.editor.display and app.view.has_focus
        edited = app.session.branch_text(app.session.current_id)
        assert edited == "The sky the cats sat on a mat"
        # The original is a sibling, and the token cursor is on what was typed.
        assert original in {app.session.branch_text(n.id) for n in app.session.leaves()}
        unit = app.view.current_unit()
        assert unit.text == "s" and app.session.node(unit.node_id).origin == "edit"
        app.settings = GenerationSettings(max_tokens=3)
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        assert app.session.branch_text(app.session.current_id) == (
            "The sky the cats" + "".join(WORDS[:3])
        )
        leaves = {app.session.branch_text(n.id) for n in app.session.leaves()}
        assert {original, edited} <= leaves  # nothing lost


async def test_escape_without_changes_discards_and_keeps_the_cursor():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("home", "right", "right")
        cursor = app.view.cursor
        nodes = set(app.session.nodes)
        await pilot.press("e", "escape")
        await pilot.pause()
        assert not app.editor.display and not isinstance(app.screen, LeaveEditScreen)
        assert set(app.session.nodes) == nodes and app.view.cursor == cursor


async def test_escape_after_a_change_asks_and_never_commits_silently():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        nodes = set(app.session.nodes)
        text = app.session.branch_text("gen1")
        await pilot.press("e", *" xyz", "escape")
        await pilot.pause()
        assert isinstance(app.screen, LeaveEditScreen)
        assert set(app.session.nodes) == nodes  # nothing committed
        assert "Discard" in screen_text(app) and "Keep editing" in screen_text(app)
        await pilot.press("k")  # keep editing: the text is still there
        await pilot.pause()
        assert app.editor.display and app.editor.has_focus
        assert app.editor.text == text + " xyz"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("d")  # discard
        await pilot.pause()
        assert not app.editor.display
        assert set(app.session.nodes) == nodes
        assert "".join(u.text for u in app.view.units) == text
        await pilot.press("e", *" xyz", "escape")
        await pilot.pause()
        await pilot.press("c")  # commit
        await pilot.pause()
        assert not app.editor.display
        assert app.session.branch_text(app.session.current_id) == text + " xyz"
        assert any(n.origin == "edit" for n in app.session.nodes.values())


async def test_keys_typed_while_the_model_loads_are_all_kept():
    """A burst of keys (the UI stalled by a loading model) then ctrl+g: the prompt is whole
    and the queued generation starts from all of it."""
    gate = threading.Event()
    backend = WordsBackend()

    def slow_factory(progress):
        progress("loading", 0.3)
        gate.wait(20)
        return backend

    app = make_app(backend_factory=slow_factory)
    app.settings = GenerationSettings(max_tokens=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)  # the load has started and is waiting
        assert app.loading and app.editor.has_focus
        for ch in "Once upon a time":
            app._driver.send_message(events.Key("space" if ch == " " else ch, ch))
        app._driver.send_message(events.Key("ctrl+g", None))
        await pilot.pause(0.3)
        assert app.generation.queued is not None
        gate.set()
        for _ in range(200):
            await pilot.pause(0.02)
            if app.engine.backend is not None:
                break
        await wait_idle(app, pilot)
        prompts = [(n.plain, n.origin) for n in app.session.nodes.values() if n.plain]
        assert prompts == [("Once upon a time", "prompt")]  # typed first: the prompt
        assert backend.calls and backend.calls[0].text == "Once upon a time"
        assert app.session.branch_text(app.session.current_id) == (
            "Once upon a time" + "".join(WORDS[:3])
        )


def test_char_offsets_round_trip_across_split_characters():
    from loomtui.core.tokens import Token

    s = Session.new("ab")
    toks = [Token("\ufffd", b"\xe2\x80", 1, -1.0), Token("\ufffd", b"\xa6", 2, -1.0)]
    gen = s.add_child(s.current_id, tokens=toks + [Token("c", b"c", 3, -1.0)], origin="model")
    assert s.branch_text(gen.id) == "ab\u2026c"
    assert char_offset(s, gen.id, 0) == 2
    assert char_offset(s, gen.id, 2) == 3  # the ellipsis counts once
    assert char_offset(s, gen.id, 3) == 4
    assert point_at_char(s, gen.id, 3) == (gen.id, 2)
    assert point_at_char(s, gen.id, 1)[1] == 1  # "b", in the prompt
    assert point_at_char(s, gen.id, 4) is None
