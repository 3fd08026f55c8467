"""``loomtui config``: the config in force (file + ``LOOMTUI_*`` overrides), its path, or its
JSON Schema.

The schema is derived from :class:`loomtui.config.Config`, the one declaration of what the file
may say (``loomtui config --schema > config.schema.json`` for an editor's TOML support). A key
a profile holds is never printed: it shows as ``"********"``.
"""

from __future__ import annotations

import json

import click

from ..config import config_path, config_schema, load_config
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Option(["--schema"], is_flag=True, help="print the config file's JSON Schema"),
    click.Option(["--path"], is_flag=True, help="print where the config file is read from"),
]


def run(args: Args) -> int:
    if args.schema:
        print(json.dumps(config_schema(), indent=2, ensure_ascii=False))
        return 0
    if args.path:
        print(config_path())
        return 0
    import tomli_w

    config = load_config()  # a bad file or variable: one line, exit 2
    table = config.model_dump(mode="json", exclude_none=True)
    for name, profile in config.profiles.items():
        if profile.api_key is not None:
            table["profiles"][name]["api_key"] = "********"
    exists = "" if config_path().is_file() else " (no file: the defaults)"
    print(f"# {config_path()}{exists}")
    print(tomli_w.dumps(table), end="")
    return 0
