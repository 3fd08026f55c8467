"""``loomtui sweep``: perturb one token, continue each variant greedily, compare endings."""

from __future__ import annotations

import argparse

from ..backends.base import Context, GenerationSettings
from ..core.display import visible as _visible
from ..core.errors import LoomError
from ..core.store import SessionLock, output_lock, save_locked
from ..core.tree import Session
from ..engine import Engine
from ..instruments.sweep import sweep
from ._instr import print_json, session_branch
from .common import add_model_args, backend_from_args


def visible(text: str) -> str:
    """Model text on one line: newlines and other controls shown as symbols."""
    return _visible(text, keep_newlines=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser)
    parser.add_argument("--prompt", default=None, help="the context before the text")
    parser.add_argument(
        "--text",
        default=None,
        help="the text to perturb (scored after --prompt); without it the "
        "model continues --prompt greedily first",
    )
    parser.add_argument("--session", default=None, help="or: a session file")
    parser.add_argument("--node", default=None, help="with --session: the node (default current)")
    parser.add_argument(
        "--position", type=int, default=0, help="token index to perturb (in --text, or in --node)"
    )
    parser.add_argument("--top-k", type=int, default=4, help="alternatives to try (default 4)")
    parser.add_argument(
        "--edit",
        action="append",
        default=None,
        metavar="TEXT",
        help="an edit to try instead of the alternatives (repeatable)",
    )
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens per continuation")
    parser.add_argument("-o", "--output", default=None, help="save the session with the sweep")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if (args.prompt is None) == (args.session is None):
        raise LoomError("give either --prompt (and maybe --text) or --session")
    # The output's lock is held from before anything is read until it is written (the
    # output may be the --session file itself).
    with output_lock(args.output) as lock:
        return _sweep(args, lock)


def _sweep(args: argparse.Namespace, lock: SessionLock | None) -> int:
    backend = backend_from_args(args)
    info = backend.info()
    if args.session is not None:
        session, nid = session_branch(args.session, args.node)
    else:
        session = Session.new(args.prompt)
        if args.text is not None:
            scored = backend.score(
                args.text, prefix=Context(text=args.prompt, token_ids=backend.tokenize(args.prompt))
            )
            node = session.add_child(
                session.current_id,
                tokens=scored.tokens,
                origin="model",
                model=info.name,
                backend=info.backend,
            )
        else:
            eng = Engine(session, backend)
            settings = GenerationSettings(max_tokens=args.max_tokens, temperature=0.0)
            node = eng.generate(session.current_id, None, settings).nodes[0]
        nid = node.id
    node = session.node(nid)
    if node.tokens is None or not 0 <= args.position < len(node.tokens):
        raise LoomError(f"no model token at position {args.position} of node {nid}")
    res = sweep(
        Engine(session, backend),
        nid,
        args.position,
        top_k=args.top_k,
        edits=args.edit,
        max_tokens=args.max_tokens,
    )
    if args.output:
        save_locked(session, args.output, lock)
    if args.json:
        print_json(res.to_json())
        return 0
    print(res.summary())
    rejoin = res.rejoin_offsets()
    for v, r in zip(res.variants, rejoin, strict=True):
        mark = "*" if v.is_original else " "
        at = "" if r is None else f"  (rejoins at char {r})"
        print(f"{mark}{visible(v.label)!r:>14} → {visible(v.continuation)}{at}")
    print(f"mean {res.ngram}-gram overlap: {res.mean_overlap():.2f}")
    return 0
