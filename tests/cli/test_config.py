"""The typed config: one declaration, unknown keys refused with the nearest name, LOOMTUI_*
overrides, flags kept out of the file, the JSON Schema derived from the declaration, keys
never shown."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.backends.openai.caps import Capabilities
from loomtui.cli import app_cmd, main
from loomtui.cli.common import resolve_profile, settings_from_args
from loomtui.cli.params import parse_args
from loomtui.config import (
    Config,
    GenerationConfig,
    ProfileConfig,
    config_path,
    config_schema,
    load_config,
    save_preset,
)
from loomtui.core import resources
from loomtui.core.errors import LoomError

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture
def launched(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(app_cmd, "launch_app", lambda **kw: calls.append(kw) or 0)
    return calls


def write(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("toml", "key", "near"),
    [
        ("[generation]\ntemprature = 0.3\n", "generation.temprature", "temperature"),
        ("[genration]\nn = 2\n", "genration", "generation"),
        ("[presets.short]\nmax_tokns = 3\n", "presets.short.max_tokns", "max_tokens"),
        ('[profiles.gpu]\napi_bsae = "http://h/v1"\n', "profiles.gpu.api_bsae", "api_base"),
        ('[ui]\nthem = "mono"\n', "ui.them", "theme"),
    ],
)
def test_an_unknown_key_is_one_line_naming_the_file_and_the_nearest_name(
    toml, key, near, launched, capsys
):
    path = write(toml)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err == (f"loomtui: config {path}: unknown key {key!r} (did you mean {near!r}?)\n"), err
    assert launched == []  # the app never started


def test_the_real_program_exits_2_with_one_line_and_no_traceback(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[generation]\ntemprature = 0.3\n")
    env = {**os.environ, "LOOMTUI_CONFIG": str(cfg), "LOOMTUI_DATA_DIR": str(tmp_path / "d")}
    env.pop("LOOMTUI_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "loomtui"], env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unknown key 'generation.temprature' (did you mean 'temperature'?)" in proc.stderr
    assert proc.stdout == ""


def test_a_bad_value_names_the_key_and_never_echoes_a_key(capsys):
    write("[generation]\ntemperature = -1\n")
    with pytest.raises(LoomError, match=r"generation\.temperature: .*greater than or equal to 0"):
        load_config()
    write(f'[profiles.p]\napi_base = "http://h/v1"\napi_key = ["{SECRET}"]\n')
    with pytest.raises(LoomError) as caught:
        load_config()
    assert "profiles.p.api_key" in str(caught.value) and SECRET not in str(caught.value)


def test_environment_overrides_and_a_misspelt_variable_is_refused(monkeypatch):
    write("[generation]\ntemperature = 0.3\nmax_tokens = 9\n")
    monkeypatch.setenv("LOOMTUI_GENERATION__TEMPERATURE", "0.7")
    monkeypatch.setenv("LOOMTUI_GENERATION__STOP", '["\\n\\n", "END"]')
    monkeypatch.setenv("LOOMTUI_UI__THEME", "mono")
    monkeypatch.setenv("LOOMTUI_KEYMAP__SIBLING_PREV", "comma")
    monkeypatch.setenv("LOOMTUI_PROFILES__GPU__API_BASE", "http://gpu:8000/v1")
    config = load_config()
    assert config.generation.temperature == 0.7 and config.generation.max_tokens == 9
    assert config.generation.stop == ["\n\n", "END"]
    assert config.ui.theme == "mono" and config.keymap == {"sibling-prev": "comma"}
    assert config.profiles["gpu"].api_base == "http://gpu:8000/v1"
    # The directories' variables are not config keys and keep working.
    assert os.environ["LOOMTUI_CONFIG"] == str(config_path())
    monkeypatch.setenv("LOOMTUI_GENERATION__TEMPRATURE", "1")
    with pytest.raises(LoomError) as caught:
        load_config()
    assert str(caught.value) == (
        "environment LOOMTUI_GENERATION__TEMPRATURE: unknown key 'generation.temprature' "
        "(did you mean 'temperature'?)"
    )
    monkeypatch.delenv("LOOMTUI_GENERATION__TEMPRATURE")
    monkeypatch.setenv("LOOMTUI_GENERATION__N", "lots")
    with pytest.raises(LoomError, match=r"^environment LOOMTUI_GENERATION__N: generation\.n"):
        load_config()


def test_a_flag_lives_in_the_runtime_copy_and_never_reaches_the_file(launched):
    path = write('[ui]\ntheme = "green-red"\n[generation]\nmax_tokens = 5\n')
    before = path.read_bytes()
    example = resources.example_path("are-bugs-real")
    assert main([str(example), "--theme", "mono"]) == 0
    config = launched[-1]["config"]
    assert isinstance(config, Config) and config.ui.theme == "mono"
    assert path.read_bytes() == before
    # Saving a preset rewrites the file from the file: the flag is not in it.
    save_preset("short", GenerationSettings(max_tokens=2), auto_continue=False)
    saved = tomllib.loads(path.read_text())
    assert saved["ui"] == {"theme": "green-red", "preset": "short", "auto_continue": False}
    assert saved["presets"]["short"]["max_tokens"] == 2 and saved["generation"]["max_tokens"] == 5


def test_a_preset_applies_over_the_generation_defaults():
    write("[generation]\ntemperature = 0.2\nmax_tokens = 9\n[presets.wide]\nn = 4\n"
          '[ui]\npreset = "wide"\n')  # fmt: skip
    s = load_config().generation_settings()
    assert (s.n, s.temperature, s.max_tokens) == (4, 0.2, 9)


def test_generate_takes_its_defaults_from_the_config_and_flags_win():
    from loomtui.cli import generate

    write("[generation]\nmax_tokens = 7\ntemperature = 0.0\nstop = ['END']\n")
    s = settings_from_args(parse_args(generate.PARAMS, ["--prompt", "x"]))
    assert (s.max_tokens, s.temperature, s.stop, s.n) == (7, 0.0, ["END"], 1)
    s = settings_from_args(parse_args(generate.PARAMS, ["--prompt", "x", "--max-tokens", "3"]))
    assert (s.max_tokens, s.temperature) == (3, 0.0)


def test_the_declaration_follows_the_engine_and_the_api_backend():
    # Every generation setting, with the engine's own default; every capability a profile
    # may override (the backend's dataclass is the other side of this contract).
    engine = {f.name: f for f in dataclasses.fields(GenerationSettings)}
    assert set(GenerationConfig.model_fields) == set(engine)
    assert GenerationConfig().settings() == GenerationSettings()
    # (notes and doctor's findings are what the backend learnt, not settings)
    caps = {f.name for f in dataclasses.fields(Capabilities)} - {"notes", "findings"}
    assert caps <= set(ProfileConfig.model_fields)


def test_the_schema_is_the_declaration(capsys):
    assert main(["config", "--schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == config_schema()
    good = {
        "generation": {"temperature": 0.5, "stop": ["\n"]},
        "presets": {"short": {"max_tokens": 2}},
        "profiles": {"gpu": {"api_base": "http://h/v1", "api_key_env": "K", "mode": "chat"}},
        "ui": {"theme": "mono", "scale": "prob"},
        "keymap": {"generate": "ctrl+r"},
    }
    jsonschema.validate(good, printed)
    Config.model_validate(good)
    for bad in (
        {"generation": {"temprature": 1}},
        {"presets": {"p": {"n": 0}}},
        {"profiles": {"p": {"mode": "both"}}},
        {"ui": {"scale": "loud"}},
        {"extra": {}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, printed)
        with pytest.raises(ValueError):
            Config.model_validate(bad)


def test_a_key_in_a_profile_is_used_but_never_printed(capsys):
    path = write(f'[profiles.p]\napi_base = "http://h/v1"\napi_key = "{SECRET}"\n')
    os.chmod(path, 0o600)
    assert resolve_profile("p") == {"api_base": "http://h/v1", "api_key": SECRET}
    assert SECRET not in repr(load_config())
    assert main(["config"]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "api_key" in out.out
    assert "profiles" in tomllib.loads(out.out.split("\n", 1)[1])
    os.chmod(path, 0o644)  # readable by others: a warning naming the fix, still no key
    load_config()
    err = capsys.readouterr().err
    assert "chmod 600" in err and SECRET not in err


def test_make_app_takes_the_typed_config_or_a_dict_of_the_files_shape():
    from loomtui.ui.app import make_app

    app = make_app(
        config={"generation": {"max_tokens": 3}, "keymap": {"generate": ["f5", "ctrl+r"]}}
    )
    assert app.settings.max_tokens == 3 and app.config.keymap == {"generate": "f5,ctrl+r"}
    assert make_app(config=Config()).settings == GenerationSettings()
    with pytest.raises(LoomError, match="unknown key 'generation.temprature'"):
        make_app(config={"generation": {"temprature": 1}})


def test_with_nothing_configured_the_defaults_are_the_declarations_and_stay_whole():
    # No file, an empty file, the dict {}: the same config, equal to the declaration validated.
    validated = Config.model_validate({})
    assert load_config() == validated and load_config().model_dump() == validated.model_dump()
    write("")
    assert load_config() == validated
    assert load_config().generation_settings() == GenerationSettings()
    # The settings handed to the engine are its own copy: changing them leaves the config be.
    write("[generation]\nstop = ['END']\n")
    config = load_config()
    settings = config.generation_settings()
    settings.stop.append("MORE")
    assert config.generation.stop == ["END"] and config.generation_settings().stop == ["END"]


START_SCRIPT = """
import sys
from pydantic_core import SchemaValidator
from loomtui.backends.base import GenerationSettings
from loomtui.cli import app_cmd, main
from loomtui.config import Config, GenerationConfig, UIConfig
from loomtui.ui.app import make_app

apps = []
app_cmd.launch_app = lambda **kw: apps.append(make_app(**kw)) or 0  # built, never run
code = main(sys.argv[1:])
app = apps[0]
built = [c.__name__ for c in (Config, GenerationConfig, UIConfig)
         if isinstance(c.__pydantic_validator__, SchemaValidator)]
print(code, app.config.ui.theme, app.settings == GenerationSettings(), built,
      "pydantic.plugin._loader" in sys.modules)
"""


def test_the_apps_start_validates_only_what_the_user_configured(tmp_path):
    # With no config file and no LOOMTUI_* variable the program's start builds none of
    # pydantic's validators (nor scans the installed packages for its plugins): the cost the
    # cold start benchmark saw. A file is still validated, and refused when wrong.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LOOMTUI_")}
    env |= {"LOOMTUI_CONFIG": str(tmp_path / "none.toml"), "LOOMTUI_DATA_DIR": str(tmp_path)}

    def start(*argv: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", START_SCRIPT, *argv], env=env, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split("\n")[-2]

    assert start() == "0 green-red True [] False"
    assert start("--theme", "mono") == "0 mono True ['UIConfig'] True"  # a flag is checked
    (tmp_path / "none.toml").write_text('[ui]\ntheme = "mono"\n')
    assert start() == "0 mono True ['Config'] True"


def test_saving_the_config_is_the_session_files_atomic_write(tmp_path):
    # One atomic write for sessions and the config: a link stays a link, its target written;
    # the config is private (0600) even over a file that was wider; no temp file left behind;
    # a read-only config is refused in one line and left as it was.
    real = tmp_path / "dotfiles" / "loomtui.toml"
    real.parent.mkdir()
    real.write_text('[ui]\ntheme = "mono"\n')
    os.chmod(real, 0o644)
    link = tmp_path / "cfg" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(real)
    save_preset("short", GenerationSettings(max_tokens=2), path=link)
    assert link.is_symlink() and tomllib.loads(real.read_text())["ui"]["preset"] == "short"
    assert (real.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in real.parent.iterdir()) == ["loomtui.toml"]
    os.chmod(real, 0o444)
    before = real.read_bytes()
    with pytest.raises(LoomError, match=r"read-only file .*not replaced"):
        save_preset("long", GenerationSettings(max_tokens=9), path=link)
    assert real.read_bytes() == before
