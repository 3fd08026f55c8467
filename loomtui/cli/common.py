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


def model_options(*, multiple: bool = False, many_help: str | None = None) -> list[click.Parameter]:
    """``--model`` (a local spec, or the model name on an API), ``--api-base`` and friends.
    ``multiple``: ``--model`` may be given several times (``many_help`` says what for)."""
    if multiple:
        model = click.Option(
            ["--model"],
            multiple=True,
            callback=none_if_empty,
            metavar="SPEC",
            help=many_help or "model spec (give twice to compare two models)",
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
        click.Option(
            ["--engine"],
            type=click.Choice(["torch", "llamacpp"]),
            default=None,
            help="local backend: what runs the model: torch, or llamacpp for .gguf files "
            "(llama.cpp's speed, quantized numbers; default: [model] engine in the config, "
            "else torch)",
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
    """How ``generate`` samples: the fields of :class:`GenerationSettings`. An option not
    given takes the config's ``[generation]`` value (:func:`settings_from_args`)."""
    d = GenerationSettings()

    def default(value: Any) -> str:
        return f"default: [generation] in the config, else {value}"

    return [
        click.Option(["--chat"], is_flag=True, help="use the model's chat template"),
        click.Option(["--max-tokens"], type=int, default=None, help=default(d.max_tokens)),
        click.Option(
            ["--n"], type=int, default=None, help=f"number of continuations ({default(d.n)})"
        ),
        click.Option(
            ["--temperature"],
            type=float,
            default=None,
            help=f"0 = greedy ({default(d.temperature)})",
        ),
        click.Option(["--top-p"], type=float, default=None, help=default(d.top_p)),
        click.Option(
            ["--top-k"],
            type=int,
            default=None,
            help=f"sample only from the k most likely tokens, 0 = off ({default(d.top_k)})",
        ),
        click.Option(["--seed"], type=int, default=None),
        click.Option(
            ["--stop"], multiple=True, metavar="STR", help="stop at this text (repeatable)"
        ),
        click.Option(
            ["--logprobs"],
            type=int,
            default=None,
            metavar="K",
            help=f"alternatives stored per token ({default(d.logprobs_k)})",
        ),
        click.Option(
            ["--context-policy"],
            type=click.Choice(["refuse", "truncate"]),
            default=None,
            help="a branch longer than the model's window: refuse or drop the oldest tokens "
            f"({default(d.context_policy)})",
        ),
    ]


def settings_from_args(
    args: Args, defaults: GenerationSettings | None = None
) -> GenerationSettings:
    """The options given, over ``defaults`` (by default the config's ``[generation]``)."""
    base = defaults if defaults is not None else load_config().generation.settings()

    def given(name: str, fallback: Any) -> Any:
        value = getattr(args, name, None)
        return fallback if value is None else value

    return GenerationSettings(
        max_tokens=given("max_tokens", base.max_tokens),
        n=given("n", base.n),
        temperature=given("temperature", base.temperature),
        top_p=given("top_p", base.top_p),
        top_k=given("top_k", base.top_k),
        seed=given("seed", base.seed),
        stop=list(getattr(args, "stop", None) or base.stop),
        logprobs_k=given("logprobs", base.logprobs_k),
        chat=bool(getattr(args, "chat", False)) or base.chat,
        context_policy=given("context_policy", base.context_policy),
    )


def stderr_progress(message: str, fraction: float | None) -> None:
    """Loading progress on stderr, only when it is a terminal. The message names files and
    models the user or a server chose: its escapes are shown, never obeyed."""
    if sys.stderr.isatty():
        from ..core.display import safe_line

        pct = "" if fraction is None else f" {fraction * 100:3.0f}%"
        print(f"\r\x1b[2K{safe_line(message, 200)}{pct}", end="", file=sys.stderr, flush=True)


def resolve_profile(name: str | None, api_base: str | None = None) -> dict[str, Any] | None:
    """The ``[profiles.NAME]`` of the user's config as the table the backend takes (None when
    no profile is named). The backends never read the config: the front ends resolve it here.
    A key the profile holds is passed through to the backend's HTTP client, nowhere else."""
    if not name:
        return None
    profiles = load_config().profiles
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise BackendError(f"no profile {name!r} in the config (profiles: {known})")
    profile = profiles[name]
    if not (api_base or profile.api_base):
        raise BackendError(f"profile {name!r} has no api_base")
    return profile.for_backend()


def engine_from_args(args: Args) -> str:
    """What runs a local model: ``--engine``, else the config's ``[model] engine``."""
    engine = getattr(args, "engine", None)
    return str(engine) if engine else load_config().model.engine


def backend_from_args(
    args: Args,
    model: str | None = None,
    progress: ProgressCallback | None = stderr_progress,
) -> Backend:
    """The backend the options name. Loading progress goes to ``progress`` (the app passes its
    own; the verbs draw it on stderr when that is a terminal). The user's config is read here
    (the profile, the cache dir for converted models) and passed down."""
    chosen = model if model is not None else args.model
    return _open(args, chosen, args.api_base, args.profile, progress)


def backend_for_entry(
    args: Args, entry: str, progress: ProgressCallback | None = stderr_progress
) -> Backend:
    """The backend one entry of a model list names (the spelling is
    :func:`loomtui.backends.resolve.model_entry`'s: ``profile:NAME``, ``local:SPEC``, else
    as a single ``--model``), with the run's other options (device, key variable...)."""
    from ..backends.resolve import model_entry

    model, api_base, profile = model_entry(entry, args.api_base, args.profile)
    return _open(args, model, api_base, profile, progress)


def _open(
    args: Args,
    model: str | None,
    api_base: str | None,
    profile: str | None,
    progress: ProgressCallback | None,
) -> Backend:
    from ..backends.resolve import open_backend

    backend = open_backend(
        model=model,
        api_base=api_base,
        api_key_env=args.api_key_env,
        profile=resolve_profile(profile, api_base),
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        progress=progress,
        cache_dir=cache_dir(),
        engine=engine_from_args(args),
    )
    if progress is stderr_progress and sys.stderr.isatty():
        print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    return backend


def warn_unapplied_journal(path: str | None) -> None:
    """One line on stderr when ``path`` has journal records its file does not hold yet (a
    loomtui process stopped before saving them): a verb that only reads the file would
    otherwise show less than the session has, without a word."""
    if not path:
        return
    from ..core.display import safe_line
    from ..core.store import pending_journal_records

    try:
        count = pending_journal_records(path)
    except Exception:  # noqa: BLE001 - a note, never a reason to fail the verb
        return
    if count:
        print(
            f"loomtui: {safe_line(str(path), 200)}: {count} journal record"
            f"{'s' if count != 1 else ''} not yet applied; open it in loomtui to recover them",
            file=sys.stderr,
        )
