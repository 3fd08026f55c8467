"""``loomtui undo|redo|split|merge|delete|copy SESSION``: tree surgery and undo, in the file.

Each verb opens SESSION as the app does (its lock: a session open elsewhere is refused; a
read-only file is refused; its journal and undo history are read), makes the change through
the :class:`~loomtui.engine.Engine` (which saves and records the undo step, so the app's
ctrl+z and ``loomtui undo`` take back what a verb did, and the other way round) and prints one
line (or ``--json``):

- ``undo SESSION [--steps N] [--list]``: undo the last N changes (``--list``, which only reads
  and so works on a session open in the app: show what can
  be undone and redone, newest first, and change nothing); ``redo`` the same way;
- ``split SESSION --node ID --at K``: cut the node after its K-th token (character for
  plain text);
- ``merge SESSION --node ID [--siblings]``: merge the node into its parent; with siblings
  only by ``--siblings`` (each sibling moves up beside the parent, starting with a copy of
  its text, so every branch reads as before);
- ``delete SESSION --node ID``: delete the subtree (``undo`` brings it back);
- ``copy SESSION --node ID [--branch-only]``: copy the branch (and what hangs below the
  node) to a new top-level branch under the root.

``--json`` prints ``{"session", "verb", "done": [...], "node", "nodes", "current",
"undo": [labels], "redo": [labels]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import click

from ..core.display import safe_line
from ..engine import Engine
from .params import Args

_SESSION = click.Argument(["session"], metavar="SESSION")
_JSON = click.Option(["--json"], is_flag=True, help="print one JSON object")


def _node(what: str) -> click.Option:
    return click.Option(
        ["--node"], metavar="ID", required=True, help=f"{what} (id or unique prefix)"
    )


@contextmanager
def _engine(path: str, readonly: bool = False) -> Iterator[Engine]:
    from ..core.store import SessionStore

    store = SessionStore.open(path, readonly=readonly, create=False)
    try:
        engine = Engine.over(store, None)
        for warning in engine.history.warnings if engine.history else ():
            click.echo(safe_line(warning), err=True)
        yield engine
    finally:
        store.close()


def _report(args: Args, verb: str, engine: Engine, line: str, **extra: Any) -> None:
    undo, redo = engine.history.labels() if engine.history is not None else ([], [])
    while engine.history is not None and engine.history.warnings:  # e.g. --steps stopped
        click.echo(safe_line(engine.history.warnings.pop(0)), err=True)
    if args.json:
        data = {
            "session": str(args.session),
            "verb": verb,
            **extra,
            "current": engine.session.current_id,
            "nodes": len(engine.session.nodes),
            "undo": undo,
            "redo": redo,
        }
        print(json.dumps(data, ensure_ascii=False))
        return
    print(safe_line(line, 200))


# --------------------------------------------------------------------------- undo, redo
def _history(verb: str) -> SimpleNamespace:
    def run(args: Args) -> int:
        # --list only reads: it works on a session open in the app (without its lock).
        with _engine(args.session, readonly=args.list) as engine:
            if args.list:
                undo, redo = engine.history.labels() if engine.history else ([], [])
                line = (
                    f"undo: {', '.join(undo) or 'nothing'} | redo: {', '.join(redo) or 'nothing'}"
                )
                _report(args, verb, engine, line, done=[])
                return 0
            steps = max(1, args.steps)
            done = engine.undo(steps) if verb == "undo" else engine.redo(steps)
            said = "undid" if verb == "undo" else "redid"
            _report(args, verb, engine, f"{said}: {'; '.join(done)}", done=done)
        return 0

    return SimpleNamespace(
        PARAMS=[
            _SESSION,
            click.Option(
                ["--steps"],
                type=int,
                default=1,
                metavar="N",
                help=f"{verb} the last N changes (default 1; stops at one that cannot be)",
            ),
            click.Option(
                ["--list"], is_flag=True, help="show what can be undone and redone; change nothing"
            ),
            _JSON,
        ],
        run=run,
    )


UNDO = _history("undo")
REDO = _history("redo")


# --------------------------------------------------------------------------- surgery
def _split(args: Args) -> int:
    with _engine(args.session) as engine:
        node = engine.session.find(args.node)
        head = engine.split(node.id, args.at)
        tail = head.children[0] if head.id == node.id and head.children else None
        _report(
            args,
            "split",
            engine,
            f"split {node.id} at {args.at}: the rest is {tail}",
            done=[f"split {node.id} at {args.at}"],
            node=node.id,
            tail=tail,
        )
    return 0


SPLIT = SimpleNamespace(
    PARAMS=[
        _SESSION,
        _node("the node to cut"),
        click.Option(
            ["--at"],
            type=int,
            required=True,
            metavar="K",
            help="cut after K tokens (characters of plain text); the rest becomes its child",
        ),
        _JSON,
    ],
    run=_split,
)


def _merge(args: Args) -> int:
    with _engine(args.session) as engine:
        node = engine.session.find(args.node)
        parent = engine.merge(node.id, siblings=args.siblings)
        _report(
            args,
            "merge",
            engine,
            f"merged {node.id} into {parent.id}",
            done=[f"merge {node.id}"],
            node=parent.id,
        )
    return 0


MERGE = SimpleNamespace(
    PARAMS=[
        _SESSION,
        _node("the node to merge into its parent"),
        click.Option(
            ["--siblings"],
            is_flag=True,
            help="merge even when it has siblings: each moves up beside the parent, starting "
            "with a copy of the parent's text (every branch reads as before)",
        ),
        _JSON,
    ],
    run=_merge,
)


def _delete(args: Args) -> int:
    with _engine(args.session) as engine:
        node = engine.session.find(args.node)
        count = sum(1 for _ in engine.session.walk(node.id))
        engine.delete(node.id)
        _report(
            args,
            "delete",
            engine,
            f"deleted {count} node(s) at {node.id} (loomtui undo brings them back)",
            done=[f"delete {node.id}"],
            node=node.id,
            deleted=count,
        )
    return 0


DELETE = SimpleNamespace(
    PARAMS=[_SESSION, _node("the subtree to delete (never the root)"), _JSON],
    run=_delete,
)


def _copy(args: Args) -> int:
    with _engine(args.session) as engine:
        node = engine.session.find(args.node)
        copy = engine.copy_branch(node.id, below=not args.branch_only)
        _report(
            args,
            "copy",
            engine,
            f"copied the branch ending at {node.id} to {copy.id} (a new top-level branch)",
            done=[f"copy {node.id}"],
            node=copy.id,
        )
    return 0


COPY = SimpleNamespace(
    PARAMS=[
        _SESSION,
        _node("the branch ending at this node"),
        click.Option(
            ["--branch-only"], is_flag=True, help="copy the branch only, not what hangs below"
        ),
        _JSON,
    ],
    run=_copy,
)
