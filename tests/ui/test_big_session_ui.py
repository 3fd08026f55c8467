"""A long branch is laid out lazily: its end first (from a point just after a newline), the
earlier text a chunk at a time when something reaches it. The lines are exactly those of the
whole branch's layout, whatever reaches the earlier text (Up at the first line, PageUp, Home,
a point in it), and the app shows the same text as a layout of the whole branch would."""

from __future__ import annotations

import random

import pytest

from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui import document
from loomtui.ui.document import DocLayout

_PIECES = [
    b" the", b" loom", b" weaves", b" a", b" thread", b",", b".", b"\n", b"\n\n", b" end.\n",
    b" \xe2\x80", b"\x94", b" caf", b"\xc3\xa9", b" supercalifragilisticexpialidocious",
    b"  ", b" x" * 30, b"\t", b" \xf0\x9f\x98", b"\x80",
]  # fmt: skip


def _tokens(rng: random.Random, n: int, start: int) -> list[Token]:
    out = []
    for i in range(n):
        data = rng.choice(_PIECES)
        out.append(Token(data.decode("utf-8", "replace"), data, start + i, -rng.random()))
    return out


def _session(n_nodes: int = 8, per_node: int = 700, seed: int = 3) -> Session:
    rng = random.Random(seed)
    s = Session.new("A plain prompt\nof two lines.")
    parent = s.current_id
    for k in range(n_nodes):
        if k == 4:  # a plain-text node in the middle of the branch
            node = s.add_child(parent, plain=" Some typed text, then\nmore.")
        else:
            node = s.add_child(parent, tokens=_tokens(rng, per_node, k * per_node))
        parent = node.id
    s.current_id = parent
    return s


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "LAZY_UNITS", 1_000)
    monkeypatch.setattr(document, "WINDOW_UNITS", 400)


def _full(session: Session, width: int) -> DocLayout:
    whole = DocLayout(width)
    lazy_from, document.LAZY_UNITS = document.LAZY_UNITS, 10**9  # laid out whole
    try:
        whole.load(session, session.current_id)
    finally:
        document.LAZY_UNITS = lazy_from
    assert whole.base == 0
    return whole


def _check_same(lazy: DocLayout, whole: DocLayout) -> None:
    """The lazy layout's lines are the whole layout's, from its first laid-out unit to its
    last (whose line may go on with units not laid out yet)."""
    offset = whole.unit_line[lazy.base]
    n = len(lazy.lines)
    if lazy.end == lazy.total:
        assert lazy.lines == whole.lines[offset:]
    else:  # it ends at a break too: whole lines, then the empty one the next unit starts
        assert lazy.lines[:-1] == whole.lines[offset : offset + n - 1] and lazy.lines[-1] == []
    assert lazy.unit_line == [y - offset for y in whole.unit_line[lazy.base : lazy.end]]
    assert [u.text for u in lazy._units] == [u.text for u in whole._units[lazy.base : lazy.end]]


@pytest.mark.parametrize("width", [12, 40, 79])
def test_the_lazy_layout_is_the_whole_layout_from_a_newline_on(small_window, width) -> None:
    s = _session()
    whole = _full(s, width)
    lazy = DocLayout(width)
    shifts: list[int] = []
    lazy.on_shift = shifts.append
    lazy.load(s, s.current_id)
    assert 0 < lazy.base < whole.total - 300  # only the end, from a break
    assert lazy.total == whole.total and len(lazy.units) == len(whole.units)
    _check_same(lazy, whole)
    below = whole.unit_line[lazy.base]  # lines above the first laid-out one
    # Reaching a unit just before the laid-out part lays out the text back to it.
    base = lazy.base
    lazy.ensure(base - 1)
    assert lazy.base < base and lazy.end == lazy.total
    _check_same(lazy, whole)
    assert shifts == [below - whole.unit_line[lazy.base]]  # how far every line moved
    # A unit far away (Home): a fresh part there, not everything in between.
    lazy.ensure(5)
    assert lazy.base <= 5 and lazy.end < lazy.total - 1_000 and shifts[-1] is None
    _check_same(lazy, whole)
    # Going on from there, chunk by chunk, to the end: the whole layout.
    while lazy.end < lazy.total:
        lazy.ensure(lazy.end)
        _check_same(lazy, whole)
        assert shifts[-1] == 0  # lines only added after the last
    assert lazy.base == 0 and lazy.lines == whole.lines and lazy.unit_line == whole.unit_line
    # Every unit, in order, from a layout that has only its end laid out.
    other = DocLayout(width)
    other.load(s, s.current_id)
    assert other.base > 0
    assert [(u.node_id, u.offset, u.text) for u in other.units] == [
        (u.node_id, u.offset, u.text) for u in whole.units
    ]
    # A re-wrap keeps them equal.
    lazy.relayout(width + 7)
    whole.relayout(width + 7)
    assert lazy.lines == whole.lines


def test_up_at_the_first_laid_out_line_goes_on_into_the_earlier_text(small_window) -> None:
    s = _session()
    whole = _full(s, 40)
    lazy = DocLayout(40)
    lazy.load(s, s.current_id)
    first_unit = lazy.base
    shift = whole.unit_line[first_unit]
    line = lazy.home_line(first_unit)
    assert line == whole.home_line(first_unit) - shift
    goal = lazy.column(first_unit, line)
    # One line up from the first laid-out line: the line above in the whole layout.
    got = lazy.line_step(line, goal, -1)
    want = whole.line_step(whole.home_line(first_unit), goal, -1)
    assert got is not None and want is not None
    moved = whole.unit_line[first_unit] - lazy.unit_line[first_unit - lazy.base]
    assert (got[0], got[1] + moved) == want
    # A point in the earlier text finds the same unit as the whole layout does.
    for node in s.path(s.current_id):
        for at in (0, 3, 10_000):
            assert lazy.unit_at_point(node.id, at) == whole.unit_at_point(node.id, at)


def test_streaming_onto_a_lazy_branch_grows_its_end(small_window) -> None:
    s = _session()
    lazy = DocLayout(40)
    lazy.load(s, s.current_id)
    base = lazy.base
    s.append_tokens(s.current_id, _tokens(random.Random(9), 50, 99_000))
    first = lazy.load(s, s.current_id)
    assert first > 0 and lazy.base == base  # only the end changed
    _check_same(lazy, _full(s, 40))


async def test_the_app_opens_a_long_branch_at_its_end_and_pages_up_through_all_of_it(
    small_window,
) -> None:
    from loomtui.ui.app import make_app

    s = _session(n_nodes=6, per_node=300)
    whole = _full(s, 10)  # only for its unit count
    app = make_app(session=s, new_session=False)
    async with app.run_test(size=(60, 40)) as pilot:
        view = app.view
        layout = view.layout_
        assert layout.base > 0 and len(view.units) == whole.total
        assert view.cursor == whole.total - 1  # the cursor at the end, as in any session
        reference = _full(s, layout.width)
        shown = len(layout.lines)
        view.focus()
        for _ in range(200):  # page up to the top
            await pilot.press("pageup")
            if view.cursor == 0 or layout.base == 0 and view.cursor_line == 0:
                break
        await pilot.pause()
        assert layout.base == 0 and len(layout.lines) > shown
        assert layout.lines == reference.lines
        # The first line on screen is the prompt's.
        assert round(view.scroll_y) == 0
        strip = view.render_line(0)
        assert "A plain prompt" in "".join(seg.text for seg in strip)
        await pilot.press("end")
        await pilot.pause()
        assert view.cursor == whole.total - 1


async def test_home_on_a_lazy_branch_goes_to_the_first_unit(small_window) -> None:
    from loomtui.ui.app import make_app

    s = _session()
    app = make_app(session=s, new_session=False)
    async with app.run_test(size=(60, 16)) as pilot:
        view = app.view
        assert view.layout_.base > 0
        view.focus()
        await pilot.press("home")
        await pilot.pause()
        layout = view.layout_
        assert view.cursor == 0 and layout.base == 0
        assert view.current_unit() is not None and view.current_unit().text == "A"
        assert view.cursor_line == 0 and round(view.scroll_y) == 0
        # Home laid out a fresh part at the start, not the whole branch.
        first_end = layout.end
        assert first_end < layout.total
        # Paging down goes on past it, a chunk at a time, the same lines as a whole layout.
        for _ in range(60):
            await pilot.press("pagedown")
            if view.cursor >= first_end:
                break
        assert view.cursor >= first_end and layout.base == 0
        _check_same(layout, _full(s, layout.width))
        # End: a fresh part at the end, the cursor on the last unit, shown.
        await pilot.press("end")
        await pilot.pause()
        assert view.cursor == layout.total - 1 and layout.end == layout.total
        assert layout.base > 0
        top = round(view.scroll_y)
        assert top <= view.cursor_line < top + view.scrollable_content_region.height


async def test_a_branch_of_1500_generations_opens_with_its_tree_panel() -> None:
    """A chain of generations deeper than Python's recursion limit (Textual lays the tree's
    lines out one call a level): the app opens, the tree panel's cursor on the current node."""
    from loomtui.ui.app import make_app
    from loomtui.ui.widgets.tree_panel import TreePanel

    s = Session.new("A prompt.")
    parent = s.current_id
    for i in range(1_500):
        parent = s.add_child(parent, tokens=_tokens(random.Random(i), 2, i * 2)).id
    s.current_id = parent
    app = make_app(session=s, new_session=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        tree = app.query_one(TreePanel)
        assert tree.cursor_node is not None and tree.cursor_node.data == parent
        assert f"{len(s.nodes)} nodes" in str(tree.border_title)


async def test_search_highlights_on_a_lazy_branch_leave_the_earlier_text_alone(small_window):
    """Highlighting matches marks the laid-out units without laying out the whole branch;
    a match in earlier text is highlighted once paging reaches it."""
    from loomtui.ui.app import make_app

    s = _session()
    path = s.path(s.current_id)
    first_tokens, last = path[2], path[-1]  # a token node at the start, and the last one
    app = make_app(session=s, new_session=False)
    async with app.run_test(size=(60, 16)) as pilot:
        view = app.view
        layout = view.layout_
        base = layout.base
        assert base > 0
        view.set_found(
            {last.id: [(len(last.tokens) - 3, len(last.tokens))], first_tokens.id: [(0, 2)]}
        )
        await pilot.pause()
        end = layout.total - 1
        assert view.found_style(end) is not None and view.found_style(end - 5) is None
        assert layout.base == base  # nothing earlier was laid out for the highlights
        layout.ensure(0)
        start = layout.unit_at_point(first_tokens.id, 0)
        assert view.found_style(start) is not None and view.found_style(start + 2) is None
