"""``loomtui replay``: re-run a session's generation points with another model."""

from __future__ import annotations

import sys

import click

from ..core.display import safe_line
from ..engine import Engine
from ..engine_history import as_one_step
from ..instruments.progress import Progress
from ..instruments.replay import ReplayResult, replay
from ._instr import print_json
from .common import backend_from_args, model_options
from .params import Args
from .verbstore import VerbOutput, verb_output

PARAMS: list[click.Parameter] = [
    click.Argument(["session"], metavar="SESSION"),
    *model_options(),
    click.Option(
        ["-o", "--output"],
        required=True,
        help="where to write the new session (SESSION itself: the replay is one undo step)",
    ),
    click.Option(["--json"], is_flag=True, help="print a JSON summary"),
]


def run(args: Args) -> int:
    # The output is locked from the start, and written through the store: it holds the
    # session (when it is another file), then the replay as one undo step.
    out = verb_output(args.output, args.session)
    assert out is not None
    with out:
        return _replay(args, out)


@as_one_step("replay")  # every replayed node: one undo step
def _replay_in(engine: Engine, progress: Progress) -> ReplayResult:
    result = replay(engine.session, engine.require_backend(), progress, in_place=True)
    engine.save()  # journaled and saved as the engine's own changes are
    return result


def _replay(args: Args, out: VerbOutput) -> int:
    backend = backend_from_args(args)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r\x1b[2Kreplaying {done}/{total}", end="", file=sys.stderr, flush=True)

    result = _replay_in(out.engine(backend), progress)
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
