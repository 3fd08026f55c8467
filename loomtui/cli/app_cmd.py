"""``loomtui [SESSION] [--model SPEC | --api-base URL --model NAME] [--recent]``: the app.

No session: a new one under the data dir on the embedded default model (its path is shown).
An existing session with no model: opened for replay. A session path that does not exist yet:
a new session saved there, but only when the path says it is one (:func:`names_a_session`):
``loomtui doctor`` is a mistyped verb, never a new file called ``doctor``.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

import click

from ..config import load_config, sessions_dir
from ..core import resources
from ..core.display import visible
from ..core.errors import LoomError
from .common import model_options
from .params import Args


def new_session_rule(word: str = "notes") -> str:
    """The rule for a new session's name, as the refusal of ``word`` states it."""
    return f"a new session file needs a name with a '/' or ending in .json (./{word}, {word}.json)"


def names_a_session(word: str) -> bool:
    """Whether a bare word on the command line is a session file: one that exists, or a new
    one whose name makes that plain (it holds a path separator or ends in ``.json``)."""
    if not word or word.startswith("-"):
        return False
    if "/" in word or os.sep in word or word.lower().endswith(".json"):
        return True
    return Path(word).expanduser().exists()


def app_options() -> list[click.Parameter]:
    """The app's own options; ``loomtui --help`` lists them beside the verbs."""
    return [
        *model_options(),
        click.Option(
            ["--readonly"],
            is_flag=True,
            help="open the session without writing it (e.g. while another loomtui process has it open)",
        ),
        click.Option(
            ["--theme"],
            default=None,
            metavar="NAME",
            help="colour theme (loomtui show --help lists them)",
        ),
        click.Option(
            ["--recent"], is_flag=True, help="list the sessions under the data dir, newest first"
        ),
        click.Option(
            ["--example"],
            default=None,
            metavar="NAME",
            help="open a packaged example session, read-only (loomtui examples lists them)",
        ),
    ]


PARAMS: list[click.Parameter] = [
    click.Argument(["session"], required=False, default=None, metavar="[SESSION]"),
    *app_options(),
]


def recent_sessions(limit: int = 20) -> list[Path]:
    """Session files under ``sessions_dir()``, newest first."""
    folder = sessions_dir()
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.json") if p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return files[:limit]


def new_session_path() -> Path:
    """A fresh file name under the data dir: date, time and a short random tail."""
    import secrets

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return sessions_dir() / f"{stamp}-{secrets.token_hex(2)}.json"


def _color_system() -> None:
    # Truecolor where COLORTERM says so, 256 colours otherwise (never 16 by guesswork).
    if "TEXTUAL_COLOR_SYSTEM" not in os.environ:
        colorterm = os.environ.get("COLORTERM", "").lower()
        truecolor = colorterm in ("truecolor", "24bit")
        os.environ["TEXTUAL_COLOR_SYSTEM"] = "truecolor" if truecolor else "256"


def _line(text: str) -> str:
    """A file name as one inert line: a name may hold escapes, newlines or bidi controls."""
    return visible(text, keep_newlines=False)


def run(args: Args) -> int:
    if args.recent:
        files = recent_sessions()
        if not files:
            print(f"no sessions yet under {_line(str(sessions_dir()))}")
        for path in files:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
            print(f"{when}  {_line(str(path))}")
        return 0

    # The collector stays off while the session opens and the UI is imported and built
    # (see launch_app, which turns it on again before the app runs).
    gc.disable()
    try:
        return _open_and_launch(args)
    finally:
        gc.enable()


def _open_and_launch(args: Args) -> int:
    readonly = bool(getattr(args, "readonly", False))
    example = getattr(args, "example", None)
    if example:
        if args.session:
            raise LoomError("give a SESSION or --example, not both")
        args.session, readonly = str(example_path(example)), True
    elif args.session and not names_a_session(args.session):
        raise LoomError(f"{args.session!r} is no session file; {new_session_rule(args.session)}")
    # The flags go into a runtime copy; the file keeps what it says (see Config.with_flags).
    config = load_config().with_flags(theme=args.theme)
    # --engine names how to run a model: asking for one opens the session with the default.
    model_given = bool(args.model or args.api_base or args.profile or getattr(args, "engine", None))
    if args.session:
        path = Path(args.session).expanduser()
        existing = path.exists()
    else:
        path = new_session_path()
        existing = False
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)

    from ..core.store import SessionStore

    # lock, load, replay the journal; LoomError if refused
    store = SessionStore.open(path, readonly=readonly)
    try:
        backend_factory = None
        if model_given or not existing:
            # A new session always gets a model: the embedded default if none was named.
            from .common import backend_from_args

            model = args.model if model_given else "default"

            def backend_factory(progress):  # type: ignore[no-untyped-def]
                return backend_from_args(args, model, progress=progress)

        from .common import backend_for_entry

        def open_model(entry, progress):  # type: ignore[no-untyped-def]
            # [model] also: spelled as a --model entry, with this run's server and options
            return backend_for_entry(args, entry, progress=progress)

        code = launch_app(
            store=store,
            backend_factory=backend_factory,
            config=config,
            new_session=not existing,
            open_model=open_model,
        )
    finally:
        store.close()
    if store.path.exists():
        print(f"session: {_line(str(store.path))}")
    return code


def launch_app(**kwargs: Any) -> int:
    """Build the app with :func:`loomtui.ui.app.make_app` and run it; its exit status.
    (The one place the command line starts the UI; tests replace it to stay headless.)"""
    _color_system()
    # Importing the UI makes ~10^5 objects that all live as long as the app: the cyclic
    # collector's passes over them while they pile up are pure waste (~12% of the import's
    # CPU, measured). Off while importing and building the app; then they are frozen out of
    # its sight before it is on again for the app's run: the first collections would walk
    # all of them (~35 ms before the first frame, measured). The app freezes what exists
    # after mounting too (see its on_mount).
    gc.disable()
    try:
        from ..ui.app import make_app

        app = make_app(**kwargs)
    finally:
        gc.freeze()
        gc.enable()  # on for the app's whole run
    app.run()
    return 0 if app.return_code in (None, 0) else int(app.return_code or 1)


def list_examples() -> list[str]:
    """The example sessions that ship inside the package, by name."""
    return resources.list_examples()


def example_path(name: str) -> Path:
    """The packaged example ``name`` (a one-line error naming the others if there is none)."""
    path = resources.example_path(name)
    if path is None:
        have = ", ".join(list_examples()) or "none"
        raise LoomError(f"no example session {name!r} (have: {have})")
    return path
