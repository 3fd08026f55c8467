"""``loomtui multiverse``: the top-k next tokens expanded to a depth, with path probabilities."""

from __future__ import annotations

import click

from ..instruments.multiverse import Branch, expand
from ..render.text import one_line
from ._instr import print_json, prompt_context
from .common import backend_from_args, model_options
from .params import Args

PARAMS: list[click.Parameter] = [
    *model_options(),
    click.Option(["--prompt"], required=True, help="the text to expand from"),
    click.Option(["--depth"], type=int, default=3, help="tokens deep (default 3)"),
    click.Option(["--top-k"], type=int, default=4, help="tokens per level (default 4)"),
    click.Option(
        ["--chat"],
        is_flag=True,
        help="the prompt is a user's message, answered as the model's own turn "
        "(the chat template's prompt)",
    ),
    click.Option(["--json"], is_flag=True, help="print JSON"),
]


def run(args: Args) -> int:
    if args.depth < 1 or args.top_k < 1:
        parser_error = "--depth and --top-k must be at least 1"
        from ..core.errors import LoomError

        raise LoomError(parser_error)
    backend = backend_from_args(args)
    mv = expand(backend, prompt_context(backend, args.prompt, args.chat), args.depth, args.top_k)
    if args.json:
        print_json(mv.to_json())
        return 0

    def show(b: Branch, indent: int) -> None:
        text = one_line(b.path_bytes().decode("utf-8", "replace"))
        print(f"{'  ' * indent}{b.prob:8.4%}  {text!s}   (p={b.alt.prob:.3f})")
        for c in b.children:
            show(c, indent + 1)

    for b in mv.children:
        show(b, 0)
    return 0
