"""The config's declaration: pydantic models of everything a config file may say (the only
declaration of it), the JSON Schema derived from them, and validation errors as one line.

Imported only when there is something to validate or write (a file, a ``LOOMTUI_*``
variable, a flag, a saved preset): with nothing configured the program starts on
:class:`loomtui.config.Unconfigured`, the same defaults read without pydantic (~50 ms of
imports less at every start). The defaults themselves are declared once, in
:mod:`loomtui.config.defaults` and :class:`~loomtui.backends.base.GenerationSettings`, and used by both.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from ..backends.base import GenerationSettings
from .defaults import MODEL_DEFAULTS, UI_DEFAULTS

_D = GenerationSettings()  # the defaults are the engine's own: one place for each number


def _values(section: BaseModel, names: Iterable[str] | None = None) -> dict[str, Any]:
    """A section's field values (``names``: only those), lists copied. Not ``model_dump()``:
    that builds pydantic's serializer, which the app's start never otherwise needs."""
    wanted = None if names is None else set(names)
    return {
        name: list(value) if isinstance(value, list) else value
        for name, value in section
        if wanted is None or name in wanted
    }


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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
        _D.context_policy, description="a branch longer than the model's window"
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
    parallel_requests: int | None = Field(
        None,
        ge=1,
        description="how many requests the server computes at once (1: the n continuations "
        "are sent one after another; left out: all at once, or 1 for llama-cpp-python)",
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
        MODEL_DEFAULTS["engine"],
        description="what runs a local model: torch (numbers within 1e-4 of an fp32 forward "
        "pass) or llamacpp (.gguf files only: llama.cpp's speed, quantized arithmetic)",
    )
    also: list[str] = Field(
        default_factory=lambda: list(MODEL_DEFAULTS["also"]),
        description="more models the app generates with beside the one it opened with, the "
        "n continuations dealt over them all: 'profile:NAME' (a configured server), "
        "'local:SPEC', or as --model (a local spec; a server's model name when the app runs "
        "on --api-base/--profile)",
    )


class UIConfig(_Section):
    """``[ui]``: how the app looks and behaves."""

    theme: str = Field(
        UI_DEFAULTS["theme"], description="colour theme (loomtui show --help lists them)"
    )
    scale: Literal["logprob", "prob"] | None = Field(
        UI_DEFAULTS["scale"],
        description="colour by logprob or by probability (default: the theme's)",
    )
    color_by: Literal["raw", "sampled"] = Field(
        UI_DEFAULTS["color_by"],
        description="colour tokens by their raw probability or the one they were sampled with "
        "(after temperature/top-p; tokens without one keep the raw)",
    )
    preset: str | None = Field(
        UI_DEFAULTS["preset"], description="the [presets.NAME] the app starts with"
    )
    auto_continue: bool = Field(
        UI_DEFAULTS["auto_continue"], description="after picking an alternative, continue"
    )


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
        from ..ui.keys import keymap_ids

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
