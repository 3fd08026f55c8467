"""``loomtui info SESSION``: nodes, leaves, depth, tokens, models used, bookmarks."""

from __future__ import annotations

import json
import time

import click

from ..core.display import visible
from ..core.sessionfile import load_session
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    click.Option(["--json"], is_flag=True, help="print the summary as JSON"),
]


def _line(text: str) -> str:
    """Text from the file (ids, names, paths) as one inert line: a node id is data too."""
    return visible(text, keep_newlines=False)


def run(args: Args) -> int:
    session = load_session(args.session)
    stats = session.stats()
    stats["current"] = session.current_id
    stats["ratings"] = {n.id: n.rating for n in session.walk() if n.rating is not None}
    stats["hidden"] = [n.id for n in session.walk() if n.hidden]  # soft-hidden (prune)
    stats["counts"] = {n.id: n.count for n in session.walk() if n.count != 1}  # dedup
    imported = session.meta.get("imported_from")
    if imported:
        stats["imported_from"] = imported
    if args.json:
        print(json.dumps(stats, ensure_ascii=True))
        return 0
    created = session.meta.get("created")
    print(f"session     {_line(str(args.session))}")
    if isinstance(imported, str):
        print(f"imported    from {_line(imported)}")
    if isinstance(created, (int, float)) and created > 0:
        print(f"created     {time.strftime('%Y-%m-%d %H:%M', time.localtime(created))}")
    print(f"nodes       {stats['nodes']}")
    print(f"leaves      {stats['leaves']}")
    print(f"depth       {stats['depth']}")
    print(f"tokens      {stats['tokens']}")
    models = ", ".join(_line(m) for m in stats["models"]) or "-"
    print(f"models      {models}")
    marks = stats["bookmarks"]
    shown = ", ".join(_line(m) for m in marks[:10])
    print(f"bookmarks   {len(marks)}" + (f": {shown}" if marks else ""))
    if len(marks) > 10:
        print(f"            ... and {len(marks) - 10} more")
    rated = list(stats["ratings"].values())
    counts = "  ".join(f"{mark} {rated.count(r)}" for r, mark in ((1, "▲"), (0, "◇"), (-1, "▼")))
    print(f"ratings     {len(rated)}" + (f": {counts}" if rated else ""))
    merged = stats["counts"]
    print(f"hidden      {len(stats['hidden'])}")
    if merged:
        print(f"merged      {len(merged)} nodes hold {sum(merged.values())} identical draws")
    print(f"current     {_line(session.current_id)}")
    return 0
