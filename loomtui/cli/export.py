"""``loomtui export SESSION``: a branch's full text (or every leaf's) to stdout or a file."""

from __future__ import annotations

import sys

import click

from ..core.errors import LoomError
from ..core.export import FORMATS, export
from ..core.sessionfile import load_session
from .params import Args, node_option

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    node_option(),
    click.Option(["--all"], is_flag=True, help="every leaf's full text (under --node if given)"),
    click.Option(
        ["--format"],
        type=click.Choice(FORMATS),
        default="text",
        help="text (exact bytes), markdown (who wrote what), jsonl (one object per branch)",
    ),
    click.Option(
        ["-o", "--output"], metavar="FILE", default=None, help="write to FILE instead of stdout"
    ),
]


def run(args: Args) -> int:
    session = load_session(args.session)
    data = export(session, args.format, args.node, args.all)
    if args.output:
        try:
            with open(args.output, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise LoomError(f"{args.output}: cannot write ({exc.strerror})") from None
        return 0
    # Bytes, not str: partial UTF-8 and control characters reach the pipe unchanged.
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        sys.stdout.flush()
        out.write(data)
        out.flush()
    return 0
