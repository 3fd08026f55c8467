"""``loomtui probe``: a set of answers scored exactly as a distribution."""

from __future__ import annotations

import click

from ..core.display import safe_line
from ..core.errors import LoomError
from ..instruments.probe import RULE_DIGIT, RULE_NONE, RULE_TEXT, probe, range_candidates
from ..render.text import bar, one_line
from ._instr import print_json, prompt_context
from .common import backend_from_args, model_options
from .params import Args

PARAMS: list[click.Parameter] = [
    *model_options(),
    click.Option(["--prompt"], required=True),
    click.Option(
        ["--range"],
        nargs=2,
        type=int,
        default=None,
        metavar="LO HI",
        help="numeric answers LO..HI (inclusive)",
    ),
    click.Option(["--template"], default=" {n}", help="answer text for {n} (default ' {n}')"),
    click.Option(["--candidates"], default=None, help="answers separated by commas"),
    click.Option(
        ["--end-rule"],
        type=click.Choice([RULE_DIGIT, RULE_NONE]),
        default=None,
        help="digit (default for --range): an answer ends where the next token "
        "does not start with a digit; none: no end condition",
    ),
    click.Option(
        ["--vs-prompt"],
        default=None,
        metavar="TEXT",
        help="a second prompt, probed with the same answers and shown side by side",
    ),
    click.Option(
        ["--chat"],
        is_flag=True,
        help="the prompt is a user's message, answered as the model's own turn "
        "(the chat template's prompt)",
    ),
    click.Option(["--json"], is_flag=True, help="print JSON"),
]


def run(args: Args) -> int:
    if (args.range is None) == (args.candidates is None):
        raise LoomError("give either --range LO HI or --candidates A,B,...")
    if args.range is not None:
        answers = range_candidates(args.range[0], args.range[1], args.template)
        rule = args.end_rule or RULE_DIGIT
    else:
        answers = [a for a in args.candidates.split(",") if a]
        rule = args.end_rule or RULE_NONE
    backend = backend_from_args(args)
    res = probe(backend, prompt_context(backend, args.prompt, args.chat), answers, rule)
    other = None
    if args.vs_prompt is not None:
        other = probe(backend, prompt_context(backend, args.vs_prompt, args.chat), answers, rule)
    if args.json:
        data = res.to_json()
        if other is not None:
            data["versus"] = other.to_json()
        print_json(data)
        return 0
    if other is not None:
        from rich.console import Console

        from ..render.instruments import probe_table

        Console().print(probe_table([res, other], ["prompt", "vs prompt"]))
        return 0
    print(f"rule: {RULE_TEXT[rule]}")
    for c, share in zip(res.candidates, res.shares(), strict=True):
        flag = "" if c.exact else f"  [{c.prob_bounds[0]:.2e}, {c.prob_bounds[1]:.2e}]"
        print(f"{one_line(c.text)!r:>12}  {c.prob:10.3e}  {share:6.1%} {bar(share, 30)}{flag}")
    print(
        f"covered mass {res.covered_mass:.4f}   entropy {res.entropy:.3f} nats   "
        f"KL from uniform {res.kl_uniform:.3f} nats"
    )
    top = res.top()
    if top:
        print(f"top answer {one_line(top[0].text)!r} holds {top[1]:.1%}")
    for note in res.notes:
        print(f"note: {safe_line(note)}")
    return 0
