"""``loomtui replay``: re-run a session's generation points with another model."""

from __future__ import annotations

import sys

import click

from ..core.display import safe_line
from ..core.sessionfile import load_session
from ..core.store import SessionLock, output_lock, save_locked
from ..instruments.replay import replay
from ._instr import print_json
from .common import backend_from_args, model_options
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    *model_options(),
    click.Option(["-o", "--output"], required=True, help="where to write the new session"),
    click.Option(["--json"], is_flag=True, help="print a JSON summary"),
]


def run(args: Args) -> int:
    # The output's lock is held from the start until it is written (it may be the input).
    with output_lock(args.output) as lock:
        return _replay(args, lock)


def _replay(args: Args, lock: SessionLock | None) -> int:
    session = load_session(args.session)
    backend = backend_from_args(args)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r\x1b[2Kreplaying {done}/{total}", end="", file=sys.stderr, flush=True)

    result = replay(session, backend, progress)
    save_locked(result.session, args.output, lock)
    summary = {
        "output": args.output,
        "model": backend.info().name,
        "points": result.points,
        "pairs": [{"original": o, "replay": n} for o, n in result.pairs],
        "errors": result.errors,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"replayed {result.points} generation points with {safe_line(summary['model'], 200)}"
            f" → {safe_line(str(args.output), 300)}"
        )
        for err in result.errors:
            print(f"error: {safe_line(err)}")
    return 1 if result.errors else 0
