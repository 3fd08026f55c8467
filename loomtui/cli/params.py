"""How a verb's options reach its ``run(args)``: one :class:`Args` of values by name.

A verb module declares ``PARAMS`` (a list of :mod:`click` parameters) and ``run(args) -> int``;
it may also declare ``ONE_OF``: groups of option names of which exactly one must be given.
:func:`build_command` turns such a module into a click command. Options given before the verb
(``loomtui --theme mono show S.json``) are the top-level command's; the verb takes each one
it has an option of the same name for, unless its own was given after the verb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType, SimpleNamespace
from typing import Any

import click
from click.core import ParameterSource


class Args(SimpleNamespace):
    """The options and arguments of one command line, by parameter name (``--top-k`` is
    ``args.top_k``)."""


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE


def _flag(ctx: click.Context, name: str) -> str:
    for param in ctx.command.params:
        if param.name == name:
            return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
    return name


def merged_args(ctx: click.Context) -> Args:
    """The command's values, with the options given before the verb filled in.

    An option given before a verb that has no such option is refused (``loomtui --readonly
    info S.json``): silently dropping it would surprise whoever typed it.
    """
    values = dict(ctx.params)
    parent = ctx.parent
    if parent is not None:
        for name, value in parent.params.items():
            if not _given(parent, name):
                continue
            if name not in values:
                where = ctx.info_name or "a session"
                raise click.UsageError(f"{_flag(parent, name)} does not apply to {where}", ctx)
            if isinstance(values[name], list | tuple) or (
                values[name] is None and _is_multiple(ctx, name)
            ):
                values[name] = [value, *(values[name] or [])]
            elif not _given(ctx, name):
                values[name] = value
    for name, value in values.items():
        if isinstance(value, tuple):
            values[name] = list(value)
    return Args(**values)


def _is_multiple(ctx: click.Context, name: str) -> bool:
    return any(p.name == name and getattr(p, "multiple", False) for p in ctx.command.params)


def check_one_of(ctx: click.Context, groups: Sequence[Sequence[str]]) -> None:
    """Exactly one option of each group (by parameter name) must be given."""
    for group in groups:
        flags = [_flag(ctx, name) for name in group]
        given = [
            f for f, name in zip(flags, group, strict=True) if ctx.params.get(name) is not None
        ]
        if not given:
            raise click.UsageError(f"give one of {' or '.join(flags)}", ctx)
        if len(given) > 1:
            raise click.UsageError(f"{' and '.join(given)} cannot be given together", ctx)


def build_command(name: str, module: ModuleType, help_text: str) -> click.Command:
    """The click command of a verb module (``PARAMS``, optional ``ONE_OF``, ``run``)."""
    run: Callable[[Args], int | None] = module.run  # type: ignore[attr-defined]

    def callback(**_: Any) -> int:
        ctx = click.get_current_context()
        check_one_of(ctx, getattr(module, "ONE_OF", ()))
        return int(run(merged_args(ctx)) or 0)

    params = list(getattr(module, "PARAMS", []))
    long_help = help_text
    if any(isinstance(p, click.Argument) and p.name == "session" for p in params):
        long_help += "\n\nSESSION is a loomtui session file, or a loom file another tool wrote."
    return click.Command(
        name,
        params=params,
        callback=callback,
        help=long_help,
        short_help=help_text,
        no_args_is_help=False,
    )


def parse_args(params: Sequence[click.Parameter], argv: Sequence[str] = ()) -> Args:
    """``argv`` parsed against ``params`` alone, as a verb's ``run`` would get them (tests)."""
    command = click.Command("loomtui", params=list(params))
    with command.make_context("loomtui", list(argv)) as ctx:
        return merged_args(ctx)


def node_option(
    what: str = "the branch ending at this node", default: str = "the current node"
) -> click.Option:
    """``--node ID``: one node of a session, by id or unique prefix (``Session.find``)."""
    return click.Option(
        ["--node"],
        metavar="ID",
        default=None,
        help=f"{what} (id or unique prefix; default: {default})",
    )
