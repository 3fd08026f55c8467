"""``loomtui show SESSION``: a branch printed with each token coloured by probability.

Model text is data: it is turned into ``rich.text.Text`` from plain strings (never parsed as
markup) after :func:`visible` has made control characters and escapes visible symbols.
"""

from __future__ import annotations

import sys

import click

from ..core.display import MAX_TOKEN_CHARS, visible, visible_token
from ..core.errors import LoomError
from ..core.scale import DEFAULT_THEME, ThemeError, list_themes, load_theme
from ..core.sessionfile import load_session
from ..core.tree import Node, Session
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    click.Option(
        ["--node"],
        metavar="ID",
        default=None,
        help="the branch ending at this node (id or unique prefix; default: the current node)",
    ),
    click.Option(["--no-color"], is_flag=True, help="plain text, no colour"),
    click.Option(
        ["--theme"],
        default=DEFAULT_THEME,
        metavar="NAME",
        help=f"probability colour scale ({', '.join(list_themes())})",
    ),
    click.Option(["--no-legend"], is_flag=True, help="leave out the legend line"),
]


def _token_display(text: str, data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return visible_token(text, data)  # an unfinished byte run shows as ‹e2 80›
    return visible(text, max_chars=MAX_TOKEN_CHARS)  # a huge token is cut, with a note


def render_branch(session: Session, node: Node, theme_name: str = DEFAULT_THEME):
    """The branch ending at ``node`` as a rich Text, tokens coloured by logprob."""
    from rich.style import Style
    from rich.text import Text

    theme = load_theme(theme_name)
    out = Text()
    unscored = Style(color=theme.unscored) if theme.unscored else Style()
    for seg in session.path(node.id):
        if seg.tokens is None:
            if seg.plain:
                out.append(visible(seg.plain), unscored)
            continue
        for tok in seg.tokens:
            colour = theme.color_for(tok.logprob)
            bold, underline = theme.emphasis_for(tok.logprob)
            style = Style(color=colour, bold=bold or None, underline=underline or None)
            out.append(_token_display(tok.text, tok.bytes), style)
        if seg.error:
            out.append(f" [failed: {visible(seg.error, keep_newlines=False)}]", Style(italic=True))
    return out


def render_legend(theme_name: str = DEFAULT_THEME):
    """One line: the colour scale from likely to unlikely."""
    from rich.style import Style
    from rich.text import Text

    theme = load_theme(theme_name)
    line = Text("likely ")
    for label, colour in theme.legend():
        line.append("\u2588\u2588", Style(color=colour))
        line.append(f" {label} ")
    line.append("unlikely; plain text = not scored")
    return line


def run(args: Args) -> int:
    from rich.console import Console

    try:
        load_theme(args.theme)
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
    console.print(render_branch(session, node, args.theme))
    if not args.no_legend and not args.no_color:
        console.print(render_legend(args.theme))
    return 0
