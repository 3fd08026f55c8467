"""``loomtui import FILE``: convert another loom's file into a loomtui session file.

The format is found from the file's content (``--format NAME`` forces one; a file of another
shape is then refused). The session is written to ``-o SESSION``, by default ``NAME.loomtui.json``
beside the file (where opening the file in loomtui saves its work too). The original is
never written, and an existing output is never replaced: choose another ``-o``.
API keys and endpoints in the file are never read (see the README's format table).
"""

from __future__ import annotations

from pathlib import Path

import click

from ..core.display import visible
from ..core.errors import LoomError
from ..core.importers import FORMATS as IMPORT_FORMATS
from ..core.importers import LINES_FORMAT, import_foreign, import_raw, refuse_binary
from ..core.sessioncheck import fail
from ..core.sessionfile import loads_session, parse_json, read_bytes, save_session
from ..core.store import IMPORTED_SUFFIX
from ..core.tree import Session
from .params import Args

PARAMS: list[click.Parameter] = [
    click.Argument(["file"], metavar="FILE"),
    click.Option(
        ["-o", "--output"],
        metavar="SESSION",
        default=None,
        help=f"the loomtui session to write (default: FILE's name + {IMPORTED_SUFFIX} beside it)",
    ),
    click.Option(
        ["--format", "import_format"],
        type=click.Choice([f.name for f in IMPORT_FORMATS] + [LINES_FORMAT]),
        default=None,
        help="read FILE as this format (default: found from its content)",
    ),
]


def _line(text: str) -> str:
    return visible(text, keep_newlines=False)


def read_foreign(path: str, name: str | None) -> Session:
    """Another loom's file as a Session: detected, or read as format ``name``."""
    raw = read_bytes(path)
    if name is None:
        session = loads_session(raw, path)
        if not session.meta.get("imported_from"):
            raise fail(path, "already a loomtui session: nothing to import")
        return session
    refuse_binary(raw, path)
    if name == LINES_FORMAT:
        session = import_raw(raw, path, name)
    else:
        session = import_foreign(parse_json(raw, path), path, name)
    if session is None:
        raise fail(path, f"not a {name} file")
    return session


def run(args: Args) -> int:
    source = Path(args.file)
    session = read_foreign(str(source), args.import_format)
    out = Path(args.output) if args.output else source.with_name(source.stem + IMPORTED_SUFFIX)
    if out.exists() or out.is_symlink():
        raise LoomError(f"{_line(str(out))}: already exists; not replaced (choose another with -o)")
    save_session(session, out)
    stats = session.stats()
    fmt = session.meta.get("imported_from")
    print(
        f"imported {_line(str(source))} ({_line(str(fmt))}): {stats['nodes']} nodes, "
        f"{stats['leaves']} leaves -> {_line(str(out))}"
    )
    return 0
