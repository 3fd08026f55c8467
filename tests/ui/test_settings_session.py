"""The settings dialog: what a user chooses is kept with the session and comes back when it is
reopened (over the config's defaults); "Save preset" never writes a command-line flag into
the config file; the dialog takes typing at once and keeps what it does not show."""

from __future__ import annotations

import json
import tomllib

from loomtests.ui import demo_session, wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.cli import app_cmd, main
from loomtui.config import config_path, load_config
from loomtui.core.sessionfile import save_session
from loomtui.core.store import SessionStore
from loomtui.core.tree import SETTINGS_META
from loomtui.ui.app import make_app
from loomtui.ui.screens.settings import SettingsScreen

SIZE = (80, 24)


async def _choose(app, pilot, **fields: str) -> None:
    await pilot.press("s")
    await pilot.pause()
    assert isinstance(app.screen, SettingsScreen)
    for name, value in fields.items():
        app.screen.query_one(f"#set-{name}").value = value
    app.screen.query_one("#apply").press()
    await pilot.pause()
    assert not isinstance(app.screen, SettingsScreen)


async def test_settings_chosen_for_a_session_come_back_when_it_is_reopened(tmp_path):
    config_path().write_text("[generation]\nmax_tokens = 40\ntemperature = 0.9\n")
    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    store = SessionStore.open(path)
    app = make_app(store=store, backend=WordsBackend(), config=load_config(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.settings.max_tokens == 40
        await _choose(app, pilot, max_tokens="5", n="2", temperature="0.25")
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
    store.close()
    saved = json.loads(path.read_text())["meta"][SETTINGS_META]
    assert (saved["max_tokens"], saved["n"], saved["temperature"]) == (5, 2, 0.25)

    again = SessionStore.open(path)
    try:
        reopened = make_app(store=again, config=load_config(), new_session=False)
        s = reopened.settings
        assert (s.max_tokens, s.n, s.temperature) == (5, 2, 0.25)
    finally:
        again.close()
    # Another session still starts from the config.
    assert make_app(session=demo_session(), config=load_config()).settings.max_tokens == 40


def test_an_older_file_or_odd_saved_settings_open_with_the_defaults_for_what_is_unusable():
    config = {"generation": {"max_tokens": 40}}
    assert make_app(session=demo_session(), config=config).settings.max_tokens == 40
    session = demo_session()
    session.meta[SETTINGS_META] = {"max_tokens": 9, "n": "lots", "from_the_future": 1}
    s = make_app(session=session, config=config).settings
    assert (s.max_tokens, s.n) == (9, 1)
    session.meta[SETTINGS_META] = "not a table"
    assert make_app(session=session, config=config).settings.max_tokens == 40


async def test_save_preset_never_writes_the_theme_flag(monkeypatch, tmp_path):
    path = config_path()
    path.write_text('[ui]\ntheme = "green-red"\n')
    launched: list[dict] = []
    monkeypatch.setattr(app_cmd, "launch_app", lambda **kw: launched.append(kw) or 0)
    assert main(["--theme", "mono", str(tmp_path / "new.json")]) == 0
    app = make_app(session=demo_session(), backend=WordsBackend(), config=launched[0]["config"])
    assert app.scale_theme.name == "mono"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#set-preset").value = "short"
        app.screen.query_one("#set-max_tokens").value = "3"
        app.screen.query_one("#save").press()
        await pilot.pause()
    saved = tomllib.loads(path.read_text())
    assert saved["ui"]["theme"] == "green-red" and saved["ui"]["preset"] == "short"
    assert saved["presets"]["short"]["max_tokens"] == 3
    # The running app has the new preset and still its flag.
    assert app.config.presets["short"].max_tokens == 3 and app.config.ui.theme == "mono"


async def test_the_dialog_takes_typing_at_once_and_keeps_what_it_does_not_show():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    app.settings = GenerationSettings(stop=["\n\n"], context_policy="truncate", top_p=0.9)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        field = app.screen.query_one("#set-temperature")
        assert app.screen.focused is field
        field.value = ""
        await pilot.press("0", ".", "5")
        app.screen.query_one("#apply").press()
        await pilot.pause()
    s = app.settings
    assert s.temperature == 0.5 and s.top_p == 0.9
    assert s.stop == ["\n\n"] and s.context_policy == "truncate"


async def test_a_value_the_config_would_refuse_is_refused_in_the_dialog():
    app = make_app(session=demo_session(), backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#set-top_p").value = "1.5"
        app.screen.query_one("#apply").press()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)  # still open, with the reason
    assert app.settings.top_p == 1.0
