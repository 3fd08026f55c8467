"""``loomtui generate``: continuations of a prompt with every token's logprob and top-k.

Generation goes through :class:`loomtui.engine.Engine`, the same path as the app. ``--json``
prints the stable shape of :mod:`loomtui.cli.jsonout`; otherwise the completions are
printed coloured by probability on a terminal (plain when piped). ``-o SESSION`` adds the
prompt and its completions to a session file as a branch (creating the file if needed);
``--session SESSION`` goes on from the session's current node (in chat: a new user turn).
``--prefill TEXT`` (chat) starts the assistant's reply, which the model continues as its own.
``--model`` given several times spreads the continuations over the models
(:mod:`loomtui.cli.generate_multi`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.display import safe_line
from ..core.errors import LoomError
from ..core.tokens import Token
from ..core.tree import Node, Session
from .common import backend_from_args, model_options, sampling_options, settings_from_args
from .params import Args

if TYPE_CHECKING:
    from ..backends.base import GenerationSettings
    from ..engine import Engine

PARAMS: list[click.Parameter] = [
    *model_options(
        multiple=True,
        many_help="'default' (embedded SmolLM2-135M-Instruct), a hub id, a model folder, a .gguf "
        "file, or the model name on an --api-base server; give it several times to spread the "
        "continuations over the models (local:SPEC is a local model beside a server's, "
        "profile:NAME a configured server)",
    ),
    click.Option(["--prompt"], metavar="TEXT", default=None, help="the text to continue"),
    click.Option(
        ["--prompt-file"],
        metavar="F",
        default=None,
        help="read the prompt from a file (- = stdin), bytes kept",
    ),
    *sampling_options(),
    click.Option(
        ["--prefill"],
        metavar="TEXT",
        default=None,
        help="chat: start the assistant's reply with TEXT; the model continues it as its own",
    ),
    click.Option(
        ["-o", "--output"],
        metavar="SESSION",
        default=None,
        help="add the result to this session file (created if needed)",
    ),
    click.Option(
        ["--session"],
        metavar="SESSION",
        default=None,
        help="continue this session: the prompt becomes a new user turn after its current "
        "node (chat) or is appended there, and the reply is generated and saved",
    ),
    click.Option(["--json"], is_flag=True, help="print one JSON object"),
]
ONE_OF = [("prompt", "prompt_file")]


def read_text(text: str | None, file: str | None, what: str) -> str:
    """The text given inline, or read from a file (``-`` = stdin), as one-line errors."""
    if text is not None:
        return text
    assert file is not None
    # Bytes, decoded as they are: a text read in text mode would turn \r and \r\n into \n.
    try:
        if file == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8")
        else:
            data = Path(file).read_bytes()
        return data.decode("utf-8")
    except FileNotFoundError:
        raise LoomError(f"{what} file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoomError(f"cannot read {what} file {file}: {exc}") from None


def open_session(path: str | None) -> Session:
    """The session at ``path`` (loaded, or new when the file does not exist yet)."""
    if path is None or not Path(path).exists():
        return Session.new()
    from ..core.sessionfile import load_session

    return load_session(path)


def prompt_node(engine: Engine, prompt: str, role: str | None = None) -> Node:
    """The root's plain-text child holding exactly ``prompt`` (added if there is none), so
    another run of the same prompt adds alternates beside the earlier ones. ``role``: the
    chat turn of a new prompt node (a user's)."""
    session = engine.session
    for child in session.children(session.root_id):
        if child.tokens is None and child.plain == prompt:
            return child
    return engine.add(session.root_id, plain=prompt, origin="prompt", goto=False, role=role)


def prefill_node(engine: Engine, after: Node, prefill: str) -> Node:
    """The start of the assistant's reply ``prefill`` after the user turn ``after``: a
    plain-text assistant node (an existing one with the same text is reused)."""
    for child in engine.session.children(after.id):
        if child.tokens is None and child.plain == prefill and child.role == "assistant":
            return child
    return engine.add(after.id, plain=prefill, origin="prompt", goto=False, role="assistant")


def start_node(args: Args, engine: Engine, prompt: str, settings: GenerationSettings) -> Node:
    """The node to generate after: the prompt (a new user turn, or text appended, when going
    on with ``--session``), then the ``--prefill``. Sets ``settings.chat`` for a chat session."""
    session = engine.session
    if args.session and session.is_chat():
        settings.chat = True  # a chat session goes on as one
    if args.prefill is not None and not settings.chat:
        raise LoomError("--prefill starts the assistant's reply: it needs --chat")
    role = "user" if settings.chat else None
    current = session.current
    if args.session and (current.parent is not None or len(current)):
        # The next message of the conversation (or more text, in completion mode), after
        # wherever the session was left.
        node = (
            engine.add_turn(current.id, prompt)
            if settings.chat
            else engine.add(current.id, None, plain=prompt, origin="prompt")
        )
    else:
        node = prompt_node(engine, prompt, role)
    if args.prefill:
        node = prefill_node(engine, node, args.prefill)
    return node


def run(args: Args) -> int:
    if args.session and args.output:
        raise LoomError("give one of -o/--output and --session")
    store = None
    if args.output or args.session:
        from ..core.store import SessionStore

        # Lock + journal: a second process is refused, a kill loses at most one token.
        store = SessionStore.open(args.session or args.output)
    try:
        return _generate(args, store)
    finally:
        if store is not None:
            store.close()


def _generate(args: Args, store) -> int:  # type: ignore[no-untyped-def]
    from ..backends.sampling import check_settings
    from ..engine import Engine
    from .jsonout import dumps, generate_json, timing_json

    prompt = read_text(args.prompt, args.prompt_file, "prompt")
    settings = settings_from_args(args)
    check_settings(settings)
    session = store.session if store is not None else Session.new()
    models = list(dict.fromkeys(args.model or []))  # one backend per distinct entry
    if len(models) > 1:
        from .generate_multi import generate_multi

        return generate_multi(
            args, store, session, prompt, settings, models, start_node, print_tokens
        )
    start = time.perf_counter()
    backend = backend_from_args(args, models[0] if models else None)
    load_s = getattr(backend, "load_s", None) or (time.perf_counter() - start)
    info = backend.info()
    engine = Engine.over(store, backend) if store is not None else Engine(session, backend)
    node = start_node(args, engine, prompt, settings)
    result = engine.generate(node.id, None, settings)
    if result.tokens == 0 and result.errors:
        raise LoomError(result.errors[0])
    stats = getattr(backend, "last_stats", None) or {}
    completions = [(n.tokens or [], n.finish_reason) for n in result.nodes]
    if args.json:
        timing = timing_json(
            load_s,
            stats.get("prefill_s"),
            stats.get("decode_s", result.elapsed_s),
            result.tokens,
        )
        out = generate_json(
            model=info.name,
            backend=info.backend,
            prompt=prompt,
            prompt_token_ids=stats.get("prompt_token_ids"),
            completions=completions,
            timing=timing,
            vocab_size=info.vocab_size,
            sampling={
                "temperature": settings.temperature,
                "top_p": settings.top_p,
                "top_k": settings.top_k,
            },
        )
        if args.prefill is not None:
            out["prefill"] = args.prefill
        print(dumps(out))
        return 0
    print_completions(prompt, completions, prefill=args.prefill)
    return 0


def print_tokens(tokens: Sequence[Token]) -> None:
    """Tokens coloured on a terminal (by :mod:`loomtui.render`), plain text when piped."""
    from rich.console import Console

    from ..core.display import visible
    from ..core.scale import load_theme
    from ..core.tokens import decode, join_bytes
    from ..render.tokens import tokens_text

    if not sys.stdout.isatty():
        print(visible(decode(join_bytes(tokens))))
        return
    Console(highlight=False, soft_wrap=True).print(tokens_text(tokens, load_theme()))


def print_completions(
    prompt: str,
    completions: Sequence[tuple[Sequence[Token], str | None]],
    prefill: str | None = None,
) -> None:
    from ..core.display import visible

    print(visible(prompt))
    if prefill:
        print("--- the assistant's reply starts with ---")
        print(visible(prefill))
    for i, (tokens, reason) in enumerate(completions, 1):
        print(f"--- completion {i}/{len(completions)} (finish: {safe_line(str(reason), 100)}) ---")
        print_tokens(tokens)
