"""The token cursor through wrapped lines: Up/Down/PageUp/PageDown/Home/End never stick and
never skip a line, keep a goal column like an editor, and clicks still hit the right token.

The document-model tests walk every token of real wrapped documents at several widths; the
Pilot tests press the keys in the app at 80x24 and read the cursor off the rendered lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region

from loomtui.core.sessionfile import load_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.document import DocLayout

SIZE = (80, 24)
SESSIONS = Path(__file__).resolve().parents[2] / "sessions"
WIDTHS = (6, 11, 17, 29, 48, 78)

# Tokens the way a BPE model writes them: leading spaces, words of several tokens, numbers
# split by digit, newlines alone and inside tokens, an empty line, indentation, a word longer
# than a narrow line, wide characters and a character split across two tokens.
_PIECES = [
    " The", " answer", " is", " 4", "2", ".", " I", " pick", " 4", "2.", "\n",
    "\n", "Then", " un", "believ", "ably", ",", " the", " super", "cal", "ifr", "agil",
    "istic", " loom", " weaves", ":", "\n", "   ", " indented", " line", " of", " text",
    ".\n", "漢字", "の", " 😀".encode()[:3].decode("utf-8", "ignore"), "", " end",
    " of", " the", " story", "\n\n", "After", " a", " gap", " it", " goes", " on",
]  # fmt: skip


def _tokens(pieces: list[str]) -> list[Token]:
    return [Token(p, p.encode(), i, -0.5 - (i % 5)) for i, p in enumerate(pieces)]


def _session(pieces: list[str], prompt: str = "A prompt of plain words.") -> Session:
    s = Session.new(prompt)
    node = s.add_child(s.current_id, tokens=_tokens(pieces), origin="model")
    s.current_id = node.id
    return s


def _long_session(repeat: int = 6) -> Session:
    return _session(_PIECES * repeat)


def _documents() -> list[tuple[str, Session]]:
    docs = [("tokens", _session(_PIECES)), ("bugs", load_session(SESSIONS / "are-bugs-real.json"))]
    numbers = load_session(SESSIONS / "random-number.json")
    for leaf in numbers.leaves()[:3]:
        numbers.current_id = leaf.id
        docs.append((f"number-{leaf.id}", numbers))
        numbers = load_session(SESSIONS / "random-number.json")
    return docs


def _layouts():
    for name, session in _documents():
        for width in WIDTHS:
            layout = DocLayout(width)
            layout.load(session, session.current_id)
            yield f"{name}@{width}", layout


LAYOUTS = list(_layouts())


def _text_lines(layout: DocLayout) -> list[int]:
    """The lines the cursor can be on: all but a chat turn's marker lines."""
    return [y for y in range(layout.last_line() + 1) if not layout.is_marker(y)]


def _next_text_line(layout: DocLayout, line: int) -> int:
    return next((y for y in _text_lines(layout) if y > line), line)


@pytest.mark.parametrize(("name", "layout"), LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_down_then_up_from_every_token(name, layout):
    """From every token, Down lands on the next visual line and Up comes back to its line
    (on the same token when it has cells there)."""
    last = layout.last_line()
    assert last >= 1 or name.endswith("@78")
    for index in range(len(layout.units)):
        line = layout.home_line(index)
        assert layout.on_line(index, line)
        goal = layout.column(index, line)
        down = layout.line_step(line, goal, 1)
        assert down is not None
        unit, below = down
        assert below == _next_text_line(layout, line), (index, line, below)
        assert layout.on_line(unit, below)
        up = layout.line_step(below, goal, -1)
        assert up is not None
        if below != line:
            assert up[1] == line, (index, line, up)
            stop = next(s for s in layout.stops(line) if s[2] == index)
            if stop[1] > stop[0]:
                assert up[0] == index, (index, line, up)


@pytest.mark.parametrize(("name", "layout"), LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_line_by_line_visits_every_line_in_order(name, layout):
    """Home then Down and Down...: every visual line once, in order; End then Up: back."""
    last = layout.last_line()
    for goal in (0, 3, layout.width - 1):
        unit, line = 0, layout.home_line(0)
        seen = [line]
        while line < last:
            unit, line = layout.line_step(line, goal, 1)
            seen.append(line)
        assert seen == _text_lines(layout)
        unit, line = len(layout.units) - 1, layout.home_line(len(layout.units) - 1)
        assert line == last
        seen = [line]
        while line > _text_lines(layout)[0]:
            unit, line = layout.line_step(line, goal, -1)
            seen.append(line)
        assert seen == _text_lines(layout)[::-1]
        assert unit == 0 or goal > 0 or last == 0


def test_every_line_has_a_stop_and_stops_cover_the_line():
    for _, layout in LAYOUTS:
        for y in range(layout.last_line() + 1):
            stops = layout.stops(y)
            if layout.is_marker(y):  # a chat turn's marker line: no stop, no piece
                assert not stops and not layout.lines[y]
                continue
            assert stops, (y, layout.lines[y])
            for x0, x1, u in stops:
                assert layout.on_line(u, y) and 0 <= x0 <= x1 <= layout.width


def test_nearest_keeps_the_column_and_falls_back_to_the_line_end():
    s = _session(list("abcdefghij") + ["\n", "k", "l", "\n"] + list("mnopqrstuv"), prompt="")
    layout = DocLayout(40)
    layout.load(s, s.current_id)
    assert layout.last_line() == 2
    assert layout.line_step(0, 7, 1) == (13, 1)  # past "kl": the newline at its end
    assert layout.line_step(1, 7, 1) == (14 + 7, 2)  # the goal column again
    assert layout.line_step(2, 7, -2) == (7, 0)


# ---------------------------------------------------------------------- in the app
def _cursor_rows(view) -> list[int]:
    """Document lines on screen that show the cursor on visible text."""
    region = view.scrollable_content_region
    strips = view.render_lines(Region(0, 0, region.width, region.height))
    top = round(view.scroll_y)
    return [
        top + y
        for y, strip in enumerate(strips)
        if any(seg.style and seg.style.reverse and seg.text.strip() for seg in strip)
    ]


async def _rows_after(pilot, view, keys: list[str]) -> list[list[int]]:
    rows = []
    for key in keys:
        await pilot.press(key)
        rows.append(_cursor_rows(view))
    return rows


async def test_down_and_up_through_are_bugs_real():
    """The report: Home, Down x6 stuck on a line; from End, Up skipped one."""
    app = make_app(session=load_session(SESSIONS / "are-bugs-real.json"), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        text = _text_lines(view.layout_)  # a chat session: its turn markers are skipped
        lines = len(text)
        assert lines >= 4 and view.layout_.markers
        await pilot.press("home")
        assert _cursor_rows(view) == [text[0]]
        rows = await _rows_after(pilot, view, ["down"] * (lines + 1))
        assert rows == [[y] for y in text[1:]] + [[text[-1]]] * 2
        await pilot.press("end")
        assert _cursor_rows(view) == [text[-1]]
        rows = await _rows_after(pilot, view, ["up"] * (lines + 1))
        assert rows == [[y] for y in text[-2::-1]] + [[text[0]]] * 2


async def test_every_line_of_a_long_document_in_order():
    """Several screens of wrapped text with newlines, empty lines and leading spaces: Down
    from Home reaches every line in order (scrolling to show it), Up from End comes back."""
    app = make_app(session=_long_session(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        layout = view.layout_
        last = layout.last_line()
        height = view.scrollable_content_region.height
        assert last > 2 * height
        await pilot.press("home")
        for y in range(1, last + 1):
            await pilot.press("down")
            assert view.cursor_line == y
            assert layout.on_line(view.cursor, y)
            assert round(view.scroll_y) <= y < round(view.scroll_y) + height
            rows = _cursor_rows(view)
            assert y in rows or not rows, (y, rows)  # an empty line shows a blank cursor
        await pilot.press("down")
        assert view.cursor_line == last
        for y in range(last - 1, -1, -1):
            await pilot.press("up")
            assert view.cursor_line == y and layout.on_line(view.cursor, y)
            assert round(view.scroll_y) <= y < round(view.scroll_y) + height
        await pilot.press("up")
        assert view.cursor_line == 0


async def test_down_then_up_from_every_token_in_the_app():
    app = make_app(session=_session(_PIECES), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        layout = view.layout_
        last = layout.last_line()
        await pilot.press("home", "down", "up")  # the keys reach the view's actions
        assert view.cursor == 0 and view.cursor_line == 0
        for index in range(len(view.units)):  # the same actions, called directly (fast)
            view.move_cursor(index)
            line = view.cursor_line
            view.action_line(1)
            assert view.cursor_line == min(line + 1, last), index
            view.action_line(-1)
            assert view.cursor_line == (line if line < last else line - 1), index
            if line < last and layout.column(index, line) == 0:
                assert view.cursor == index  # column 0 comes back to the same token


async def test_the_goal_column_is_kept_across_short_lines():
    pieces = list("abcdefghij") + ["\n", "k", "\n", "\n"] + list("mnopqrstuv")
    app = make_app(session=_session(pieces, prompt=""), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        view.move_cursor(7)  # "h", column 7
        await pilot.press("down")
        assert view.cursor == 12 and view.cursor_line == 1  # the newline after "k"
        await pilot.press("down")
        assert view.cursor == 13 and view.cursor_line == 2  # the empty line
        await pilot.press("down")
        assert view.units[view.cursor].text == "t" and view.cursor_line == 3
        await pilot.press("up", "up", "up")
        assert view.cursor == 7 and view.cursor_line == 0
        await pilot.press("left", "down")  # a sideways move sets a new goal
        assert view.cursor == 12  # column 6 is past "k" too


async def test_page_down_and_up_reach_the_ends():
    app = make_app(session=_long_session(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        last = view.layout_.last_line()
        page = view.scrollable_content_region.height - 1
        await pilot.press("home")
        seen = [view.cursor_line]
        while seen[-1] < last and len(seen) < 100:
            await pilot.press("pagedown")
            seen.append(view.cursor_line)
        assert seen == [min(i * page, last) for i in range(len(seen))]
        assert _cursor_rows(view)  # the cursor is on screen
        await pilot.press("pageup")
        assert view.cursor_line == max(0, last - page)
        await pilot.press("home")
        assert view.cursor == 0 and view.cursor_line == 0
        await pilot.press("end")
        assert view.cursor == len(view.units) - 1 and view.cursor_line == last


async def test_a_click_on_a_wrapped_word_hits_its_token():
    """The leading space of a word that starts a wrapped line is not drawn there, and a
    click on the word's first cell still picks that token (and that line)."""
    app = make_app(session=load_session(SESSIONS / "are-bugs-real.json"), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.view
        layout = view.layout_
        for y in range(1, layout.last_line() + 1):
            if layout.is_marker(y) or layout.is_marker(y - 1):
                continue  # a chat turn's marker, or the first line of a turn: not wrapped
            line = layout.lines[y]
            text = "".join(t for _, t in line)
            assert not text[0].isspace(), (y, text)
            unit = line[0][0]
            await pilot.click("#view", offset=(0, y))
            assert view.cursor == unit and view.cursor_line == y
            assert view.units[unit].text.startswith(" ")  # the space is still the token's
            assert _cursor_rows(view) == [y]
