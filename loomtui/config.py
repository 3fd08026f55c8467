"""The user's config: one typed declaration (:class:`Config`), the TOML file it is read from,
``LOOMTUI_*`` environment overrides, and the platform directories loomtui uses.

:class:`Config` is the only declaration of what a config file may say; the JSON Schema
(``loomtui config --schema``) is derived from it. Sections: ``[generation]`` defaults,
``[presets.NAME]`` (generation settings over those defaults), ``[profiles.NAME]`` (API base URL,
model, key variable, mode, capability overrides), ``[model]`` (the engine that runs local
models; the models generation spreads over), ``[ui]`` (theme, scale...) and ``[keymap]``
(binding id -> keys). An unknown key anywhere is refused with one line naming the file and the
nearest valid name.

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

import difflib
import os
import re
import stat
import sys
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir, user_config_dir, user_data_dir
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from .backends.base import GenerationSettings
from .core.errors import LoomError
from .core.scale import DEFAULT_THEME

APP = "loomtui"
ENV_PREFIX = "LOOMTUI_"

_D = GenerationSettings()  # the defaults are the engine's own: one place for each number


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _values(section: BaseModel, names: Iterable[str] | None = None) -> dict[str, Any]:
    """A section's field values (``names``: only those), lists copied. Not ``model_dump()``:
    that builds pydantic's serializer, which the app's start never otherwise needs."""
    wanted = None if names is None else set(names)
    return {
        name: list(value) if isinstance(value, list) else value
        for name, value in section
        if wanted is None or name in wanted
    }


class GenerationConfig(_Section):
    """``[generation]`` and each ``[presets.NAME]``: how to sample (the fields of
    :class:`~loomtui.backends.base.GenerationSettings`)."""

    max_tokens: int = Field(_D.max_tokens, ge=1, description="tokens per continuation")
    n: int = Field(_D.n, ge=1, description="continuations per generation")
    temperature: float = Field(_D.temperature, ge=0, description="0 = greedy")
    top_p: float = Field(_D.top_p, gt=0, le=1)
    top_k: int = Field(_D.top_k, ge=0, description="sample from the k most likely (0 = off)")
    seed: int | None = Field(_D.seed, description="fixed seed (absent = random)")
    stop: list[str] = Field(default_factory=list, description="stop at any of these texts")
    logprobs_k: int = Field(_D.logprobs_k, ge=0, description="alternatives stored per token")
    chat: bool = Field(_D.chat, description="use the model's chat template")
    context_policy: Literal["refuse", "truncate"] = Field(
        "refuse", description="a branch longer than the model's window"
    )

    def settings(self) -> GenerationSettings:
        """The engine's settings object."""
        return GenerationSettings.from_dict(_values(self))

    @classmethod
    def of(cls, settings: GenerationSettings) -> GenerationConfig:
        """The settings, validated (a bad value is a ValueError naming the field)."""
        return cls.model_validate(settings.to_dict())


class ProfileConfig(_Section):
    """``[profiles.NAME]``: an OpenAI-compatible server. Every capability left out is detected
    (from the URL, then ``/models``); one given here wins over detection."""

    api_base: str | None = Field(None, description="e.g. http://gpu-box:8000/v1")
    model: str | None = Field(None, description="the model's name on the server")
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    api_key: SecretStr | None = Field(
        None, description="the key itself: only in a file of mode 0600 (prefer api_key_env)"
    )
    mode: Literal["completion", "chat"] | None = None
    server: str | None = Field(None, description="openai, vllm, llama.cpp, ollama, ...")
    max_logprobs: int | None = Field(None, ge=0)
    supports_echo: bool | None = None
    supports_n: bool | None = None
    supports_top_k: bool | None = None
    prompt_logprobs: bool | None = Field(
        None, description="the server scores the prompt with vLLM's prompt_logprobs"
    )
    post_sampling_probs: bool | None = Field(
        None,
        description="ask llama-server for the probabilities after its sampler chain instead "
        "of the raw ones (one kind a request; raw when left out)",
    )
    stream: bool | None = None
    prefill: Literal["continue", "prefix", "none"] | None = Field(
        None, description="how the server continues a started assistant reply (chat)"
    )
    timeout: float | None = Field(None, gt=0, description="seconds")
    vocab_size: int | None = Field(None, ge=1)
    context_length: int | None = Field(None, ge=1)
    extra_body: dict[str, Any] | None = Field(None, description="sent with every request")

    def for_backend(self) -> dict[str, Any]:
        """The table the API backend takes: the fields given, the key (if any) revealed.
        (The backends never read the config; this is what the front end passes down.)"""
        out = self.model_dump(exclude_none=True)
        if self.api_key is not None:
            out["api_key"] = self.api_key.get_secret_value()
        return out


class ModelConfig(_Section):
    """``[model]``: how local models run, and the models the app generates with."""

    engine: Literal["torch", "llamacpp"] = Field(
        "torch",
        description="what runs a local model: torch (numbers within 1e-4 of an fp32 forward "
        "pass) or llamacpp (.gguf files only: llama.cpp's speed, quantized arithmetic)",
    )
    also: list[str] = Field(
        default_factory=list,
        description="more models the app generates with beside the one it opened with, the "
        "n continuations dealt over them all: 'profile:NAME' (a configured server), "
        "'local:SPEC', or as --model (a local spec; a server's model name when the app runs "
        "on --api-base/--profile)",
    )


class UIConfig(_Section):
    """``[ui]``: how the app looks and behaves."""

    theme: str = Field(DEFAULT_THEME, description="colour theme (loomtui show --help lists them)")
    scale: Literal["logprob", "prob"] | None = Field(
        None, description="colour by logprob or by probability (default: the theme's)"
    )
    color_by: Literal["raw", "sampled"] = Field(
        "raw",
        description="colour tokens by their raw probability or the one they were sampled with "
        "(after temperature/top-p; tokens without one keep the raw)",
    )
    preset: str | None = Field(None, description="the [presets.NAME] the app starts with")
    auto_continue: bool = Field(True, description="after picking an alternative, continue")


def _keys_text(value: Any) -> Any:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(v.strip() for v in value)
    return value


class Config(_Section):
    """Everything a config file may say (the only declaration of it)."""

    # The sections' defaults are built, not validated (see :func:`defaults`): a default is the
    # declaration's own value, and validating it would build pydantic's validators at start.
    generation: GenerationConfig = Field(default_factory=GenerationConfig.model_construct)
    presets: dict[str, GenerationConfig] = Field(
        default_factory=dict, description="named generation settings, over [generation]"
    )
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
    ui: UIConfig = Field(default_factory=UIConfig.model_construct)
    model: ModelConfig = Field(default_factory=ModelConfig.model_construct)
    keymap: dict[str, str] = Field(
        default_factory=dict,
        description='binding id -> keys, e.g. generate = "ctrl+r" (several: "f5,ctrl+r")',
    )

    @field_validator("keymap", mode="before")
    @classmethod
    def _keymap_lists(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: _keys_text(v) for k, v in value.items()}
        return value

    @field_validator("keymap")
    @classmethod
    def _keymap_ids(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            return value
        # The ids are the app's bindings' (declared without textual: a cheap import).
        from .ui.keys import keymap_ids

        known = keymap_ids()
        for name in value:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else "F1 in the app lists them"
                text = f"unknown keymap id {name!r} ({hint})"
                raise PydanticCustomError("unknown_keymap_id", "{text}", {"text": text})
        return value

    def generation_settings(self) -> GenerationSettings:
        """The settings a new session starts with: ``[generation]``, and over it the preset
        ``[ui] preset`` names (only the keys the preset gives)."""
        base = _values(self.generation)
        preset = self.presets.get(self.ui.preset or "")
        if preset is not None:
            base.update(_values(preset, preset.model_fields_set))
        return GenerationSettings.from_dict(base)

    def with_flags(self, **ui: Any) -> Config:
        """A runtime copy with command-line flags over ``[ui]`` (``None`` = not given). The
        copy is never written: :func:`save_preset` works from the file."""
        given = {k: v for k, v in ui.items() if v is not None}
        if not given:
            return self
        return self.model_copy(update={"ui": UIConfig.model_validate(self.ui.model_dump() | given)})

    def holds_key(self) -> bool:
        return any(p.api_key is not None for p in self.profiles.values())


def defaults() -> Config:
    """The config when nothing is configured: the declaration's defaults, built without
    validation. They need none (each is the declaration's own value), and skipping it keeps
    the app's start from building pydantic's validators and scanning the installed packages
    for pydantic plugins (~15-20 ms). Equal to ``Config.model_validate({})``."""
    return Config.model_construct()


def as_config(value: Config | Mapping[str, Any] | None) -> Config:
    """A :class:`Config` from what a caller has: the object itself, a dict of the file's shape
    (validated: tests and embedders), or None (the defaults)."""
    if value is None:
        return defaults()
    if isinstance(value, Config):
        return value
    try:
        return Config.model_validate(dict(value))
    except ValidationError as exc:
        raise LoomError(_one_line("config", exc)) from None


def restore_settings(saved: Any, defaults: GenerationSettings) -> GenerationSettings:
    """The settings a session was last used with (a dict its file keeps, see
    :data:`loomtui.core.tree.SETTINGS_META`) over ``defaults``. Fields this version does not
    know, or values it would refuse, are skipped one by one: an old or foreign file never
    stops a session from opening."""
    if not isinstance(saved, Mapping):
        return defaults
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


def _plain(node: Any) -> Any:
    # Docstrings become descriptions: drop their reST markup (``x``, :class:`~a.b.C`).
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        node = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`.]+)`", r"\1", node)
        return " ".join(node.replace("``", "`").split())
    return node


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, derived from :class:`Config`."""
    schema = _plain(Config.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "loomtui config.toml"
    return schema


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


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose field the last element of ``loc`` would be."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            if field is None:
                return None
            model = field.annotation
        elif typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]
        else:
            return None
        if isinstance(model, types.UnionType) or typing.get_origin(model) is typing.Union:
            model = next((a for a in typing.get_args(model) if a is not type(None)), None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(err: Mapping[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    dotted = ".".join(str(p) for p in loc)
    if err.get("type") == "extra_forbidden" and loc:
        model = _model_at(loc)
        names = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else (f" (valid: {', '.join(names)})" if names else "")
        )
        return f"unknown key {dotted!r}{hint}"
    # The message only, never the input: it could be a key.
    return f"{dotted}: {err.get('msg', 'invalid')}" if dotted else str(err.get("msg", "invalid"))


def _one_line(source: str, exc: ValidationError, more: bool = True) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    extra = f" (and {len(errors) - 1} more)" if more and len(errors) > 1 else ""
    return f"{source}: {_describe(errors[0])}{extra}"


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The config: the file (none is fine) with ``LOOMTUI_*`` overrides, validated. Anything
    wrong is one LoomError line naming the file (or the variable) and the key."""
    path = path or config_path()
    data = read_config_file(path)
    overrides = env_overrides(environ)
    if not data and not overrides:
        return defaults()  # no file (or an empty one) and no variable: nothing to validate
    try:
        file_config = Config.model_validate(data)
    except ValidationError as exc:
        raise LoomError(_one_line(f"config {_shown(path)}", exc)) from None
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

    from .core.sessionfile import write_atomic

    if isinstance(data, Config):
        config = data
    else:
        try:
            config = Config.model_validate(dict(data))
        except ValidationError as exc:
            raise LoomError(_one_line("cannot save config", exc)) from None
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
    preset = GenerationConfig.of(settings).model_dump(exclude_none=True)
    data.setdefault("presets", {})[name] = preset
    ui = data.setdefault("ui", {})
    ui["preset"] = name
    if auto_continue is not None:
        ui["auto_continue"] = auto_continue
    return save_config(data, path)
