"""``loomtui loom``: adaptive looming, a tree grown greedily that branches where the model is
unsure (:mod:`loomtui.instruments.adaptive`).

``--json`` prints ``{"model", "backend", "prompt", "prompt_token_ids", "exact_entropy",
"batched", "model_calls", "nodes": [{"id", "parent", "reason", "finish_reason", "depth",
"text", "confidence", "confidence_k", "tokens": [...]}]}``: each token in the shape of
``generate --json`` (:func:`~loomtui.cli.jsonout.token_json`), a node's confidence the mean
over its tokens, ``parent`` null for a node hanging at the prompt
(or at ``--node``), nodes parents first. ``start_reason`` says why the
first nodes hang at the prompt when the point itself was a branch point (else null).
``-o SESSION`` saves the tree in a session file
(added to it when it exists); the ids are the session's. It is written as the app writes
(:mod:`loomtui.cli.verbstore`): the grown tree is an undo step there.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..core.errors import LoomError
from ..core.tree import Session
from ..engine import Engine
from ..instruments.adaptive import AdaptiveResult, AdaptiveSettings, commit, loom
from ..render.text import one_line
from ._instr import session_branch
from .common import backend_from_args, model_options, stderr_progress
from .params import Args, node_option
from .verbstore import VerbOutput, pick_node, verb_output

PARAMS: list[click.Parameter] = [
    *model_options(),
    click.Option(["--prompt"], metavar="TEXT", default=None, help="the text to grow from"),
    click.Option(["--session"], metavar="S.json", default=None, help="or: a session file"),
    node_option("with --session: grow from the end of this node"),
    click.Option(
        ["--branch-entropy"],
        type=float,
        default=None,
        metavar="H",
        help="branch where the entropy reaches H nats (exact locally; its lower bound on an "
        "API). Default 2.0 unless only --branch-p is given",
    ),
    click.Option(
        ["--branch-p"],
        type=float,
        default=None,
        metavar="P",
        help="branch where the greedy token's probability falls below P",
    ),
    click.Option(["--top"], type=int, default=3, metavar="K", help="children per branch (3)"),
    click.Option(
        ["--max-depth"], type=int, default=2, metavar="D", help="branch points per path (2)"
    ),
    click.Option(
        ["--max-tokens"],
        type=int,
        default=24,
        metavar="T",
        help="tokens per node, counted from its branch point (24)",
    ),
    click.Option(
        ["--max-nodes"], type=int, default=64, metavar="N", help="the whole tree's budget (64)"
    ),
    click.Option(
        ["--min-p"],
        type=float,
        default=0.0,
        metavar="M",
        help="only alternatives with p >= M become children (the greedy one always does)",
    ),
    click.Option(
        ["--stop"], multiple=True, metavar="STR", help="end a branch at this text (repeatable)"
    ),
    click.Option(
        ["-o", "--output"],
        metavar="SESSION",
        default=None,
        help="save the tree in this session file (added to it if it exists)",
    ),
    click.Option(["--json"], is_flag=True, help="print one JSON object"),
]


def settings_from(args: Args) -> AdaptiveSettings:
    entropy = args.branch_entropy
    if entropy is None and args.branch_p is None:
        entropy = 2.0
    settings = AdaptiveSettings(
        entropy=entropy,
        p=args.branch_p,
        top_k=args.top,
        max_depth=args.max_depth,
        max_tokens=args.max_tokens,
        max_nodes=args.max_nodes,
        min_p=args.min_p,
        stop=tuple(args.stop or ()),
    )
    try:
        settings.check()
    except ValueError as exc:
        raise LoomError(str(exc)) from None
    return settings


def run(args: Args) -> int:
    if (args.prompt is None) == (args.session is None):
        raise LoomError("give either --prompt or --session")
    if args.node is not None and args.session is None:
        raise LoomError("--node needs --session")
    settings = settings_from(args)
    # The output is locked before the model works and written through the store (the
    # grown tree an undo step); it may be the --session file itself.
    out = verb_output(args.output, args.session)
    if out is None:
        return _loom(args, settings, None)
    with out:
        return _loom(args, settings, out)


def _progress(done: int, total: int) -> None:
    stderr_progress(f"loom: {done} of at most {total} nodes", None)


def _loom(args: Args, settings: AdaptiveSettings, out: VerbOutput | None) -> int:
    from .generate import prompt_node

    backend = backend_from_args(args)
    info = backend.info()
    if out is not None:
        session = out.session
        if args.session is not None:
            nid = pick_node(session, args.session, args.node)
    elif args.session is not None:
        session, nid = session_branch(args.session, args.node)
    else:
        session = Session.new()
    # Growing changes nothing: the output's engine (its store) is taken for the changes.
    grower = Engine(session, backend)
    engine = out.engine(backend) if out is not None and args.session is None else grower
    if args.session is None:
        nid = prompt_node(engine, args.prompt).id
    prompt = args.prompt if args.prompt is not None else session.branch_text(nid)
    try:
        result = loom(grower, nid, None, settings, progress=_progress)
    finally:
        if sys.stderr.isatty():
            print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    commit(out.engine(backend) if out is not None else grower, nid, None, result)
    if args.json:
        from .jsonout import dumps

        print(dumps(loom_json(result, info.name, info.backend, prompt, info.vocab_size)))
        return 0
    print_tree(result)
    return 0


def loom_json(
    result: AdaptiveResult,
    model: str,
    backend: str,
    prompt: str,
    vocab_size: int | None = None,
) -> dict[str, Any]:
    """The ``loom --json`` object of a committed result (ids are the session's)."""
    from ..core.metrics import mean_confidence
    from .jsonout import token_json

    nodes = []
    for g in result.kept():
        parent = g.parent
        conf = mean_confidence(g.tokens)  # the node's: the mean over its tokens, k said
        nodes.append(
            {
                "id": g.node_id,
                "parent": None if parent is None or parent.hangs_at_point else parent.node_id,
                "reason": g.reason,
                "finish_reason": g.finish_reason,
                "depth": g.depth,
                "text": g.text,
                "branch": g.branch,
                "confidence": None if conf is None else conf[0],
                "confidence_k": None if conf is None else conf[1],
                "tokens": [token_json(t, vocab_size) for t in g.tokens],
            }
        )
    return {
        "model": model,
        "backend": backend,
        "prompt": prompt,
        "prompt_token_ids": result.prompt_token_ids,
        "exact_entropy": result.exact,
        "batched": result.batched,
        "model_calls": result.model_calls,
        "settings": result.settings.to_dict(),
        # Why the first nodes hang at the prompt when the point itself was uncertain.
        "start_reason": result.root.reason if result.root.hangs_at_point else None,
        "nodes": nodes,
    }


def print_tree(result: AdaptiveResult) -> None:
    """The tree indented by depth, each node's text on one line and why it ended."""

    def show(g: Any, indent: int) -> None:
        if not g.hangs_at_point:
            print(f"{'  ' * indent}{one_line(g.text)!s}   [{one_line(str(g.reason))}]")
            indent += 1
        for child in g.children:
            show(child, indent)

    show(result.root, 0)
    points = len(result.branch_points())
    print(
        f"{len(result.kept())} nodes, {points} branch point{'s' if points != 1 else ''}, "
        f"{result.tokens} tokens, {result.model_calls} model calls"
    )
