"""``loomtui sweep``: perturb one token, continue each variant greedily, compare endings."""

from __future__ import annotations

import click

from ..backends.base import Context, GenerationSettings
from ..core.errors import LoomError
from ..core.tree import Session
from ..engine import Engine
from ..instruments.sweep import sweep
from ..render.text import one_line
from ._instr import print_json, session_branch
from .common import backend_from_args, model_options, none_if_empty
from .params import Args, node_option
from .verbstore import VerbOutput, pick_node, verb_output

PARAMS: list[click.Parameter] = [
    *model_options(),
    click.Option(["--prompt"], default=None, help="the context before the text"),
    click.Option(
        ["--text"],
        default=None,
        help="the text to perturb (scored after --prompt); without it the "
        "model continues --prompt greedily first",
    ),
    click.Option(["--session"], default=None, help="or: a session file"),
    node_option("with --session: the node"),
    click.Option(
        ["--position"], type=int, default=0, help="token index to perturb (in --text, or in --node)"
    ),
    click.Option(["--top-k"], type=int, default=4, help="alternatives to try (default 4)"),
    click.Option(
        ["--edit"],
        multiple=True,
        callback=none_if_empty,
        metavar="TEXT",
        help="an edit to try instead of the alternatives (repeatable)",
    ),
    click.Option(["--max-tokens"], type=int, default=48, help="tokens per continuation"),
    click.Option(
        ["-o", "--output"],
        default=None,
        help="save the session with the sweep (its variants one undo step there)",
    ),
    click.Option(["--json"], is_flag=True, help="print JSON"),
]


def run(args: Args) -> int:
    if (args.prompt is None) == (args.session is None):
        raise LoomError("give either --prompt (and maybe --text) or --session")
    # The output is locked before the model works and written through the store, each
    # change an undo step (it may be the --session file itself; with --prompt it holds a
    # new session).
    fresh = Session.new(args.prompt) if args.session is None else None
    out = verb_output(args.output, args.session, fresh)
    if out is None:
        return _sweep(args, None, fresh)
    with out:
        return _sweep(args, out, fresh)


def _sweep(args: Args, out: VerbOutput | None, fresh: Session | None) -> int:
    backend = backend_from_args(args)
    info = backend.info()
    if out is not None:
        session = out.session
        if args.session is not None:
            nid = pick_node(session, args.session, args.node)
    elif args.session is not None:
        session, nid = session_branch(args.session, args.node)
    else:
        assert fresh is not None
        session = fresh
    plain = Engine(session, backend) if out is None else None

    def engine_() -> Engine:
        """Taken where the tree first changes (a refusal before leaves -o as it was)."""
        return out.engine(backend) if out is not None else plain  # type: ignore[return-value]

    if args.session is None:
        if args.text is not None:
            scored = backend.score(
                args.text, prefix=Context(text=args.prompt, token_ids=backend.tokenize(args.prompt))
            )
            node = engine_().add(
                session.current_id,
                tokens=scored.tokens,
                origin="model",
                model=info.name,
                backend=info.backend,
                # Given text, scored: it ended where the text did (with no finish reason
                # every opening would take it for a generation a crash cut short).
                finish_reason="scored",
            )
        else:
            settings = GenerationSettings(max_tokens=args.max_tokens, temperature=0.0)
            node = engine_().generate(session.current_id, None, settings).nodes[0]
        nid = node.id
    node = session.node(nid)
    if node.tokens is None or not 0 <= args.position < len(node.tokens):
        raise LoomError(f"no model token at position {args.position} of node {nid}")
    res = sweep(
        engine_(),
        nid,
        args.position,
        top_k=args.top_k,
        edits=args.edit,
        max_tokens=args.max_tokens,
    )
    if args.json:
        print_json(res.to_json())
        return 0
    print(res.summary())
    rejoin = res.rejoin_offsets()
    for v, r in zip(res.variants, rejoin, strict=True):
        mark = "*" if v.is_original else " "
        at = "" if r is None else f"  (rejoins at char {r})"
        print(f"{mark}{one_line(v.label)!r:>14} → {one_line(v.continuation)}{at}")
    print(f"mean {res.ngram}-gram overlap: {res.mean_overlap():.2f}")
    return 0
