"""Every dialog and instrument screen at 80x24, opened by its key as a newcomer would:
the first input has the focus (typing lands there at once), and no word of loomtui's own
is cut: each header, label, hint, placeholder, button, border title and status line is
on screen whole (wrapped if need be, never ended with "…", never past column 80 or row 24).

The check reads the screen as a person does: the text inside each widget's own region of
the rendered screen, after scrolling the widget into view."""

from __future__ import annotations

import re
from pathlib import Path

from loomtests.fakes import FullBackend
from loomtests.ui import demo_session, screen_text, settle
from loomtests.words import WordsBackend
from rich.text import Text
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static
from textual.widgets._toggle_button import ToggleButton

from loomtui.backends.base import GenerationSettings, ModelInfo
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.screens.instruments import INSTRUMENTS
from loomtui.ui.screens.instruments.base import InstrumentScreen, ResultView

SIZE = (80, 24)
SCREEN = Region(0, 0, *SIZE)


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _plain(widget: Widget) -> str | None:
    """The words a widget shows when they are loomtui's own plain text (a label, a hint, a
    status, a button), else None (tables, plots, bars are checked by their own tests)."""
    if isinstance(widget, Button):
        return str(widget.label)
    if isinstance(widget, ToggleButton):
        return str(widget.label)
    if isinstance(widget, (Static, Label)):
        content = widget.content
        if isinstance(content, (str, Text, Content)):
            return str(content) if not isinstance(content, Text) else content.plain
    return None


def _region_text(app, region: Region) -> str:
    lines = screen_text(app).splitlines()
    rows = lines[region.y : region.bottom]
    return "\n".join(row[region.x : region.right] for row in rows)


async def _on_screen(pilot, widget: Widget) -> tuple[Region, str]:
    """Scroll ``widget`` into view; its region and the text drawn there."""
    widget.scroll_visible(animate=False, immediate=True)
    await pilot.pause()
    geometry = widget.screen.find_widget(widget)
    return geometry.region, _region_text(pilot.app, geometry.region.intersection(geometry.clip))


async def assert_nothing_cut(pilot, only: type[Widget] = Widget) -> int:
    """Check every plain text of the top screen (of the widgets of type ``only``);
    returns how many texts were checked."""
    app = pilot.app
    screen = app.screen
    checked = 0
    for widget in screen.query("*"):
        if not isinstance(widget, only) or not widget.display or not widget.visible:
            continue
        texts: list[tuple[str, str]] = []
        plain = _plain(widget)
        if plain and plain.strip():
            texts.append(("text", plain))
        if isinstance(widget, Input) and widget.placeholder and not widget.value:
            texts.append(("placeholder", widget.placeholder))
        if widget.border_title:
            texts.append(("border", str(widget.border_title)))
        if not texts:
            continue
        region, drawn = await _on_screen(pilot, widget)
        where = f"{type(screen).__name__} {widget!r}"
        assert SCREEN.contains_region(region), f"{where} at {region} is past 80x24"
        for kind, text in texts:
            seen = drawn.splitlines()[0] if kind == "border" else drawn
            flat = _words(seen.replace("\n", " "))
            if kind == "text" and isinstance(widget, (Button, ToggleButton)):
                flat = _words(seen.strip("▔▁▐▌●▊▎ \n").replace("\n", " "))
            # Wrapped at a space, or folded inside a long word: every character is there.
            whole = _words(text) in flat or "".join(text.split()) in "".join(flat.split())
            assert whole, f"{where}: {kind} {text!r} is cut: {seen!r}"
            assert "…" in text or "…" not in seen, f"{where}: {kind} ends in …: {seen!r}"
            checked += 1
    return checked


# -- the apps ---------------------------------------------------------------------------------


def _demo(tmp_path: Path):
    return make_app(
        session=demo_session(),
        path=tmp_path / "sessions" / "a-rather-long-session-name-for-80-columns.json",
        backend=WordsBackend(),
        new_session=False,
        config={"ui": {"theme": "green-red"}},
    )


def _numbers(tmp_path: Path, backend=None):
    session = Session.new("I pick a number:")
    return make_app(
        session=session,
        path=tmp_path / "s.json",
        backend=backend or FullBackend(),
        new_session=False,
    )


async def _ready(app, pilot) -> None:
    await pilot.pause()
    app.engine.generate(
        app.session.current_id, None, GenerationSettings(max_tokens=6, temperature=0)
    )
    app.refresh_all()
    await pilot.pause()
    app.view.move_cursor(len(app.view.units) - 2)  # on a model token, for the sweep
    await pilot.pause()


async def _close(pilot) -> None:
    for _ in range(4):
        if len(pilot.app.screen_stack) == 1:
            return
        await pilot.press("escape")
        await settle(pilot)
    assert len(pilot.app.screen_stack) == 1


# -- focus ------------------------------------------------------------------------------------


async def test_every_dialog_opens_with_typing_in_its_first_input(tmp_path):
    """Settings, export, label: the first input has the focus and takes typed keys."""
    app = _demo(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key, field in (("s", "set-temperature"), ("x", "exp-path"), ("l", "prompt-input")):
            await pilot.press(key)
            await pilot.pause()
            focused = app.focused
            assert isinstance(focused, Input) and focused.id == field, (key, focused)
            await pilot.press("end", *"7z")
            await pilot.pause()
            assert app.screen.query_one(f"#{field}", Input).value.endswith("7z"), key
            await _close(pilot)


async def test_every_instrument_opens_with_typing_in_its_first_input(tmp_path):
    """Probe, model diff, sweep, replay: typed keys land in the first input at once;
    the multiverse and the entropy strip (no input) take their keys in their result."""
    app = _numbers(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        firsts = {
            "probe": "answers",
            "compare": "model_b",
            "sweep": "edits",
            "replay": "model_r",
            "collapse": "model_b",
            "adaptive": "ad-entropy",
        }
        for name, spec in INSTRUMENTS.items():
            await pilot.press(spec.key)
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, InstrumentScreen), name
            inputs = list(screen.query(Input))
            if name in firsts:
                assert inputs and inputs[0].id == firsts[name], name
                assert app.focused is inputs[0], (name, app.focused)
                await pilot.press("end", *"ab")
                await pilot.pause()
                assert inputs[0].value.endswith("ab"), name
            else:
                assert not inputs and app.focused is screen.query_one("#body"), name
            await _close(pilot)


# -- nothing cut ------------------------------------------------------------------------------


async def test_no_dialog_text_is_cut_at_80x24(tmp_path):
    app = _demo(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        counts = {}
        for keys in (["s"], ["x"], ["l"], ["e", *" more", "escape"]):
            await pilot.press(*keys)
            await pilot.pause()
            name = type(app.screen).__name__
            counts[name] = await assert_nothing_cut(pilot)
            await _close(pilot)
        assert set(counts) == {"SettingsScreen", "ExportScreen", "PromptScreen", "LeaveEditScreen"}
        # settings: 7 labels, 2 checkboxes, a label, 3 buttons and the border title
        assert counts["SettingsScreen"] >= 14, counts
        assert counts["ExportScreen"] >= 8 and counts["LeaveEditScreen"] >= 4, counts


async def test_no_settings_label_is_cut_even_in_a_narrow_dialog(tmp_path):
    """The longest label ("alternatives stored per token (top-k)") wraps when the dialog is
    squeezed (a 40-column terminal): it is never cut."""
    app = _demo(tmp_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        global SCREEN
        saved, SCREEN = SCREEN, Region(0, 0, 40, 24)
        try:
            assert await assert_nothing_cut(pilot, Label) >= 8
        finally:
            SCREEN = saved


async def test_no_help_row_is_cut_at_80x24(tmp_path):
    """F1: every key's description and keymap id is whole on some page of the help."""
    from loomtui.ui.screens.help import binding_rows

    app = _demo(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert await assert_nothing_cut(pilot) >= 1  # the border title
        frame = app.screen.query_one("VerticalScroll").region
        seen = ""
        for _ in range(12):
            seen += "\n" + _region_text(app, frame)
            await pilot.press("pagedown")
            await pilot.pause()
        words = set(
            _words(" ".join(line.strip("│ ▇▁▂▃▄▅▆█") for line in seen.splitlines())).split()
        )
        for keys, desc, bid in binding_rows(app):
            desc, bid = str(desc), str(bid)
            # A description may wrap within its column; a keymap id never does.
            assert not bid or bid in words, (keys, desc, bid)
            assert set(_words(desc).split()) <= words, (keys, desc)
        assert "…" not in seen


async def test_no_instrument_text_is_cut_at_80x24(tmp_path):
    """Title, hint, inputs' placeholders and the status line of every instrument screen,
    after its first run."""
    app = _numbers(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        for name, spec in INSTRUMENTS.items():
            await pilot.press(spec.key)
            await settle(pilot)
            assert isinstance(app.screen, InstrumentScreen), name
            # title + hint + status at least, and the placeholders where the screen has inputs
            assert await assert_nothing_cut(pilot) >= 2, name
            await _close(pilot)


async def test_a_long_failure_reason_wraps_in_the_status_line(tmp_path):
    """A server's long error message is shown whole (wrapped), not cut at column 80."""
    reason = (
        "the server at http://127.0.0.1:8080/v1 answered 503 Service Unavailable: "
        "the model is still loading, try again in a minute"
    )

    class Failing(FullBackend):
        def full_logprobs(self, sequences, start):
            raise RuntimeError(reason)

    app = _numbers(tmp_path, Failing())
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("p")
        await settle(pilot)
        status = app.screen.query_one("#status", Static)
        assert _plain(status) == f"failed: {reason}"
        assert await assert_nothing_cut(pilot) >= 3


async def test_the_probe_summary_is_whole_at_the_end_of_1_to_100(tmp_path):
    app = _numbers(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press(*"1-100", "enter")
        await settle(pilot)
        await pilot.press("end")
        await pilot.pause()
        body = app.screen.query_one("#body", ResultView)
        drawn = _words(_region_text(app, body.region))
        assert re.search(
            r"this branch: covered [\d.]+; H [\d.]+ nats; KL\(u\) [\d.]+; top ' \d+' [\d.]+%; "
            r"next-token H [\d.]+",
            drawn,
        ), drawn
        assert "' 100'" in drawn and "…" not in drawn


async def test_toasts_stay_clear_of_the_bottom_lines_after_a_dialog(tmp_path):
    """A toast raised from a dialog (settings saved) shows on the main screen after the
    dialog closes, above the info, legend, status and footer lines."""
    app = _demo(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        app.notify("first: a message long enough to take two lines in its toast " * 2, timeout=30)
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#exp-path", Input).value = str(tmp_path / "out.txt")
        await pilot.press("enter")  # exports, notifies, closes
        await pilot.pause(0.3)
        assert len(app.screen_stack) == 1 and (tmp_path / "out.txt").exists()
        toasts = list(app.screen.query("Toast"))
        assert len(toasts) == 2
        bottom = [app.query_one(sel).region for sel in ("#info", "#legend", "#status", "Footer")]
        for toast in toasts:
            for region in bottom:
                assert not toast.region.overlaps(region), (toast.region, region)


class _LongName(WordsBackend):
    """A model name long enough that the status line takes two lines at 80 columns."""

    def info(self) -> ModelInfo:
        return ModelInfo(
            name="HuggingFaceTB/SmolLM2-135M-Instruct-with-a-long-tail", backend="local"
        )


async def test_a_toast_over_a_dialog_stays_clear_of_the_bottom_lines(tmp_path):
    """A wrong number in the settings: the error toast (on the dialog) sits above the main
    screen's info, legend, status (here two lines) and footer, and Enter in the field is
    what applies (no Tab to a button)."""
    app = make_app(
        session=demo_session(),
        path=tmp_path / "s.json",
        backend=_LongName(),
        new_session=False,
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+u", *"warm", "enter")
        await pilot.pause(0.3)
        main = app.screen_stack[0]
        assert main.query_one("#status").region.height == 2  # the status wrapped
        toasts = list(app.screen.query("Toast"))
        assert len(toasts) == 1
        assert "not a number: 'warm'" in _words(
            _region_text(app, toasts[0].region).replace("▌", "")
        )
        for sel in ("#info", "#legend", "#status", "Footer"):
            region = main.query_one(sel).region
            assert not toasts[0].region.overlaps(region), (sel, toasts[0].region, region)
        await pilot.press("ctrl+u", *"0.5", "enter")
        await pilot.pause()
        assert len(app.screen_stack) == 1 and app.settings.temperature == 0.5


async def test_a_long_question_wraps_in_the_prompt_dialog(tmp_path):
    from loomtui.ui.screens.prompt import PromptScreen

    question = "Label for this node (shown in the tree panel and kept in every export format)"
    app = _demo(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        answers: list[str | None] = []
        app.push_screen(PromptScreen(question, "draft"), answers.append)
        await pilot.pause()
        assert await assert_nothing_cut(pilot) >= 1
        await pilot.press("end", *" two", "enter")
        await pilot.pause()
        assert answers == ["draft two"]


def _folded(drawn: str, text: str) -> str:
    """``text`` read back from the table column it was wrapped or folded into, with its
    spaces taken out: its first piece starts a line (the column reaches to the next
    column's text); each next line holds the next piece at the same column."""
    lines = drawn.splitlines()
    for i, line in enumerate(lines):
        x = line.find(text[:12])
        if x < 0:
            continue
        piece = re.split(r"\s{2,}", line[x:])[0]
        after = re.search(r"\S", line[x + len(piece) :])  # where the next column's text is
        width = len(piece) + (after.start() - 1 if after else len(line))
        out = line[x : x + width]
        for more in lines[i + 1 :]:
            piece = more[x : x + width].strip()
            if not piece or len("".join(out.split())) >= len("".join(text.split())):
                break
            out += piece
        return "".join(out.split())
    return ""


def _body_text(app) -> str:
    """The result area's text, scrolled to each page in turn (a person paging through)."""
    body = app.screen.query_one("#body", ResultView)
    return _region_text(app, body.region)


async def test_long_model_names_and_answers_wrap_in_instrument_results(tmp_path):
    """A hub id or a .gguf path as the second model's name and long typed answers: the
    model diff's table and the probe's table wrap them, never end them with "…"."""
    from loomtests.fakes import TopKBackend

    from loomtui.ui.screens.instruments.base import InstrumentInputs

    name = "Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf"
    app = _numbers(tmp_path, FullBackend("HuggingFaceTB/SmolLM2-135M-Instruct"))
    async with app.run_test(size=SIZE) as pilot:
        await _ready(app, pilot)
        node = app.session.current
        inputs = InstrumentInputs.at(app.engine, (node.id, 0))
        await app.push_screen(INSTRUMENTS["compare"].factory(inputs, TopKBackend(name, seed=4)))
        await settle(pilot)
        drawn = _body_text(app)
        assert "…" not in drawn
        assert _folded(drawn, name) == name  # folded within its column, whole
        await _close(pilot)
        await pilot.press("p")
        await settle(pilot)
        # The fake's vocabulary spells it: long, and one answer (no comma in it).
        answer = " the cat sat on the mat. The dog ran home. I pick a number: 7 7 7 7 7 7 7"
        await pilot.press("ctrl+u", *f" 1,{answer}", "enter")
        await settle(pilot)
        drawn = _body_text(app)
        assert "…" not in drawn and "'1'" in drawn
        assert _folded(drawn, repr(answer)) == "".join(repr(answer).split())


async def test_the_top_k_menu_wraps_a_long_token(tmp_path):
    """A long token (here 90 characters of one word) in the header and in its option:
    wrapped within the menu, "(raw dist)" and the percentages whole, never "…". (The menu
    did this already; the check keeps every screen of the app under the same test.)"""
    from loomtui.core.tokens import Alt, Token
    from loomtui.ui.widgets.topk import TopKMenu

    word = " " + "supercalifragilistic" * 4 + "expialidoc"
    alts = (
        Alt(word, word.encode(), 7, -0.4),
        Alt(" short", b" short", 8, -1.5),
    )
    token = Token(word, word.encode(), 7, -0.4, alts)
    app = _demo(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(TopKMenu(token))
        await pilot.pause()
        assert await assert_nothing_cut(pilot) >= 1  # the header
        box = app.screen.query_one("Vertical").region
        drawn = _region_text(app, box)
        assert "…" not in drawn and "(raw dist)" in drawn and "67.0%" in drawn
        flat = "".join(drawn.split()).replace("│", "")
        assert word.strip() in flat and "◀chosen" in flat
