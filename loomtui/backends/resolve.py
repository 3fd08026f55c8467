"""Turn user options into a backend: the local one, or an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Backend, BackendError, ProgressCallback


def open_backend(
    model: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
    profile: Mapping[str, Any] | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
    cache_dir: Path | None = None,
    engine: str | None = None,
) -> Backend:
    """The backend for these options. An API base (or a profile) means the API backend;
    anything else is a local model spec (``default`` when none is given).

    The front ends resolve the user's config and pass what it says: ``profile`` is a
    profile's table (not its name), ``cache_dir`` where converted local models and what
    ``loomtui doctor`` found about servers are kept. ``engine`` says what runs a local
    model (a server ignores it): ``torch`` (the default) or ``llamacpp`` (a .gguf file run by
    llama.cpp in this process; llama-cpp-python is optional, imported only then)."""
    if engine not in (None, "torch", "llamacpp"):
        raise BackendError(f"unknown engine {engine!r} (use torch or llamacpp)")
    if engine == "llamacpp" and not (api_base or profile is not None):
        return _open_llamacpp(model or "default", progress)
    if api_base or profile is not None:
        from .openai import open_api_backend

        return open_api_backend(
            model=model,
            api_base=api_base,
            api_key_env=api_key_env,
            profile=profile,
            cache_dir=cache_dir,
        )
    from .local import LocalBackend

    return LocalBackend.load(
        model or "default",
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        progress=progress,
        cache_dir=cache_dir,
    )


#: How a model entry names a configured API profile, or forces a local model.
PROFILE_PREFIX = "profile:"
LOCAL_PREFIX = "local:"


def model_entry(
    entry: str, api_base: str | None = None, profile: str | None = None
) -> tuple[str | None, str | None, str | None]:
    """One entry of a model list (``--model`` given several times, the app's ``[model] also``)
    as ``(model, api_base, profile name)`` for :func:`open_backend`.

    The spelling: ``profile:NAME`` is the configured profile's server and model;
    ``local:SPEC`` is a local model whatever else is given; any other entry is, like a single
    ``--model``, a model name on the server when the run names one (``--api-base`` or
    ``--profile``), else a local spec (``default``, a hub id, a folder, a ``.gguf``)."""
    text = entry.strip()
    if text.startswith(PROFILE_PREFIX):
        name = text[len(PROFILE_PREFIX) :].strip()
        if not name:
            raise BackendError(f"{entry!r} names no profile (profile:NAME)")
        return None, None, name
    if text.startswith(LOCAL_PREFIX):
        return text[len(LOCAL_PREFIX) :].strip() or "default", None, None
    if api_base or profile:
        return text or None, api_base, profile
    return text or "default", None, None


def _open_llamacpp(spec: str, progress: ProgressCallback | None) -> Backend:
    """The llama.cpp engine for ``spec``, or one line saying why not (a model that is not a
    GGUF, llama-cpp-python missing)."""
    from .model_spec import resolve_spec

    resolved = resolve_spec(spec)
    if resolved.kind != "gguf":
        raise BackendError(
            f"the llamacpp engine runs .gguf files; {resolved.name} is not one (use --engine torch)"
        )
    try:
        import llama_cpp  # noqa: F401 - only to know it is there
    except ImportError:
        raise BackendError(
            "the llamacpp engine needs llama-cpp-python: pip install 'loomtui[llamacpp]'"
        ) from None
    from .llamacpp import LlamaCppBackend

    if progress is not None:
        progress(f"loading {resolved.name} (llama.cpp)", 0.1)
    backend = LlamaCppBackend(resolved.location, resolved.name)
    if progress is not None:
        progress(f"loaded {resolved.name}", 1.0)
    return backend
