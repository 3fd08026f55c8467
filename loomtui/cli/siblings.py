"""``loomtui sort|dedup|prune|unhide SESSION``: siblings ordered and thinned, in the file.

Each verb opens SESSION as the app does (lock, journal: a session open elsewhere is refused,
a kill loses nothing), changes it through the :class:`~loomtui.engine.Engine` (which saves)
and prints what it did, one node a line (or ``--json``): the node's id, its numbers
(joint and mean logprob, confidence with its k, ×count, hidden) and the start of its text.

- ``sort SESSION --node ID --by KEY [--asc|--desc]``: the children of ID (default: the
  branch point of the current node) in a new order;
- ``dedup SESSION [--node ID | --all]``: identical continuations among siblings merged into
  the earliest, which counts the draws; ``--all`` at every branch point;
- ``prune SESSION --below X [--by KEY] [--node ID]``: alternates (nodes that have a
  sibling) under ID whose KEY is below X are soft-hidden; ``--hide ID`` hides by hand;
- ``unhide SESSION [--node ID ... | --all]``: shown again.

``--json`` prints ``{"session", "verb", "nodes": [{"id", "parent", "text", "joint_logprob",
"mean_logprob", "confidence", "confidence_k", "count", "hidden"}], ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import click

from ..core.errors import LoomError
from ..core.siblings import (
    SORT_KEYS,
    hidden_nodes,
    node_numbers,
    numbers_line,
    prune_selection,
    sort_key,
)
from ..core.tree import Node, Session
from ..engine import Engine
from ..render.text import one_line
from .params import Args

_SESSION = click.Argument(["session"], metavar="SESSION")
_JSON = click.Option(["--json"], is_flag=True, help="print one JSON object")


def _by(default: str | None) -> click.Option:
    return click.Option(
        ["--by"],
        type=click.Choice(list(SORT_KEYS)),
        default=default,
        required=default is None,
        help="; ".join(f"{k.name}: {k.help}" for k in SORT_KEYS.values()),
    )


@contextmanager
def _engine(path: str) -> Iterator[Engine]:
    from ..core.store import SessionStore

    store = SessionStore.open(path, create=False)
    try:
        yield Engine.over(store, None)
    finally:
        store.close()


def _node_json(node: Node) -> dict[str, Any]:
    return {"id": node.id, "parent": node.parent, "text": node.text, **node_numbers(node)}


def _report(args: Args, verb: str, nodes: Sequence[Node], **extra: Any) -> None:
    if args.json:
        from .jsonout import clean

        data = {"session": str(args.session), "verb": verb, **extra}
        data["nodes"] = [_node_json(n) for n in nodes]
        print(json.dumps(clean(data), ensure_ascii=False, allow_nan=False))
        return
    for node in nodes:
        text = one_line(node.text)
        print(f"{node.id}  {numbers_line(node)}  {text[:40] + ('…' if len(text) > 40 else '')}")


def _point(session: Session, ref: str | None) -> Node:
    """The node whose children a verb works on: ``--node``, else the parent of the current
    node's branch point (the alternates the app's branch panel shows)."""
    if ref is not None:
        return session.find(ref)
    node = session.current
    while node.parent is not None:
        parent = session.nodes[node.parent]
        if len(parent.children) > 1:
            return parent
        node = parent
    return session.root


# --------------------------------------------------------------------------- sort
def _sort(args: Args) -> int:
    with _engine(args.session) as engine:
        point = _point(engine.session, args.node)
        down = None if args.order is None else args.order == "desc"
        engine.sort_children(point.id, args.by, down)
        direction = sort_key(args.by).descending if down is None else down
        if not args.json:
            print(f"children of {point.id} by {args.by}, {'desc' if direction else 'asc'}:")
        _report(args, "sort", engine.session.children(point.id), by=args.by, node=point.id)
    return 0


SORT = SimpleNamespace(
    PARAMS=[
        _SESSION,
        click.Option(
            ["--node"],
            metavar="ID",
            default=None,
            help="sort the children of this node (default: the current branch point's)",
        ),
        _by(None),
        click.Option(["--asc", "order"], flag_value="asc", default=None, help="smallest first"),
        click.Option(["--desc", "order"], flag_value="desc", help="largest first"),
        _JSON,
    ],
    run=_sort,
)


# --------------------------------------------------------------------------- dedup
def _dedup(args: Args) -> int:
    if args.all and args.node:
        raise LoomError("give one of --node and --all")
    with _engine(args.session) as engine:
        point = engine.session.root if args.all else _point(engine.session, args.node)
        merges = engine.dedup(point.id, whole=args.all)
        kept = [engine.session.node(k) for k, _ in merges]
        if not args.json:
            gone = sum(len(g) for _, g in merges)
            print(f"{gone} duplicate{'s' if gone != 1 else ''} merged into {len(kept)} node(s)")
        _report(args, "dedup", kept, merged={k: g for k, g in merges})
    return 0


DEDUP = SimpleNamespace(
    PARAMS=[
        _SESSION,
        click.Option(
            ["--node"],
            metavar="ID",
            default=None,
            help="merge among the children of this node (default: the current branch point)",
        ),
        click.Option(["--all"], is_flag=True, help="at every branch point of the tree"),
        _JSON,
    ],
    run=_dedup,
)


# --------------------------------------------------------------------------- prune
def _prune(args: Args) -> int:
    if (args.below is None) == (not args.hide):
        raise LoomError("give --below X (a threshold) or --hide ID (by hand)")
    with _engine(args.session) as engine:
        session = engine.session
        if args.hide:
            ids = [session.find(ref).id for ref in args.hide]
        else:
            under = session.find(args.node).id if args.node else None
            ids = prune_selection(session, args.by, args.below, under)
        changed = engine.set_hidden(ids, True)
        if not args.json:
            print(f"{len(changed)} node{'s' if len(changed) != 1 else ''} hidden")
        _report(args, "prune", [session.node(n) for n in changed], current=session.current_id)
    return 0


PRUNE = SimpleNamespace(
    PARAMS=[
        _SESSION,
        click.Option(
            ["--below"],
            type=float,
            default=None,
            metavar="X",
            help="hide alternates (nodes with a sibling) whose --by value is below X",
        ),
        _by("mean_logprob"),
        click.Option(
            ["--node"], metavar="ID", default=None, help="only under this node (default: all)"
        ),
        click.Option(["--hide"], multiple=True, metavar="ID", help="hide this node (repeatable)"),
        _JSON,
    ],
    run=_prune,
)


# --------------------------------------------------------------------------- unhide
def _unhide(args: Args) -> int:
    if bool(args.all) == bool(args.node):
        raise LoomError("give --node ID (repeatable) or --all")
    with _engine(args.session) as engine:
        session = engine.session
        ids = hidden_nodes(session) if args.all else [session.find(r).id for r in args.node]
        changed = engine.set_hidden(ids, False)
        if not args.json:
            print(f"{len(changed)} node{'s' if len(changed) != 1 else ''} shown again")
        _report(args, "unhide", [session.node(n) for n in changed])
    return 0


UNHIDE = SimpleNamespace(
    PARAMS=[
        _SESSION,
        click.Option(
            ["--node"], multiple=True, metavar="ID", help="show this node again (repeatable)"
        ),
        click.Option(["--all"], is_flag=True, help="every hidden node"),
        _JSON,
    ],
    run=_unhide,
)
