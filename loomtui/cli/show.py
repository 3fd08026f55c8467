"""``loomtui show SESSION``: a branch printed with each token coloured by probability.

Drawn by :mod:`loomtui.render` (the app's renderer): model text is data, appended to
``rich.text.Text`` (never parsed as markup) with control characters and escapes made visible.
"""

from __future__ import annotations

import sys

import click

from ..core.errors import LoomError
from ..core.scale import DEFAULT_THEME, ThemeError, list_themes, load_theme
from ..core.sessionfile import load_session
from .params import Args, node_option

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    node_option(),
    click.Option(["--no-color"], is_flag=True, help="plain text, no colour"),
    click.Option(
        ["--theme"],
        default=DEFAULT_THEME,
        metavar="NAME",
        help=f"probability colour scale ({', '.join(list_themes())})",
    ),
    click.Option(["--no-legend"], is_flag=True, help="leave out the legend line"),
]


def run(args: Args) -> int:
    from rich.console import Console

    from ..render.legend import legend
    from ..render.tokens import branch_text

    try:
        theme = load_theme(args.theme)
    except ThemeError as exc:
        raise LoomError(str(exc)) from None
    session = load_session(args.session)
    node = session.find(args.node)
    console = Console(
        file=sys.stdout, no_color=args.no_color, highlight=False, emoji=False, soft_wrap=True
    )
    if args.no_color:
        console = Console(
            file=sys.stdout, color_system=None, highlight=False, emoji=False, soft_wrap=True
        )
    console.print(branch_text(session, node.id, theme))
    if not args.no_legend and not args.no_color:
        console.print(legend(theme))
    return 0
