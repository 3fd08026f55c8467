"""Settings, export, scoring, themes and the CLI entry, driven as a person would."""

from __future__ import annotations

import tomllib

from loomtests.ui import demo_session, screen_text, wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.cli import app_cmd
from loomtui.cli.params import parse_args
from loomtui.config import config_path, sessions_dir
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.screens.export import ExportScreen
from loomtui.ui.screens.settings import SettingsScreen

SIZE = (80, 24)


async def test_settings_saved_as_preset_and_used():
    app = make_app(session=Session.new("A"), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=(90, 50)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        app.screen.query_one("#set-max_tokens").value = "2"
        app.screen.query_one("#set-temperature").value = "0.5"
        app.screen.query_one("#set-n").value = "3"
        app.screen.query_one("#set-preset").value = "short"
        app.screen.query_one("#save").press()
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)
        assert app.settings.max_tokens == 2 and app.settings.n == 3
        assert "T=0.5" in screen_text(app)
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        # n continuations at once: three siblings of two tokens each.
        sibs = app.session.siblings(app.session.current_id)
        assert len(sibs) == 3 and all(len(n.tokens) == 2 for n in sibs)
    saved = tomllib.loads(config_path().read_text())
    assert saved["presets"]["short"]["max_tokens"] == 2
    assert saved["ui"]["preset"] == "short"
    # A new app starts from the saved preset.
    again = make_app(config=saved)
    assert again.settings.max_tokens == 2 and again.settings.temperature == 0.5


async def test_settings_reject_bad_numbers():
    app = make_app(session=Session.new("A"), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=(90, 50)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#set-top_p").value = "lots"
        app.screen.query_one("#apply").press()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)  # still open, with an error
        assert app.settings.top_p == 1.0


async def test_export_every_leaf_as_markdown(tmp_path):
    out = tmp_path / "out.md"
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#scope-leaves").value = True
        app.screen.query_one("#fmt-markdown").value = True
        app.screen.query_one("#exp-path").value = str(out)
        app.screen.query_one("#export").press()
        await pilot.pause()
    text = out.read_text()
    session = demo_session()
    assert "Once upon a time" in text
    for leaf in ("gen1", "gen2"):
        assert session.node(leaf).text.strip()[:10] in text


async def test_score_colours_plain_text():
    app = make_app(session=Session.new("hello big world"), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        assert all(u.token is None for u in app.view.units)
        await pilot.press("c")
        await wait_idle(app, pilot)
        units = app.view.units
        assert [u.text for u in units] == ["hello", " big", " world"]
        assert units[1].token is not None and units[1].token.logprob is not None
        assert app.view._style_for(units[1]).color is not None
        assert app.session.branch_text(app.session.current_id) == "hello big world"


async def test_streaming_is_incremental_and_matches_full_layout():
    app = make_app(
        session=Session.new("Start"), backend=WordsBackend(delay=0.005), new_session=False
    )
    app.settings = GenerationSettings(max_tokens=120)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        streamed = [list(line) for line in app.view.layout_.lines]
        from loomtui.ui.document import DocLayout

        full = DocLayout(app.view.layout_.width)
        full.load(app.session, app.session.current_id)
        assert streamed == full.lines
        assert app.view.cursor == len(app.view.units) - 1  # followed the stream


async def test_theme_and_scale_toggle_change_colours():
    app = make_app(
        session=demo_session(),
        backend=WordsBackend(),
        new_session=False,
        config={"ui": {"theme": "green-red"}},
    )
    async with app.run_test(size=SIZE) as pilot:
        unit = app.view.units[-1]
        before = app.view._style_for(unit).color
        await pilot.press("t")  # next theme
        assert app.scale_theme.name != "green-red"
        assert app.view._style_for(unit).color != before
        await pilot.press("m")
        assert app.scale_mode == "prob"
        assert "(prob)" in screen_text(app)


async def test_mono_theme_marks_unlikely_tokens():
    app = make_app(session=demo_session(), new_session=False, config={"ui": {"theme": "mono"}})
    async with app.run_test(size=SIZE):
        scored = [u for u in app.view.units if u.token is not None]
        unlikely = [app.view._style_for(u) for u in scored if u.token.prob < 0.01]
        assert unlikely and all(s.bold and s.underline for s in unlikely)


def _args(**kw):
    return parse_args(app_cmd.PARAMS, [])


def test_recent_lists_sessions_newest_first(capsys):
    folder = sessions_dir()
    folder.mkdir(parents=True)
    old, new = folder / "a.json", folder / "b.json"
    old.write_text("{}")
    new.write_text("{}")
    import os

    os.utime(old, (1, 1))
    assert app_cmd.recent_sessions() == [new, old]
    args = _args()
    args.recent = True
    assert app_cmd.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert str(new) in out[0] and str(old) in out[1]


def test_new_session_path_is_under_data_dir():
    path = app_cmd.new_session_path()
    assert path.parent == sessions_dir() and path.suffix == ".json"
