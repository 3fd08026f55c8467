"""``loomtui examples``: the example sessions that ship inside the package.

Each opens read-only with ``loomtui --example NAME`` (nothing is written beside the installed
file), or can be copied and opened as a session of one's own.
"""

from __future__ import annotations

import json

import click

from .app_cmd import example_path, list_examples
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Option(["--json"], is_flag=True, help="print {name: path} as JSON"),
]


def run(args: Args) -> int:
    found = {name: str(example_path(name)) for name in list_examples()}
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    if not found:
        print("no example sessions in this copy of loomtui")
    for name, path in found.items():
        print(f"{name:<20} {path}")
    if found:
        print(f"open one read-only: loomtui --example {next(iter(found))}")
    return 0
