"""The one renderer (loomtui.render) as the front ends use it: the legend is the same line in
``loomtui show`` and in the app, and outside text comes out literally, on one line where it
must, with its control characters visible, never taken as markup or sent to the terminal."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from loomtui.cli import main
from loomtui.core.scale import list_themes, load_theme
from loomtui.core.sessionfile import save_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.instruments.entropy import Point
from loomtui.instruments.sweep import SweepResult, Variant
from loomtui.render.instruments import entropy_strip, sweep_rows
from loomtui.render.legend import LEGEND_STEPS, legend
from loomtui.render.text import bar, one_line
from loomtui.render.tokens import branch_text, tokens_text

REPO = Path(__file__).resolve().parents[2]
MARKUP = ["[bold]x[/]", "[/INST]", "[red on white]", "[link=http://e.x]y"]


def _cells(text: Text) -> list[tuple[str, tuple[int, int, int] | None, bool]]:
    """Each character with the colour and dimness it is drawn in."""
    console = Console()
    out = []
    for i, ch in enumerate(text.plain):
        style = text.get_style_at_offset(console, i)
        colour = style.color.get_truecolor() if style.color is not None else None
        out.append((ch, tuple(colour) if colour else None, bool(style.dim)))
    return out


def _ansi(renderable: object) -> str:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="truecolor", width=200).print(renderable)
    return buf.getvalue()


@pytest.fixture
def hostile_file(tmp_path: Path) -> Path:
    s = Session.new("[red]typed[/] \x1b[2J ")
    tokens = [Token(t, t.encode(), i, -0.5 * i) for i, t in enumerate(MARKUP)]
    tokens.append(Token("\r\x07\u202e", b"\r\x07\xe2\x80\xae", 9, -15.0))
    s.goto(s.add_child(s.current_id, tokens=tokens, model="m").id)
    path = tmp_path / "hostile.json"
    save_session(s, path)
    return path


@pytest.mark.parametrize("theme", list_themes())
async def test_legend_is_the_same_in_show_and_in_the_app(
    theme: str, hostile_file: Path, capsys, monkeypatch
) -> None:
    from loomtui.core.sessionfile import load_session
    from loomtui.ui.app import make_app
    from loomtui.ui.widgets.legend import Legend

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["show", str(hostile_file), "--theme", theme]) == 0
    cli_line = Text.from_ansi(capsys.readouterr().out.splitlines()[-1])

    app = make_app(
        session=load_session(hostile_file),
        backend=None,
        new_session=False,
        config={"ui": {"theme": theme}},
    )
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        ui_line = app.query_one(Legend).content
    assert isinstance(ui_line, Text)
    assert cli_line.plain == ui_line.plain
    assert _cells(cli_line) == _cells(ui_line)  # the same colour on every character
    assert cli_line.plain.startswith(f"{theme} (logprob): ")
    assert cli_line.plain.count("█") == LEGEND_STEPS
    # and each swatch is the theme's colour at that stop
    swatches = [c for c in _cells(ui_line) if c[0] == "█"]
    stops = [
        tuple(int(h[k : k + 2], 16) for k in (1, 3, 5))
        for _, h in load_theme(theme).legend(LEGEND_STEPS)
    ]
    assert [c[1] for c in swatches] == stops


def test_legend_names_the_scale_the_app_shows() -> None:
    theme = load_theme("green-red")
    assert legend(theme).plain.startswith("green-red (logprob): █100% ")
    assert legend(theme, "prob").plain.startswith("green-red (prob): █100% █80% ")


def test_show_prints_markup_in_tokens_literally(hostile_file: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["show", str(hostile_file), "--no-legend"]) == 0
    out = capsys.readouterr().out
    plain = Text.from_ansi(out).plain
    assert "[red]typed[/] ␛[2J " in plain
    for markup in MARKUP:
        assert markup in plain
    assert "␍␇‹U+202E›" in plain
    assert "\x1b[2J" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out


def test_token_texts_are_data_not_markup() -> None:
    theme = load_theme("mono")  # bold/underline cues: markup must not add more
    s = Session.new("[bold]p[/]")
    tokens = [Token(t, t.encode(), i, -0.01) for i, t in enumerate(MARKUP)]
    node = s.add_child(s.current_id, tokens=tokens)
    for text in (branch_text(s, node.id, theme), tokens_text(tokens, theme)):
        assert "".join(MARKUP) in text.plain
        # likely tokens under mono: neither bold nor underlined, whatever their text says
        for i in range(len(text.plain)):
            style = text.get_style_at_offset(Console(), i)
            assert not style.bold and not style.underline and style.link is None


def test_instrument_renderers_keep_labels_literal_and_on_one_line() -> None:
    label = "[bold]x[/]\n\x1b[31m"
    res = SweepResult(
        variants=[
            Variant(label, "n1", "c1", "[/INST] the end.\r\x07", is_original=True),
            Variant("[/]", "n2", "c2", " the end."),
        ],
        head_id="h",
    )
    out = _ansi(sweep_rows(res))
    assert "'[bold]x[/]↵␛[31m'" in Text.from_ansi(out).plain
    assert "[/INST] the end.␍␇" in Text.from_ansi(out).plain
    assert "\x1b[31m" not in out and "\x07" not in out and "\r" not in out
    points = [Point("n", 0, "[/INST]\n", 2.5, 2.5, True), Point("n", 1, "[b]", 0.5, 0.5, True)]
    shown = Text.from_ansi(_ansi(entropy_strip(points))).plain
    assert "1. H  2.50  '[/INST]↵'" in shown and "'[b]'" in shown


def test_one_line_and_bars() -> None:
    assert one_line("a\nb\tc\x1b\x07\x00\u202e\u200b") == "a↵b→c␛␇␀‹U+202E›‹U+200B›"
    assert one_line("[bold]x[/]") == "[bold]x[/]"
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "" and bar(2.0, 3) == "███"
    assert bar(0.5 + 1 / 32, 4) == "██▏"  # eighths of a cell


def test_the_renderer_loads_neither_textual_nor_a_front_end() -> None:
    script = (
        "import sys, loomtui.render.instruments, loomtui.render.legend, loomtui.render.tokens\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith(('loomtui.ui', 'loomtui.cli', 'loomtui.config')))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
