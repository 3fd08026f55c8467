"""The session file: versioned, compact JSON, written atomically and read with validation.

Layout (schema version 1; ``session.schema.json`` next to this module documents it)::

    {"format": "loomtui-session", "schema_version": 1, "root": ID, "current": ID,
     "meta": {...},
     "vocab": [[text, bytes_hex_or_null, token_id_or_null], ...],
     "nodes": [{"id": ..., "parent": ..., "children": [...], "origin": ..., ...}, ...]}

Tokens and their alternatives point into ``vocab`` (each distinct (text, bytes, id) triple is
stored once). A token's logprob and entropy are integer micro-nats; the top-k alternatives of a
node are two packed base64 arrays (vocab indices, float32 logprobs), so 100,000 tokens with 20
alternatives each take ~18 MB and save in ~0.5 s, load in ~0.35 s on 2 cores. Both roundings are
idempotent: loading then saving writes the same bytes. Nodes are written depth-first, one per
line, so a session file diffs sensibly. :mod:`sessionwrite` encodes the tokens (vectorised);
:mod:`sessionread` holds the validating reader.

Any problem with a file raises :class:`SessionFileError` with one line naming the file and
the problem; the file is never modified by loading.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import SessionFileError
from .importers import import_foreign, refuse_binary
from .sessioncheck import fail, gc_paused, one_line
from .sessionread import _build_session
from .sessionwrite import VocabWriter, first_loaded_vocab, node_to_dict, preorder
from .tree import Session

FORMAT = "loomtui-session"
SCHEMA_VERSION = 1
#: A file larger than this is refused before reading it (override with LOOMTUI_MAX_SESSION_MB).
MAX_FILE_BYTES = 1 << 30

#: version -> function turning a file dict of that version into one of version + 1.
#: Add an entry (and bump SCHEMA_VERSION) whenever the layout changes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# --------------------------------------------------------------------------- to dict
def session_to_dict(session: Session) -> dict[str, Any]:
    """The session as the JSON-ready dict that :func:`dumps_session` writes."""
    vocab = VocabWriter()
    with gc_paused():
        loaded = first_loaded_vocab(session)
        if loaded is not None:
            vocab.seed(loaded)
        nodes = [node_to_dict(n, vocab) for n in preorder(session)]
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "root": session.root_id,
        "current": session.current_id,
        "meta": session.meta,
        "vocab": vocab.entries,
        "nodes": nodes,
    }


def _dump(value: Any) -> str:
    # ASCII only: lone surrogates and odd characters survive as \u escapes, byte-exact.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def dumps_dict(data: dict[str, Any]) -> bytes:
    """Serialise a session dict: header fields, then vocab and one node per line."""
    head = {k: v for k, v in data.items() if k not in ("vocab", "nodes")}
    parts = [_dump(head)[:-1]]
    parts.append(',\n"vocab":' + _dump(data["vocab"]))
    parts.append(',\n"nodes":[\n')
    parts.append(",\n".join(_dump(n) for n in data["nodes"]))
    parts.append("\n]}\n")
    return "".join(parts).encode("ascii")


def dumps_session(session: Session) -> bytes:
    """The exact bytes :func:`save_session` writes."""
    try:
        return dumps_dict(session_to_dict(session))
    except (ValueError, TypeError, RecursionError) as exc:
        # e.g. NaN in meta, or a non-JSON object in settings: refuse to write a bad file.
        raise SessionFileError(one_line(f"cannot save session: {exc}")) from None


def save_session(session: Session, path: str | os.PathLike[str]) -> None:
    """Write ``session`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is fsynced and renamed over
    ``path``; the directory is then fsynced. A crash leaves either the old file or the new
    one, never half of one.
    """
    target = Path(path)
    data = dumps_session(session)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # keep the permissions of the file being replaced
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------- loading
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


#: JSON nesting a file may have (a loom tree nests twice per level: 25,000 levels deep).
MAX_DEPTH = 50_000


def _loads_deep(text: str) -> Any:
    """``json.loads`` on a thread with a 512 MiB stack and the recursion limit at MAX_DEPTH.

    The C parser recurses once per nesting level; the limit is what keeps it from running off
    its stack, so the stack is sized for MAX_DEPTH levels with a wide margin.
    """
    result: list[Any] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(json.loads(text, parse_constant=_reject_constant))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            error.append(exc)

    old_limit = sys.getrecursionlimit()
    old_stack = threading.stack_size()
    with _DEEP_LOCK:
        try:
            threading.stack_size(512 << 20)
            sys.setrecursionlimit(max(old_limit, MAX_DEPTH))
            thread = threading.Thread(target=work, name="loomtui-deep-json")
            thread.start()
            thread.join()
        finally:
            sys.setrecursionlimit(old_limit)
            threading.stack_size(old_stack)
    if error:
        raise error[0]
    return result[0]


_DEEP_LOCK = threading.Lock()


def parse_json(raw: bytes, source: str) -> Any:
    """Strict JSON from bytes: UTF-8 only, no NaN/Infinity; one-line errors."""
    if not raw.strip():
        raise fail(source, "empty file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            # A loom tree a few hundred levels deep nests past the default limit: parse it
            # again on a thread with a big stack and a raised limit (bounded by MAX_DEPTH).
            return _loads_deep(text)
    except json.JSONDecodeError as exc:
        # "Unterminated string" means a string ran to the end of the file.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise fail(source, f"truncated JSON (ends unexpectedly at line {exc.lineno})") from None
        raise fail(
            source, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise fail(source, "JSON nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with thousands of digits
        raise fail(source, f"bad number in JSON ({str(exc).split(':')[0]})") from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a file for loading, refusing missing, special and oversized files."""
    source = os.fspath(path)
    limit = MAX_FILE_BYTES
    env = os.environ.get("LOOMTUI_MAX_SESSION_MB")
    if env and env.isdigit():
        limit = int(env) << 20
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise fail(source, "no such file") from None
    except OSError as exc:
        raise fail(source, f"cannot read ({exc.strerror})") from None
    if os.path.isdir(source):
        raise fail(source, "is a directory, not a session file")
    if st.st_size > limit:
        raise fail(source, f"too large ({st.st_size >> 20} MiB; limit {limit >> 20} MiB)")
    try:
        with open(source, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise fail(source, f"cannot read ({exc.strerror})") from None


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read a session file, or import another loom's file (auto-detected).

    loomtui files are recognised by ``"format": "loomtui-session"``; any other JSON goes to
    the first format of :data:`loomtui.core.importers.FORMATS` that recognises it (socketteer/loom,
    logitloom, Obsidian Loom, mikupad); Tapestry-Loom's binary weaves are refused with a clear
    message. Every problem raises :class:`SessionFileError` (one line).
    """
    source = os.fspath(path)
    raw = read_bytes(source)
    return loads_session(raw, source)


def loads_session(raw: bytes, source: str = "<session>") -> Session:
    """:func:`load_session` on bytes already read (``source`` names them in errors)."""
    refuse_binary(raw, source)
    with gc_paused():
        data = parse_json(raw, source)
    if isinstance(data, dict) and "format" in data:
        if data.get("format") != FORMAT:
            raise fail(source, f"unknown format {str(data.get('format'))[:40]!r}")
        return session_from_dict(data, source=source)
    try:
        session = import_foreign(data, source)
    except SessionFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - another tool's odd file: one line, no traceback
        raise fail(source, f"cannot import ({type(exc).__name__}: {exc})"[:200]) from None
    if session is None:
        raise fail(source, f"not a loomtui session or a known loom file ({_shape(data)})")
    return session


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        keys = ", ".join(sorted(str(k)[:20] for k in data)[:5])
        return f"a JSON object with keys: {keys}" if keys else "an empty JSON object"
    if isinstance(data, list):
        return f"a JSON array of {len(data)} items"
    return f"a JSON {type(data).__name__}"


def session_from_dict(data: Any, source: str = "<session>") -> Session:
    """Validate a session dict (migrating older versions) and build the Session."""
    if not isinstance(data, dict):
        raise fail(source, f"not a loomtui session ({_shape(data)})")
    version = data.get("schema_version")
    if type(version) is not int:
        raise fail(source, "schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise fail(
            source,
            f"written by a newer loomtui (schema_version {version}; this one reads up to "
            f"{SCHEMA_VERSION}) - upgrade loomtui to open it",
        )
    if version < 1:
        raise fail(source, f"schema_version {version} is not valid")
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise fail(source, f"no migration from schema_version {version}")
        try:
            data = migrate(dict(data))
        except Exception as exc:  # a migration meeting a malformed old file
            raise fail(source, f"cannot migrate from schema_version {version}: {exc}") from None
        version += 1
        data["schema_version"] = version
    try:
        with gc_paused():
            return _build_session(data, source)
    except SessionFileError:
        raise
    except RecursionError:
        raise fail(source, "nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - last guard: one line, never a traceback
        raise fail(source, f"malformed session ({type(exc).__name__}: {exc})"[:200]) from None
