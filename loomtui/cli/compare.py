"""``loomtui compare``: one text scored under two models, token by token."""

from __future__ import annotations

import click

from ..core.display import safe_line
from ..core.errors import LoomError
from ..instruments.compare import compare, compare_branch
from ..render.text import one_line
from ._instr import print_json, session_branch
from .common import backend_from_args, model_options
from .params import Args, node_option

PARAMS: list[click.Parameter] = [
    *model_options(multiple=True),
    click.Option(["--text"], default=None, help="the text to score"),
    click.Option(["--session"], default=None, help="a session file: score a branch of it"),
    node_option("the branch's last node"),
    click.Option(["--top"], type=int, default=10, help="disagreements to list"),
    click.Option(["--json"], is_flag=True, help="print JSON"),
]


def run(args: Args) -> int:
    models = args.model or []
    if len(models) != 2:
        raise LoomError("give --model twice: the two models to compare")
    if (args.text is None) == (args.session is None):
        raise LoomError("give either --text or --session")
    a = backend_from_args(args, models[0])
    b = a if models[1] == models[0] and not args.api_base else backend_from_args(args, models[1])
    if args.text is not None:
        cmp = compare(a, b, args.text)
    else:
        # A chat session's reply is compared after the chat prompt each model reads.
        session, nid = session_branch(args.session, args.node)
        cmp = compare_branch(session, nid, a, b)
    if args.json:
        print_json(cmp.to_json(args.top))
        return 0
    for side, label in ((cmp.a, "A"), (cmp.b, "B")):
        ent = "n/a" if side.mean_entropy is None else f"{side.mean_entropy:.3f}"
        total = "n/a" if side.total_logprob is None else f"{side.total_logprob:.3f}"
        print(
            f"{label} {side.name}: total logprob {total} "
            f"over {len(side.tokens)} tokens, mean entropy {ent}"
        )
    print("largest disagreements (logprob B - A):")
    for s in cmp.disagreements(args.top):
        kl = "" if s.kl is None else f"  KL {s.kl:.3f}"
        print(f"  {one_line(s.text)!r:>20}  {s.diff:+.3f}{kl}")
    for note in cmp.notes:
        print(f"note: {safe_line(note)}")
    return 0
