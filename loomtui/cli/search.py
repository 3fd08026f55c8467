"""``loomtui search SESSION PATTERN``: every match in the whole tree, across node boundaries.

One line per match: the node it ends in (its branch holds it), where it starts
(``node:offset``, the offset a token index in a model's node, a character in plain text), and
a snippet with the match between « and ». Model text is data: every line goes through
:func:`loomtui.core.display.visible`. Exit status 0 with matches, 1 with none (like grep).
"""

from __future__ import annotations

import json

import click

from ..core.display import visible
from ..core.search import DEFAULT_LIMIT, DEFAULT_TIMEOUT_S, Match, search
from ..core.sessionfile import load_session
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    click.Argument(["pattern"], metavar="PATTERN"),
    click.Option(["--regex", "-e"], is_flag=True, help="PATTERN is a regular expression"),
    click.Option(["--case", "-c"], is_flag=True, help="match case (default: ignore case)"),
    click.Option(
        ["--limit"],
        type=click.IntRange(1),
        default=DEFAULT_LIMIT,
        show_default=True,
        help="stop after this many matches",
    ),
    click.Option(
        ["--timeout"],
        type=click.FloatRange(0.01),
        default=DEFAULT_TIMEOUT_S,
        show_default=True,
        help="seconds before a costly regex stops with what it found",
    ),
    click.Option(["--json"], is_flag=True, help="print the matches as JSON"),
]


def _line(text: str) -> str:
    return visible(text, keep_newlines=False)


def match_json(m: Match) -> dict[str, object]:
    """A match as JSON: the node it ends in, where it starts, the units of each node it
    covers (``[node, first, after last]``), its text and its context."""
    return {
        "node": m.node_id,
        "start": {"node": m.start[0], "offset": m.start[1]},
        "spans": [list(s) for s in m.spans],
        "text": m.text,
        "before": m.before,
        "after": m.after,
    }


def run(args: Args) -> int:
    session = load_session(args.session)
    result = search(
        session,
        args.pattern,
        is_regex=args.regex,
        case=args.case,
        limit=args.limit,
        timeout_s=args.timeout,
    )
    if args.json:
        out = {
            "pattern": args.pattern,
            "regex": bool(args.regex),
            "case": bool(args.case),
            "count": len(result.matches),
            "truncated": result.truncated,
            "timed_out": result.timed_out,
            "elapsed_s": round(result.elapsed_s, 4),
            "matches": [match_json(m) for m in result.matches],
        }
        print(json.dumps(out, ensure_ascii=True))
        return 0 if result.matches else 1
    for m in result.matches:
        start = f"{m.start[0]}:{m.start[1]}"
        snippet = f"{_line(m.before)}«{_line(m.text)}»{_line(m.after)}"
        print(f"{_line(m.node_id)}  {_line(start)}  {snippet}")
    n = len(result.matches)
    tail = ""
    if result.truncated:
        tail = f" (stopped at --limit {args.limit})"
    elif result.timed_out:
        tail = f" (stopped after {args.timeout:g} s: the pattern is too costly; --timeout)"
    print(f"{result.count_text.split(' ')[0]} match{'es' if n != 1 else ''}{tail}")
    return 0 if result.matches else 1
