"""Command line: ``loomtui [SESSION]`` opens the app; ``loomtui VERB ...`` runs a verb.

Each verb lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``.
Errors meant for users (:class:`LoomError`) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ..core.display import safe_line
from ..core.errors import LoomError

#: verb -> (module under loomtui.cli, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "export": ("export", "print a branch's (or every leaf's) full text"),
    "show": ("show", "print a branch with each token coloured by probability"),
    "info": ("info", "summarise a session: nodes, leaves, depth, tokens, models, bookmarks"),
    "generate": ("generate", "generate continuations with logprobs"),
    "score": ("score", "score every token of a text"),
    "multiverse": ("multiverse", "expand the top-k next tokens to a depth (block multiverse)"),
    "probe": ("probe", "score a set of answers as a distribution"),
    "compare": ("compare", "score one text under two models and diff them"),
    "sweep": ("sweep", "attractor sweep: perturb a token and continue greedily"),
    "replay": ("replay", "re-run a session's generations with another model"),
}


def _verb_parser(verb: str) -> tuple[argparse.ArgumentParser, object]:
    module_name, help_text = VERBS[verb]
    module = importlib.import_module(f"loomtui.cli.{module_name}")
    parser = argparse.ArgumentParser(prog=f"loomtui {verb}", description=help_text)
    module.add_arguments(parser)  # type: ignore[attr-defined]
    return parser, module


def _print_top_help() -> None:
    print("usage: loomtui [SESSION] [--model SPEC | --api-base URL --model NAME] [--recent]")
    print("       loomtui VERB [options]   (loomtui VERB --help for each)\n")
    print("Open a session (or a new one) in the terminal UI, or run a verb:\n")
    for verb, (_, help_text) in VERBS.items():
        print(f"  {verb:<11} {help_text}")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in VERBS:
            parser, module = _verb_parser(args_list[0])
            args = parser.parse_args(args_list[1:])
            return int(module.run(args) or 0)  # type: ignore[attr-defined]
        if args_list and args_list[0] in ("-h", "--help"):
            _print_top_help()
            return 0
        from . import app_cmd

        parser = argparse.ArgumentParser(prog="loomtui")
        app_cmd.add_arguments(parser)
        args = parser.parse_args(args_list)
        return int(app_cmd.run(args) or 0)
    except LoomError as exc:
        print(f"loomtui: {safe_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loomtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        # Last resort: one line, no traceback (it could hold a key or model text).
        if os.environ.get("LOOMTUI_DEBUG"):
            raise
        print(
            f"loomtui: unexpected error: {type(exc).__name__}: {safe_line(str(exc), 300)} "
            "(set LOOMTUI_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 2
