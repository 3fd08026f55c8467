"""``loomtui [SESSION] [--model SPEC | --api-base URL --model NAME] [--recent]``: the app.

No session: a new one under the data dir on the embedded default model (its path is shown).
An existing session with no model: opened for replay. A session path that does not exist yet:
a new session saved there.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..config import load_config, sessions_dir
from ..core.errors import LoomError
from .common import add_model_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "session",
        nargs="?",
        default=None,
        metavar="SESSION",
        help="a session file to open (created if missing)",
    )
    add_model_args(parser)
    parser.add_argument(
        "--recent", action="store_true", help="list the sessions under the data dir, newest first"
    )
    parser.add_argument("--theme", default=None, help="colour theme (themes/*.toml)")
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="open the session without writing it (e.g. while another loomtui process has it open)",
    )


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


def run(args: argparse.Namespace) -> int:
    if args.recent:
        files = recent_sessions()
        if not files:
            print(f"no sessions yet under {sessions_dir()}")
        for path in files:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
            print(f"{when}  {path}")
        return 0

    config = load_config()
    if args.theme:
        config.setdefault("ui", {})["theme"] = args.theme
    model_given = bool(args.model or args.api_base or args.profile)
    if args.session:
        path = Path(args.session).expanduser()
        existing = path.exists()
    else:
        path = new_session_path()
        existing = False
    path.parent.mkdir(parents=True, exist_ok=True)

    from ..core.store import SessionStore

    # lock, load, replay the journal; LoomError if refused
    store = SessionStore.open(path, readonly=getattr(args, "readonly", False))
    try:
        backend_factory = None
        if model_given or not existing:
            # A new session always gets a model: the embedded default if none was named.
            from .common import backend_from_args

            model = args.model if model_given else "default"

            def backend_factory(progress):  # type: ignore[no-untyped-def]
                return backend_from_args(args, model, progress=progress)

        _color_system()
        from ..ui.app import make_app

        app = make_app(
            store=store,
            backend_factory=backend_factory,
            config=config,
            new_session=not existing,
        )
        app.run()
    except LoomError:
        raise
    finally:
        store.close()
    if store.path.exists():
        print(f"session: {store.path}")
    return 0 if app.return_code in (None, 0) else int(app.return_code or 1)
