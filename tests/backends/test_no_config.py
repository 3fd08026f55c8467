"""The backends never read the user's config: the front ends resolve it and pass it down."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import loomtui.backends
import loomtui.backends.resolve
from loomtui.backends.base import BackendError
from loomtui.backends.model_spec import converted_dir, models_cache, resolve_spec

BACKEND_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(loomtui.backends.__path__, prefix="loomtui.backends.")
)


def test_the_walk_finds_every_backend_module() -> None:
    for name in ("local", "model_spec", "resolve", "openai", "openai.compat", "openai.http"):
        assert f"loomtui.backends.{name}" in BACKEND_MODULES


@pytest.mark.parametrize("module", BACKEND_MODULES)
def test_importing_a_backend_module_does_not_import_the_config(module: str) -> None:
    code = (
        "import sys, importlib\n"
        f"importlib.import_module({module!r})\n"
        "bad = sorted(m for m in sys.modules if m == 'loomtui.config' or m.startswith('loomtui.cli'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"


def test_opening_an_api_backend_reads_no_config(monkeypatch, tmp_path: Path) -> None:
    """With a profile passed as a dict the backend never touches the config file, even one
    that would fail to load."""
    code = (
        "import sys\n"
        "from loomtui.backends.resolve import open_backend\n"
        "from loomtui.backends.base import BackendError\n"
        "try:\n"
        "    open_backend(profile={'api_base': 'http://127.0.0.1:9/v1', 'model': 'm'})\n"
        "except BackendError as exc:\n"
        "    print('error:', exc)\n"
        "print('config' if 'loomtui.config' in sys.modules else 'no config')\n"
    )
    bad = tmp_path / "config.toml"
    bad.write_text("this is [not toml", "utf-8")
    env = {**__import__("os").environ, "LOOMTUI_CONFIG": str(bad)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "no config"
    assert lines[0].startswith("error:") and "cannot connect" in lines[0]


def test_an_empty_profile_still_means_the_api_backend() -> None:
    with pytest.raises(BackendError, match="no API base URL"):
        loomtui.backends.resolve.open_backend(profile={})


def test_the_cache_dir_is_the_callers(tmp_path: Path, monkeypatch) -> None:
    from loomtui.backends import model_spec

    assert models_cache(tmp_path) == tmp_path / "models"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 100)
    assert converted_dir(gguf, tmp_path).parent == tmp_path / "models"
    # Without the embedded package, "default" finds a converted copy only in the cache given.
    monkeypatch.setattr(model_spec, "embedded_gguf", lambda: None)
    copy = tmp_path / "models" / f"{Path(model_spec.EMBEDDED_FILE).stem}-0123"
    copy.mkdir(parents=True)
    (copy / "config.json").write_text("{}")
    (copy / ".loomtui-complete").write_text("x")
    found = resolve_spec("default", tmp_path)
    assert (found.kind, found.location) == ("dir", str(copy))
    assert resolve_spec("default", tmp_path / "elsewhere").kind == "hub"
    assert resolve_spec("default", None).kind == "hub"
