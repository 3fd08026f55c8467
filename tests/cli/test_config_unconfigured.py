"""With nothing configured the config is read without pydantic (:class:`Unconfigured`), and
reads exactly as the declaration validated from nothing would; anything configured is
validated by the declaration as before."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.config import Config, UIConfig, Unconfigured, as_config, load_config
from loomtui.core.errors import LoomError


def test_the_unconfigured_defaults_read_as_the_declaration_validated_from_nothing(tmp_path):
    config = load_config(tmp_path / "none.toml", environ={})
    declared = Config.model_validate({})
    assert isinstance(config, Unconfigured) and config == declared and declared == config
    for section in ("ui", "model"):
        for name in type(getattr(declared, section)).model_fields:
            assert getattr(getattr(config, section), name) == getattr(
                getattr(declared, section), name
            ), (section, name)
    assert config.generation_settings() == declared.generation_settings() == GenerationSettings()
    assert (config.presets, config.profiles, config.keymap) == ({}, {}, {})
    assert config.generation == declared.generation  # the rest is the declaration's own
    assert config.model_dump() == declared.model_dump()
    # A list default is the reader's own copy.
    config.model.also.append("m.gguf")
    assert config.model.also == []
    # A flag makes the validated runtime copy, as over any config.
    flagged = config.with_flags(theme="mono")
    assert isinstance(flagged, Config) and flagged.ui.theme == "mono"
    assert config.with_flags(theme=None) is config
    assert as_config(None) == declared and as_config(config) is config


def test_configured_values_are_still_validated_and_refused_in_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[ui]\ntheme = "mono"\ncolour_by = "raw"\n')
    with pytest.raises(
        LoomError, match=r"unknown key 'ui\.colour_by' \(did you mean 'color_by'\?\)"
    ):
        load_config(path, environ={})
    with pytest.raises(LoomError, match=r"^environment LOOMTUI_UI__SCALE: ui\.scale"):
        load_config(tmp_path / "none.toml", environ={"LOOMTUI_UI__SCALE": "loud"})
    with pytest.raises(LoomError, match="unknown key 'model.alsoo'"):
        as_config({"model": {"alsoo": []}})
    path.write_text('[ui]\ntheme = "mono"\n')
    config = load_config(path, environ={})
    assert isinstance(config, Config) and isinstance(config.ui, UIConfig)
    assert config.ui.theme == "mono"


def test_reading_no_config_imports_no_pydantic(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LOOMTUI_")}
    env["LOOMTUI_CONFIG"] = str(tmp_path / "none.toml")
    code = (
        "import sys\n"
        "from loomtui.config import load_config\n"
        "c = load_config()\n"
        "print(c.ui.theme, c.model.engine, c.keymap, c.generation_settings().max_tokens,\n"
        "      sorted(m for m in sys.modules if m.startswith('pydantic')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["green-red", "torch", "{}", "64", "[]"]
