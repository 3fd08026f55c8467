"""``loomtui rate SESSION --node ID VALUE``: rate a node -1, 0 or +1 (bad, so-so, good), or
clear its rating (``none``). ``-1`` works as VALUE without ``--``. Saved through the session's
store (lock and journal), as the app saves: a session open elsewhere is refused."""

from __future__ import annotations

import click

from ..core.errors import LoomError
from ..core.ratings import parse_rating, rating_mark
from ..core.store import SessionStore
from ..engine import Engine
from .params import Args, node_option

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    node_option("the node to rate", "the current node"),
    # "-1" looks like an option to click: taken as one, it means VALUE -1.
    click.Option(["-1", "minus_one"], is_flag=True, hidden=True),
    click.Argument(["value"], metavar="VALUE", required=False),
]


def run(args: Args) -> int:
    if args.minus_one and args.value is not None:
        raise LoomError("give one VALUE: -1, 0, +1 or none")
    text = "-1" if args.minus_one else args.value
    if text is None:
        raise LoomError("give a VALUE: -1, 0, +1 (or bad, meh, good), or none to clear it")
    rating = parse_rating(text)
    store = SessionStore.open(args.session, create=False)
    try:
        if store.readonly:
            raise LoomError(f"{args.session} opens read-only (an example): copy it to rate")
        engine = Engine.over(store, None)
        node = store.session.find(args.node)
        engine.set_rating(node.id, rating)
    finally:
        store.close()
    said = "unrated" if rating is None else f"{rating_mark(rating)} {rating:+d}".replace("+0", "0")
    print(f"{node.id}  {said}")
    return 0
