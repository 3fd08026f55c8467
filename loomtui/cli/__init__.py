"""Command line, on click: ``loomtui [SESSION]`` opens the app; ``loomtui VERB ...`` runs a verb.

Each verb lives in its own module, imported only when it runs (startup stays quick), with
``PARAMS`` (its click parameters) and ``run(args) -> int`` (see :mod:`loomtui.cli.params`).
The app's own options (``--model``, ``--theme``, ``--readonly``...) are the top-level command's:
they work before a verb that takes them (``loomtui --theme mono show S.json``) as well as
after it, and after SESSION. A bare word that is neither a verb nor a session file is refused:
it is never taken as a new file (:func:`loomtui.cli.app_cmd.names_a_session` says which are).
Errors meant for users (:class:`LoomError`, a wrong option) print one line on stderr and exit
with status 2; no traceback ever.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..core.display import safe_line
from ..core.errors import LoomError

#: verb -> (module under loomtui.cli, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "export": ("export", "print a branch's (or every leaf's) full text"),
    "import": ("import_cmd", "convert another loom's file (loom, exoloom, MiniLoom, ...) to a session"),
    "show": ("show", "print a branch with each token coloured by probability"),
    "info": ("info", "summarise a session: nodes, leaves, depth, tokens, models, bookmarks"),
    "search": ("search", "search the whole tree by text or regex (node ids, offsets, snippets)"),
    "rate": ("rate", "rate a node -1, 0 or +1 (bad, so-so, good), or clear its rating"),
    "generate": ("generate", "generate continuations with logprobs"),
    "score": ("score", "score every token of a text"),
    "multiverse": ("multiverse", "expand the top-k next tokens to a depth (block multiverse)"),
    "probe": ("probe", "score a set of answers as a distribution"),
    "compare": ("compare", "score one text under two models and diff them"),
    "collapse": ("collapse", "mode collapse: two models on the same prompts, side by side"),
    "sweep": ("sweep", "attractor sweep: perturb a token and continue greedily"),
    "loom": ("loom_cmd", "adaptive looming: decode greedily, branch where the model is unsure"),
    "sort": ("siblings:SORT", "order the alternates at a branch point (logprob, confidence...)"),
    "dedup": ("siblings:DEDUP", "merge identical sibling continuations, counting the draws"),
    "prune": ("siblings:PRUNE", "soft-hide alternates below a threshold, or by id"),
    "unhide": ("siblings:UNHIDE", "show soft-hidden nodes again"),
    "undo": ("surgery:UNDO", "undo the last changes to a session's tree (--steps N, --list)"),
    "redo": ("surgery:REDO", "redo changes undone (--steps N, --list)"),
    "split": ("surgery:SPLIT", "split a node after its K-th token"),
    "merge": ("surgery:MERGE", "merge a node with its parent (siblings move up: --siblings)"),
    "delete": ("surgery:DELETE", "delete a subtree (undo brings it back)"),
    "copy": ("surgery:COPY", "copy a branch to a new top-level branch"),
    "replay": ("replay", "re-run a session's generations with another model"),
    "examples": ("examples", "list the example sessions that ship with loomtui"),
    "doctor": ("doctor", "probe what a server (or a local model) can do; the API backend uses it"),
    "config": ("config_cmd", "print the config in force, its path (--path) or its schema (--schema)"),
}

#: Verbs that only read SESSION: told when its journal holds work the file does not have yet.
READS_SESSION = frozenset({"info", "show", "export", "search"})

_HELP = """Open SESSION in the terminal UI, or run a VERB (loomtui VERB --help for each).

\b
Without SESSION: a new session under the data dir on the embedded model (the path is shown).
SESSION is an existing file, or a new one whose name says so: it holds a '/' or ends in .json
(./notes, notes.json). A bare word that is neither a verb nor a file is refused, so a file
named like a verb opens with a path: loomtui ./info.

\b
The options below also work after SESSION, and before or after a verb that takes them.
An example session opens read-only with --example NAME (loomtui examples lists them)."""


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .. import __version__

    click.echo(f"loomtui {__version__}")
    ctx.exit(0)


def _suggest(word: str) -> str:
    close = difflib.get_close_matches(word, list(VERBS), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


class LoomGroup(click.Group):
    """The verbs, loaded lazily, and the app as the command for a SESSION word."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in VERBS:
            return None
        from .params import build_command

        module_name, help_text = VERBS[cmd_name]
        module_name, _, attr = module_name.partition(":")  # "module:verb": several in one
        module = importlib.import_module(f"loomtui.cli.{module_name}")
        module = getattr(module, attr) if attr else module
        command = build_command(cmd_name, module, help_text)
        if cmd_name in READS_SESSION and command.callback is not None:
            command.callback = _warning_unapplied(command.callback)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        word = args[0]
        if word in VERBS:
            return word, self.get_command(ctx, word), args[1:]
        from .app_cmd import names_a_session, new_session_rule

        if names_a_session(word):
            return "", _app_command(), args
        raise click.UsageError(
            f"{word!r} is neither a verb nor an existing file{_suggest(word)}; "
            + new_session_rule(safe_line(word, 40)),
            ctx,
        )

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("loomtui", "[OPTIONS] [SESSION]")
        formatter.write_usage("loomtui", "[OPTIONS] VERB [ARGS]...", prefix="       ")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the table, without importing every verb (and the model code behind them).
        with formatter.section("Verbs"):
            formatter.write_dl([(verb, help_text) for verb, (_, help_text) in VERBS.items()])


def _warning_unapplied(callback: Any) -> Any:
    """A reading verb's callback, saying first when its session has unapplied journal work
    (one place for every such verb)."""

    def run(**kw: Any) -> Any:
        from .common import warn_unapplied_journal

        warn_unapplied_journal(click.get_current_context().params.get("session"))
        return callback(**kw)

    return run


def _app_command() -> click.Command:
    from . import app_cmd
    from .params import build_command

    command = build_command("", app_cmd, "Open SESSION in the terminal UI.")
    command.hidden = True
    return command


def _group_callback(**_: Any) -> int | None:
    ctx = click.get_current_context()
    if ctx.invoked_subcommand is not None:
        return None  # the verb (or the SESSION word) runs next, with these options merged in
    from . import app_cmd
    from .params import Args

    return int(app_cmd.run(Args(session=None, **ctx.params)) or 0)


def make_cli() -> click.Group:
    """The ``loomtui`` command: the app's options, ``--version``, and the verbs."""
    from .app_cmd import app_options

    params: list[click.Parameter] = [
        *app_options(),
        click.Option(
            ["--version"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_print_version,
            help="print the version and exit",
        ),
    ]
    return LoomGroup(
        "loomtui",
        params=params,
        callback=_group_callback,
        invoke_without_command=True,
        no_args_is_help=False,
        help=_HELP,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


def _one_line_usage_error(exc: click.UsageError) -> str:
    where = exc.ctx.command_path.strip() if exc.ctx is not None else "loomtui"
    hint = f" (see '{where} --help')" if where != "loomtui" else ""
    return f"loomtui: {safe_line(exc.format_message())}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        cli = make_cli()
        # Not cli.main(): its own handlers print usage blocks and turn ^C into a blank line.
        with cli.make_context("loomtui", args_list) as ctx:
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code or 0)
    except click.UsageError as exc:
        print(_one_line_usage_error(exc), file=sys.stderr)
        return 2
    except click.ClickException as exc:
        print(f"loomtui: {safe_line(exc.format_message())}", file=sys.stderr)
        return 2
    except click.Abort:
        print("loomtui: interrupted", file=sys.stderr)
        return 130
    except LoomError as exc:
        print(f"loomtui: {safe_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loomtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # The system refused something (disk full, permissions): what, on which file. A
        # session's store never drops its journal on a failure, so no work is lost to it.
        where = f" ({safe_line(os.fsdecode(exc.filename), 200)})" if isinstance(exc.filename, (str, bytes)) else ""
        print(
            f"loomtui: {safe_line(exc.strerror or str(exc), 200)}{where}; unsaved session work "
            "is kept in its journal and recovered when the session is opened again",
            file=sys.stderr,
        )
        return 2
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
