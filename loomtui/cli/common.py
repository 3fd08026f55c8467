"""Options and helpers shared by the verbs."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..backends.base import Backend, BackendError, GenerationSettings, ProgressCallback
from ..config import cache_dir, load_config
from .params import Args


def none_if_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A repeatable option given no times reads as None (as "not given"), not ``()``."""
    return list(value) or None


def model_options(*, multiple: bool = False) -> list[click.Parameter]:
    """``--model`` (a local spec, or the model name on an API), ``--api-base`` and friends."""
    if multiple:
        model = click.Option(
            ["--model"],
            multiple=True,
            callback=none_if_empty,
            metavar="SPEC",
            help="model spec (give twice to compare two models)",
        )
    else:
        model = click.Option(
            ["--model"],
            default=None,
            metavar="SPEC",
            help="'default' (embedded SmolLM2-135M-Instruct), a hub id, a model folder, "
            "a .gguf file, or the model name on an --api-base server",
        )
    return [
        model,
        click.Option(
            ["--api-base"],
            default=None,
            metavar="URL",
            help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1",
        ),
        click.Option(
            ["--api-key-env"],
            default=None,
            metavar="VAR",
            help="environment variable holding the API key (default OPENAI_API_KEY)",
        ),
        click.Option(
            ["--profile"],
            default=None,
            metavar="NAME",
            help="a named API profile from the config file",
        ),
        click.Option(["--device"], default=None, help="local backend: cpu, cuda, mps"),
        click.Option(["--dtype"], default=None, help="local backend: float32, bfloat16, float16"),
        click.Option(
            ["--trust-remote-code"],
            is_flag=True,
            help="local backend: allow a hub model's own code to run",
        ),
    ]


def sampling_options() -> list[click.Parameter]:
    """How ``generate`` samples: the fields of :class:`GenerationSettings`."""
    d = GenerationSettings()
    return [
        click.Option(["--chat"], is_flag=True, help="use the model's chat template"),
        click.Option(["--max-tokens"], type=int, default=d.max_tokens, show_default=True),
        click.Option(["--n"], type=int, default=d.n, help="number of continuations"),
        click.Option(["--temperature"], type=float, default=d.temperature, help="0 = greedy"),
        click.Option(["--top-p"], type=float, default=d.top_p, show_default=True),
        click.Option(
            ["--top-k"],
            type=int,
            default=d.top_k,
            help="sample only from the k most likely tokens (0 = off)",
        ),
        click.Option(["--seed"], type=int, default=None),
        click.Option(
            ["--stop"], multiple=True, metavar="STR", help="stop at this text (repeatable)"
        ),
        click.Option(
            ["--logprobs"],
            type=int,
            default=d.logprobs_k,
            metavar="K",
            help=f"alternatives stored per token (default {d.logprobs_k})",
        ),
        click.Option(
            ["--context-policy"],
            type=click.Choice(["refuse", "truncate"]),
            default=d.context_policy,
            help="a branch longer than the model's window: refuse (default) or drop the oldest tokens",
        ),
    ]


def settings_from_args(args: Args) -> GenerationSettings:
    return GenerationSettings(
        max_tokens=args.max_tokens,
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        stop=list(args.stop),
        logprobs_k=args.logprobs,
        chat=args.chat,
        context_policy=getattr(args, "context_policy", "refuse"),
    )


def stderr_progress(message: str, fraction: float | None) -> None:
    """Loading progress on stderr, only when it is a terminal."""
    if sys.stderr.isatty():
        pct = "" if fraction is None else f" {fraction * 100:3.0f}%"
        print(f"\r\x1b[2K{message}{pct}", end="", file=sys.stderr, flush=True)


def resolve_profile(name: str | None, api_base: str | None = None) -> dict[str, Any] | None:
    """The ``[profiles.NAME]`` table of the user's config, for the backend (None when no
    profile is named). The backends never read the config: the front ends resolve it here.
    A key the profile holds is passed through to the backend's HTTP client, nowhere else."""
    if not name:
        return None
    profiles = load_config().get("profiles") or {}
    if name not in profiles or not isinstance(profiles[name], dict):
        known = ", ".join(sorted(profiles)) or "none"
        raise BackendError(f"no profile {name!r} in the config (profiles: {known})")
    profile = dict(profiles[name])
    if not (api_base or profile.get("api_base")):
        raise BackendError(f"profile {name!r} has no api_base")
    return profile


def backend_from_args(
    args: Args,
    model: str | None = None,
    progress: ProgressCallback | None = stderr_progress,
) -> Backend:
    """The backend the options name. Loading progress goes to ``progress`` (the app passes its
    own; the verbs draw it on stderr when that is a terminal). The user's config is read here
    (the profile, the cache dir for converted models) and passed down."""
    from ..backends.resolve import open_backend

    backend = open_backend(
        model=model if model is not None else args.model,
        api_base=args.api_base,
        api_key_env=args.api_key_env,
        profile=resolve_profile(args.profile, args.api_base),
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        progress=progress,
        cache_dir=cache_dir(),
    )
    if progress is stderr_progress and sys.stderr.isatty():
        print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    return backend
