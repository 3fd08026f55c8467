"""The user's config file (TOML) and the platform directories loomtui uses.

``LOOMTUI_CONFIG`` overrides the config file path; ``LOOMTUI_DATA_DIR`` and
``LOOMTUI_CACHE_DIR`` override the data dir (new sessions) and cache dir (converted weights).
Sections: ``[generation]`` defaults, ``[presets.NAME]``, ``[profiles.NAME]`` (API base URL,
model, key variable, mode, capability overrides), ``[keymap]`` (binding id -> keys),
``[ui]`` (theme, scale...). A config holding a key is kept at mode 0600.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

from .core.errors import LoomError

APP = "loomtui"


def config_path() -> Path:
    env = os.environ.get("LOOMTUI_CONFIG")
    return Path(env) if env else Path(user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    env = os.environ.get("LOOMTUI_DATA_DIR")
    return Path(env) if env else Path(user_data_dir(APP))


def cache_dir() -> Path:
    env = os.environ.get("LOOMTUI_CACHE_DIR")
    return Path(env) if env else Path(user_cache_dir(APP))


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The config as a dict ({} when there is no file). A malformed file is a LoomError."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LoomError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LoomError(f"config {path} is not valid TOML: {exc}") from None
    _warn_if_key_exposed(path, data)
    return data


def _holds_key(data: dict[str, Any]) -> bool:
    for profile in (data.get("profiles") or {}).values():
        if isinstance(profile, dict) and profile.get("api_key"):
            return True
    return False


def _warn_if_key_exposed(path: Path, data: dict[str, Any]) -> None:
    if not _holds_key(data) or os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        print(
            f"loomtui: warning: {path} holds an API key but is readable by others "
            f"(mode {mode:o}); run: chmod 600 {path}",
            file=sys.stderr,
        )


def save_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write the config atomically, mode 0600 (it may hold a key)."""
    import tomli_w

    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(tomli_w.dumps(data).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
