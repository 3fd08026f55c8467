"""The app shows hostile text inertly: markup literal, controls as visible symbols."""

from __future__ import annotations

import re

from loomtui.ui.app import make_app

_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069\u200d]")


def _screen_text(app) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in s) for s in strips)


def _app(session):
    return make_app(session=session, new_session=False, config={"ui": {"theme": "green-red"}})


async def test_app_shows_hostile_text_literally(hostile):
    app = _app(hostile)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("home")
        await pilot.pause()
        text = _screen_text(app)
    assert "\x1b" not in text
    bad = _RAW.search(text)
    assert bad is None, repr(text[max(0, bad.start() - 30) : bad.end() + 30])
    assert "[bold red]not bold[/bold red]" in text  # markup shown as typed, not applied
    assert "␛[31mred?␛[0m" in text
    assert "‹U+202E›RLO‹U+202C›" in text
    assert "␀NUL" in text and "␇bell" in text and "␍CR" in text
    assert "[link=file:///etc/passwd]x[/link]" in text
    assert "\u201cquoted" in text  # the split character joined across tokens


def test_snapshot_hostile_text(snap_compare, hostile):
    # The huge token would only add lines of H; the view of the rest is what matters.
    hostile.current.tokens.pop()
    assert snap_compare(_app(hostile), terminal_size=(100, 30), press=["home"])
