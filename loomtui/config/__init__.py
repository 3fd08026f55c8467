"""The user's config: one typed declaration (:class:`Config`), the TOML file it is read from,
``LOOMTUI_*`` environment overrides, and the platform directories loomtui uses.

:class:`Config` is the only declaration of what a config file may say; the JSON Schema
(``loomtui config --schema``) is derived from it. Sections: ``[generation]`` defaults,
``[presets.NAME]`` (generation settings over those defaults), ``[profiles.NAME]`` (API base URL,
model, key variable, mode, capability overrides), ``[model]`` (the engine that runs local
models; the models generation spreads over), ``[ui]`` (theme, scale...) and ``[keymap]``
(binding id -> keys). An unknown key anywhere is refused with one line naming the file and the
nearest valid name.

The declaration lives in :mod:`loomtui.config.model` and is imported only when there is
something to validate (a file, a variable, a flag) or to write: with nothing configured the
program starts on :class:`Unconfigured`, the same defaults read without pydantic.

Why pydantic (v2 models, not pydantic-settings, not msgspec): the models validate, refuse
unknown keys (``extra="forbid"``) and produce the JSON Schema from the same classes, and
pydantic is installed wherever loomtui is. pydantic-settings would add ~0.1 s to every start
(it imports asyncio, dotenv and cloud secret providers) and its environment source silently
ignores a misspelt ``LOOMTUI_`` variable, while a misspelt variable deserves the same refusal
as a misspelt key; the scheme below is a few lines here. msgspec is faster still but is not
available on the machines this project runs on.

Environment: ``LOOMTUI_<SECTION>__<KEY>`` (``__`` between levels, case-insensitive) overrides the
file, e.g. ``LOOMTUI_GENERATION__TEMPERATURE=0.5``, ``LOOMTUI_UI__THEME=mono``,
``LOOMTUI_PROFILES__GPU__MODEL=m`` (a keymap id's ``-`` may be written ``_``:
``LOOMTUI_KEYMAP__SIBLING_PREV=comma``). A value starting with ``[`` or ``{`` is read as TOML
(``LOOMTUI_GENERATION__STOP='["\\n"]'``). ``LOOMTUI_CONFIG`` overrides the config file path;
``LOOMTUI_DATA_DIR`` and ``LOOMTUI_CACHE_DIR`` the data dir (new sessions) and cache dir
(converted weights); ``LOOMTUI_DEBUG`` lets library warnings and tracebacks through.

Command-line flags go into a runtime copy (:meth:`Config.with_flags`), never into the file:
:func:`save_preset` rewrites the file from what the file itself says. A profile names the
environment variable that holds its key (``api_key_env``); a key written into the file
(``api_key``) is accepted only with a warning unless the file is mode 0600, and is never shown.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

from ..backends.base import GenerationSettings
from ..core.errors import LoomError
from .defaults import MODEL_DEFAULTS, UI_DEFAULTS

if TYPE_CHECKING:
    from .model import Config as Config
    from .model import GenerationConfig as GenerationConfig
    from .model import ModelConfig as ModelConfig
    from .model import ProfileConfig as ProfileConfig
    from .model import UIConfig as UIConfig

APP = "loomtui"
ENV_PREFIX = "LOOMTUI_"

_DECLARED = ("Config", "GenerationConfig", "ProfileConfig", "ModelConfig", "UIConfig")


def __getattr__(name: str) -> Any:
    # The declaration's classes, imported (with pydantic) on first use: the app's start
    # with nothing configured never needs them.
    if name in _DECLARED:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Defaults:
    """A section's declared defaults as attributes (a list is a fresh copy for each reader);
    anything else a section has is the declared section's own (``model_dump``...)."""

    def __init__(self, declared: str, values: Mapping[str, Any]) -> None:
        self._declared = declared
        self._fields = dict(values)

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            value = fields[name]
            return list(value) if isinstance(value, list) else value
        from . import model

        return getattr(getattr(model, self._declared).model_construct(), name)

    def __iter__(self) -> Any:
        return iter((name, getattr(self, name)) for name in self._fields)

    def __repr__(self) -> str:
        return f"{self._declared}(defaults)"


class Unconfigured:
    """The config when nothing is configured (no file, or an empty one, and no ``LOOMTUI_*``
    variable): the declaration's defaults, read without importing pydantic (the app's start
    then skips ~50 ms of imports). It reads as the :class:`Config` it stands for: ``ui``,
    ``model``, ``keymap``, ``presets``, ``profiles``, :meth:`generation_settings`; anything
    else (``generation``, ``model_dump()``...) is the real one's, built on first use, and it
    compares equal to ``Config.model_validate({})``."""

    presets: dict[str, Any]
    profiles: dict[str, Any]
    keymap: dict[str, str]

    def __init__(self) -> None:
        self.ui = _Defaults("UIConfig", UI_DEFAULTS)
        self.model = _Defaults("ModelConfig", MODEL_DEFAULTS)
        self.presets, self.profiles, self.keymap = {}, {}, {}
        self._config: Config | None = None

    def declared(self) -> Config:
        """The real :class:`Config` of these defaults (pydantic imported here)."""
        if self._config is None:
            from .model import Config

            self._config = Config.model_construct()
        return self._config

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_config":
            raise AttributeError(name)
        return getattr(self.declared(), name)

    def generation_settings(self) -> GenerationSettings:
        """No ``[generation]``, no preset: the engine's own defaults."""
        return GenerationSettings()

    def with_flags(self, **ui: Any) -> Config | Unconfigured:
        """See :meth:`Config.with_flags` (a flag given: a validated copy of the real one)."""
        if all(v is None for v in ui.values()):
            return self
        return self.declared().with_flags(**ui)

    def holds_key(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Unconfigured):
            return True
        return bool(self.declared() == other)

    def __repr__(self) -> str:
        return repr(self.declared())


def defaults() -> Config:
    """The config when nothing is configured: the declaration's defaults, neither validated
    (each is the declaration's own value) nor even built with pydantic: an
    :class:`Unconfigured` standing for ``Config.model_validate({})``, equal to it."""
    return Unconfigured()  # type: ignore[return-value]  # reads as a Config (see the class)


def as_config(value: Config | Mapping[str, Any] | None) -> Config:
    """A :class:`Config` from what a caller has: the object itself, a dict of the file's shape
    (validated: tests and embedders), or None (the defaults)."""
    if value is None:
        return defaults()
    if not isinstance(value, Mapping):  # a Config, or the Unconfigured defaults
        return value
    return _validated(dict(value), "config")


def _validated(data: dict[str, Any], source: str) -> Config:
    from pydantic import ValidationError

    from .model import Config, _one_line

    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise LoomError(_one_line(source, exc)) from None


def restore_settings(saved: Any, defaults: GenerationSettings) -> GenerationSettings:
    """The settings a session was last used with (a dict its file keeps, see
    :data:`loomtui.core.tree.SETTINGS_META`) over ``defaults``. Fields this version does not
    know, or values it would refuse, are skipped one by one: an old or foreign file never
    stops a session from opening."""
    if not isinstance(saved, Mapping):
        return defaults
    from pydantic import ValidationError

    from .model import GenerationConfig

    merged = defaults.to_dict()
    known = GenerationConfig.model_fields
    for name, value in saved.items():
        if name not in known:
            continue
        try:
            checked = GenerationConfig.model_validate({**merged, name: value})
        except ValidationError:
            continue
        merged[name] = getattr(checked, name)
    return GenerationSettings.from_dict(merged)


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, derived from :class:`Config`."""
    from .model import config_schema

    return config_schema()


# --------------------------------------------------------------------------- directories
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


# --------------------------------------------------------------------------- reading
def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return (
        "~" + text[len(home) :]
        if home not in ("", "/") and text.startswith(home + os.sep)
        else text
    )


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """The file's own tables, unvalidated ({} when there is no file). Unreadable or
    malformed TOML is a one-line LoomError."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LoomError(f"cannot read config {_shown(path)}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LoomError(f"config {_shown(path)} is not valid TOML: {exc}") from None


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, Any]]:
    """``LOOMTUI_A__B=v`` as ``{"a.b": ("LOOMTUI_A__B", value)}`` (the dotted key path)."""
    environ = os.environ if environ is None else environ
    out: dict[str, tuple[str, Any]] = {}
    for name, raw in environ.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or "__" not in upper:
            continue  # LOOMTUI_CONFIG, LOOMTUI_DEBUG...: not config keys
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if parts[0] == "keymap" and len(parts) == 2:
            parts[1] = parts[1].replace("_", "-")
        value: Any = raw
        if raw.strip()[:1] in ("[", "{"):
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                pass  # left as text: the model says what is wrong with it
        out[".".join(parts)] = (name, value)
    return out


def _merge(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The config: the file (none is fine) with ``LOOMTUI_*`` overrides, validated. Anything
    wrong is one LoomError line naming the file (or the variable) and the key."""
    path = path or config_path()
    data = read_config_file(path)
    overrides = env_overrides(environ)
    if not data and not overrides:
        return defaults()  # no file (or an empty one) and no variable: nothing to validate
    from pydantic import ValidationError

    from .model import Config, _one_line

    file_config = _validated(data, f"config {_shown(path)}")
    if file_config.holds_key():
        _warn_if_key_exposed(path)
    if not overrides:
        return file_config
    for dotted, (_, value) in overrides.items():
        _merge(data, dotted, value)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        names = [
            var
            for dotted, (var, _) in overrides.items()
            if where == dotted or where.startswith(dotted + ".") or dotted.startswith(where + ".")
        ]
        source = f"environment {names[0]}" if names else "environment (LOOMTUI_*)"
        raise LoomError(_one_line(source, exc, more=False)) from None


def _warn_if_key_exposed(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        print(
            f"loomtui: warning: {path} holds an API key but is readable by others "
            f"(mode {mode:o}); run: chmod 600 {path} (or name a variable: api_key_env)",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------- writing
def save_config(data: Mapping[str, Any] | Config, path: Path | None = None) -> Path:
    """Write a config atomically, mode 0600 (it may hold a key). A dict is validated first:
    nothing the declaration refuses is ever written."""
    import tomli_w

    from ..core.sessionfile import write_atomic

    config = _validated(dict(data), "cannot save config") if isinstance(data, Mapping) else data
    path = path or config_path()
    table = config.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    for name, profile in config.profiles.items():
        if profile.api_key is not None:
            table["profiles"][name]["api_key"] = profile.api_key.get_secret_value()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The session files' atomic write: a link (a dotfiles checkout) keeps being one and its
    # target is written; the temp file is created exclusively, and mode 0600 from the start.
    write_atomic(tomli_w.dumps(table).encode("utf-8"), path, mode=0o600)
    return path


def save_preset(
    name: str,
    settings: GenerationSettings,
    *,
    auto_continue: bool | None = None,
    path: Path | None = None,
) -> Path:
    """Add (or replace) ``[presets.NAME]`` in the file and make it ``[ui] preset``. The file is
    rewritten from what it says itself: flags and environment overrides never reach it."""
    path = path or config_path()
    data = read_config_file(path)
    from .model import GenerationConfig

    preset = GenerationConfig.of(settings).model_dump(exclude_none=True)
    data.setdefault("presets", {})[name] = preset
    ui = data.setdefault("ui", {})
    ui["preset"] = name
    if auto_continue is not None:
        ui["auto_continue"] = auto_continue
    return save_config(data, path)
