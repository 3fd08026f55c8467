"""Turn user options into a backend: the local one, or an OpenAI-compatible server."""

from __future__ import annotations

from .base import Backend, ProgressCallback


def open_backend(
    model: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
    profile: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> Backend:
    """The backend for these options. An API base (or a profile) means the API backend;
    anything else is a local model spec (``default`` when none is given)."""
    if api_base or profile:
        from .openai_compat import open_api_backend

        return open_api_backend(
            model=model, api_base=api_base, api_key_env=api_key_env, profile=profile
        )
    from .local import LocalBackend

    return LocalBackend.load(
        model or "default",
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        progress=progress,
    )
