"""``loomtui export SESSION``: a branch's full text (or every leaf's) to stdout or a file.

The bytes are exact to a pipe or a file (``-o`` replaces the file atomically: an error such
as a full disk leaves the old one intact). To a terminal, control characters and escapes are
shown as visible symbols (a token could otherwise retitle or repaint the terminal) unless
``--raw`` asks for the bytes as they are."""

from __future__ import annotations

import sys

import click

from ..core.atomicfile import replace_file
from ..core.display import visible, visible_bytes
from ..core.errors import LoomError
from ..core.export import FORMATS, export
from ..core.sessionfile import load_session
from .params import Args, node_option

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    node_option(),
    click.Option(["--all"], is_flag=True, help="every leaf's full text (under --node if given)"),
    click.Option(
        ["--include-hidden"],
        is_flag=True,
        help="with --all: soft-hidden (pruned) branches too (left out by default)",
    ),
    click.Option(
        ["--format"],
        type=click.Choice(FORMATS),
        default="text",
        help="text (exact bytes), markdown (who wrote what), jsonl (one object per branch)",
    ),
    click.Option(
        ["-o", "--output"], metavar="FILE", default=None, help="write to FILE instead of stdout"
    ),
    click.Option(
        ["--raw"],
        is_flag=True,
        help="to a terminal too, write the exact bytes (escapes and controls included)",
    ),
]


def run(args: Args) -> int:
    session = load_session(args.session)
    data = export(session, args.format, args.node, args.all, include_hidden=args.include_hidden)
    if args.output:
        try:
            replace_file(args.output, data)
        except OSError as exc:
            name = visible(str(args.output), keep_newlines=False)
            raise LoomError(
                f"{name}: cannot write ({exc.strerror or exc}); the old file is unchanged"
            ) from None
        return 0
    if sys.stdout.isatty() and not getattr(args, "raw", False):
        data = visible_bytes(data).encode("utf-8")
    # Bytes, not str: partial UTF-8 and control characters reach the pipe unchanged.
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        sys.stdout.flush()
        out.write(data)
        out.flush()
    return 0
