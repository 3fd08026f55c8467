"""Options and helpers shared by the verbs."""

from __future__ import annotations

import argparse
import sys

from ..backends.base import Backend, GenerationSettings, ProgressCallback


def add_model_args(parser: argparse.ArgumentParser, *, multiple: bool = False) -> None:
    """``--model`` (a local spec, or the model name on an API), ``--api-base`` and friends."""
    if multiple:
        parser.add_argument(
            "--model",
            action="append",
            default=None,
            metavar="SPEC",
            help="model spec (give twice to compare two models)",
        )
    else:
        parser.add_argument(
            "--model",
            default=None,
            metavar="SPEC",
            help="'default' (embedded SmolLM2-135M-Instruct), a hub id, a model folder, "
            "a .gguf file, or the model name on an --api-base server",
        )
    parser.add_argument(
        "--api-base",
        default=None,
        metavar="URL",
        help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1",
    )
    parser.add_argument(
        "--api-key-env",
        default=None,
        metavar="VAR",
        help="environment variable holding the API key (default OPENAI_API_KEY)",
    )
    parser.add_argument(
        "--profile", default=None, metavar="NAME", help="a named API profile from the config file"
    )
    parser.add_argument("--device", default=None, help="local backend: cpu, cuda, mps")
    parser.add_argument("--dtype", default=None, help="local backend: float32, bfloat16, float16")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="local backend: allow a hub model's own code to run",
    )


def add_sampling_args(parser: argparse.ArgumentParser) -> None:
    d = GenerationSettings()
    parser.add_argument("--chat", action="store_true", help="use the model's chat template")
    parser.add_argument("--max-tokens", type=int, default=d.max_tokens)
    parser.add_argument("--n", type=int, default=d.n, help="number of continuations")
    parser.add_argument("--temperature", type=float, default=d.temperature, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=d.top_p)
    parser.add_argument(
        "--top-k",
        type=int,
        default=d.top_k,
        help="sample only from the k most likely tokens (0 = off)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stop", action="append", default=[], metavar="STR")
    parser.add_argument(
        "--logprobs",
        type=int,
        default=d.logprobs_k,
        metavar="K",
        help="alternatives stored per token (default 20)",
    )
    parser.add_argument(
        "--context-policy",
        choices=("refuse", "truncate"),
        default=d.context_policy,
        help="a branch longer than the model's window: refuse (default) or drop the oldest tokens",
    )


def settings_from_args(args: argparse.Namespace) -> GenerationSettings:
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


def backend_from_args(
    args: argparse.Namespace,
    model: str | None = None,
    progress: ProgressCallback | None = stderr_progress,
) -> Backend:
    """The backend the options name. Loading progress goes to ``progress`` (the app passes its
    own; the verbs draw it on stderr when that is a terminal)."""
    from ..backends.resolve import open_backend

    backend = open_backend(
        model=model if model is not None else args.model,
        api_base=args.api_base,
        api_key_env=args.api_key_env,
        profile=args.profile,
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        progress=progress,
    )
    if progress is stderr_progress and sys.stderr.isatty():
        print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    return backend
