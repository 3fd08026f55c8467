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

import gc
import json
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import SessionFileError
from .sessioncheck import check_tree, fail, gc_paused, one_line
from .sessionread import _build_session
from .sessionwrite import VocabWriter, first_loaded_vocab, node_to_dict, preorder
from .strictjson import StrictJSONError, loads_strict
from .tree import Session

FORMAT = "loomtui-session"
SCHEMA_VERSION = 1
#: Peak memory of a load per byte of file, in the worst case measured (peak RSS from
#: ``resource.getrusage``): a file of empty objects or arrays (``[{},{},...]``, also what a
#: hostile file can be) takes 26.1x its size while it is parsed (a 56-64 byte object and an
#: 8-byte pointer per 3 bytes of file, plus the bytes and their decoded text); a real session
#: with top-20 lists takes 5.3x.
LOAD_MEMORY_FACTOR = 27
#: The memory a load may take before it is refused: 4 GiB, which a laptop can spare.
MAX_LOAD_MEMORY = 4 << 30
#: A file larger than this (151 MiB: about 850,000 tokens with 20 alternatives each) is
#: refused before reading it, so no file makes a load take more than MAX_LOAD_MEMORY.
#: LOOMTUI_MAX_SESSION_MB overrides it, for a machine with memory to spare.
MAX_FILE_BYTES = MAX_LOAD_MEMORY // LOAD_MEMORY_FACTOR
#: A larger file, up to this (682 MiB), is read and then loaded only where its structure says
#: the parse stays within MAX_LOAD_MEMORY (:func:`parse_memory_bound`): a session of a million
#: tokens with 20 alternatives each is ~185 MB, mostly base64 text, which parses into a few
#: long strings (5x its size at the peak), far from the worst case per byte.
MAX_READ_BYTES = MAX_LOAD_MEMORY // 6


def parse_memory_bound(raw: bytes) -> int:
    """An upper bound of the memory that parsing ``raw`` as JSON takes, from its structure.

    The bytes, their decoded text and the strings in it take at most 9 bytes a byte (4 a
    character for text with a character beyond U+FFFF); every other value the parser makes
    follows a comma, a colon or a bracket, and the worst case, ``[{},{},...]``, takes
    LOAD_MEMORY_FACTOR bytes a byte for its 3 bytes a value: so each of those characters
    counts as 3 bytes at that factor. One pass at C speed (~0.3 s for 185 MB here)."""
    structure = len(raw.translate(None, _NOT_STRUCTURE))
    return 9 * len(raw) + 3 * LOAD_MEMORY_FACTOR * structure


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"{[,:")


#: version -> function turning a file dict of that version into one of version + 1.
#: Add an entry (and bump SCHEMA_VERSION) whenever the layout changes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# --------------------------------------------------------------------------- to dict
def _head(session: Session) -> dict[str, Any]:
    """A session file's fields before its vocab and nodes, in the file's order."""
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "root": session.root_id,
        "current": session.current_id,
        "meta": session.meta,
    }


def session_to_dict(session: Session) -> dict[str, Any]:
    """The session as the JSON-ready dict that :func:`dumps_session` writes."""
    vocab = VocabWriter()
    with gc_paused():
        loaded = first_loaded_vocab(session)
        if loaded is not None:
            vocab.seed(loaded)
        nodes = [node_to_dict(n, vocab) for n in preorder(session)]
    return {**_head(session), "vocab": vocab.entries, "nodes": nodes}


def _dump(value: Any) -> str:
    # ASCII only: lone surrogates and odd characters survive as \u escapes, byte-exact.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def dumps_dict(data: dict[str, Any]) -> bytes:
    """Serialise a session dict: header fields, then vocab and one node per line."""
    head = {k: v for k, v in data.items() if k not in ("vocab", "nodes")}
    # Each node encoded on its own and all joined once: one copy of a 200 MB file, not a
    # joined string, then the whole again as bytes.
    nodes = (_dump(node).encode("ascii") for node in data["nodes"])
    return b"".join(_layout(head, data["vocab"], nodes))


def _layout(head: dict[str, Any], vocab: list[Any], nodes: Iterable[bytes]) -> list[bytes]:
    """The file's pieces in order: the head's fields, the vocab, each node's line."""
    parts = [_dump(head)[:-1].encode("ascii")]
    parts.append((',\n"vocab":' + _dump(vocab) + ',\n"nodes":[\n').encode("ascii"))
    for i, node in enumerate(nodes):
        if i:
            parts.append(b",\n")
        parts.append(node)
    parts.append(b"\n]}\n")
    return parts


def dumps_session(session: Session) -> bytes:
    """The exact bytes :func:`save_session` writes."""
    try:
        return dumps_dict(session_to_dict(session))
    except (ValueError, TypeError, RecursionError) as exc:
        # e.g. NaN in meta, or a non-JSON object in settings: refuse to write a bad file.
        raise SessionFileError(one_line(f"cannot save session: {exc}")) from None


def session_parts(session: Session, between: Callable[[], None] | None = None) -> list[bytes]:
    """:func:`dumps_session`'s bytes in pieces, in order (joined, they are the same bytes),
    for the background save: each node is encoded to its line at once (no dict of lists of
    a million numbers stays for the cyclic GC to walk again and again, on whichever thread
    it runs, the app's included), the GC is left on, and ``between`` is called after each
    node (where the save's thread lets the app's run)."""
    try:
        vocab = VocabWriter()
        loaded = first_loaded_vocab(session)
        if loaded is not None:
            vocab.seed(loaded)
        nodes: list[bytes] = []
        for node in preorder(session):
            nodes.append(_dump(node_to_dict(node, vocab)).encode("ascii"))
            if between is not None:
                between()
        return _layout(_head(session), vocab.entries, nodes)
    except (ValueError, TypeError, RecursionError) as exc:
        raise SessionFileError(one_line(f"cannot save session: {exc}")) from None


def validated_bytes(session: Session, source: str) -> tuple[bytes, Session]:
    """A session (a replayed one) as the bytes a save writes, and the session those bytes
    load as: the loader's checks (tree links, types, numbers) run before anything is written.
    SessionFileError when the session is broken."""
    # The tree as it is in memory first: a file holds only what the root reaches, so a
    # node the journal hung under a missing parent (or in a cycle) would vanish unseen.
    check_tree(session.nodes, session.root_id, session.current_id, source)
    data = dumps_session(session)
    return data, loads_session(data, source)


def save_session(session: Session, path: str | os.PathLike[str]) -> None:
    """Write ``session`` to ``path`` atomically (:func:`write_atomic`)."""
    write_atomic(dumps_session(session), path)


def write_atomic(data: bytes, path: str | os.PathLike[str], mode: int | None = None) -> None:
    """Write ``data`` as the file ``path``, atomically.

    The bytes go to a temporary file created exclusively in the same directory (never
    through a link planted at its name), which is fsynced and renamed over ``path``; the
    directory is then fsynced. A crash leaves either the old file or the new one, never half
    of one. A ``path`` that is a symbolic link has its target written (the link stays a
    link); a file with no write permission is refused with one line, not replaced. The file
    gets ``mode`` when given (the config, which may hold a key: 0600, from its first byte),
    else the replaced file's mode (0644 for a new file).
    """
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and (not st.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise SessionFileError(
            one_line(
                f"{target}: read-only file (mode {st.st_mode & 0o7777:o}); not replaced "
                "(make it writable with chmod u+w, or save elsewhere)"
            )
        )
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # keep the permissions of the file being replaced
        if mode is None:
            mode = st.st_mode & 0o7777 if st is not None else 0o644
        os.chmod(tmp, mode)
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
            result.append(loads_strict(text))
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
    """Strict JSON from bytes, one-line errors: UTF-8 only; no NaN, no Infinity, no number
    that overflows to infinity (``1e999``), no object with a key twice - nothing that could
    not be written back (:func:`loomtui.core.strictjson.loads_strict`). The error names the
    JSON path of the value, e.g. ``nodes[3].meta.t: 1e999 is not a finite number``."""
    if not raw or raw.isspace():  # (strip() would copy a 200 MB file)
        raise fail(source, "empty file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        try:
            return loads_strict(text)
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
    except StrictJSONError as exc:
        raise fail(source, str(exc)) from None
    except ValueError as exc:  # an integer with thousands of digits
        raise fail(source, f"bad number in JSON ({str(exc).split(':')[0]})") from None


def _size_limit() -> int:
    env = os.environ.get("LOOMTUI_MAX_SESSION_MB", "")
    return int(env) << 20 if env.isdigit() else MAX_READ_BYTES


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size < 10 << 20 else f"{size >> 20} MiB"


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read as a session (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a session file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a session file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a session file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a session file"
    return "is not a regular file"


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a file for loading: only a regular file (a link to one is followed), at most
    the size limit (:data:`MAX_FILE_BYTES`, or up to :data:`MAX_READ_BYTES` where
    :func:`parse_memory_bound` allows); anything else is refused with one line before
    a byte is read.

    A FIFO would block the open and the read forever, and a link to ``/dev/zero`` would be
    read to the limit; both are refused from ``stat``, then checked again on the opened
    descriptor (opened non-blocking, so a FIFO swapped in between does not hang), so a
    file replaced between the two is refused too.
    """
    source = os.fspath(path)
    limit = _size_limit()
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise fail(source, "no such file") from None
    except OSError as exc:
        raise fail(source, f"cannot read ({exc.strerror})") from None
    problem = _not_regular(st.st_mode)
    if problem is not None:
        raise fail(source, problem)
    _check_size(source, st.st_size, limit)
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise fail(source, f"cannot read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        problem = _not_regular(st.st_mode)
        if problem is not None:
            raise fail(source, problem)
        _check_size(source, st.st_size, limit)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise fail(source, f"cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
    _check_size(source, len(data), limit)  # it grew while being read
    if limit == MAX_READ_BYTES and len(data) > MAX_FILE_BYTES:
        need = parse_memory_bound(data)
        if need > MAX_LOAD_MEMORY:
            raise fail(
                source,
                f"too large ({_mib(len(data))}; parsing it could take {_mib(need)} of memory, "
                f"the limit is {_mib(MAX_LOAD_MEMORY)}; LOOMTUI_MAX_SESSION_MB raises it)",
            )
    return data


def _check_size(source: str, size: int, limit: int) -> None:
    if size > limit:
        raise fail(
            source,
            f"too large ({_mib(size)}; the limit is {_mib(limit)}, as loading can take "
            f"{LOAD_MEMORY_FACTOR}x the file's size in memory; LOOMTUI_MAX_SESSION_MB "
            "raises it)",
        )


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
    # Imported here, not at the top: a new session's start reads no file and never needs the
    # importers (a dozen formats, ~15 ms).
    from .importers import import_foreign, import_raw, refuse_binary

    refuse_binary(raw, source)
    lines = import_raw(raw, source)  # loom's JSON lines: not one JSON document
    if lines is not None:
        return lines
    with gc_paused():
        data = parse_json(raw, source)
    if isinstance(data, dict) and "format" in data:
        if data.get("format") != FORMAT:
            raise fail(source, f"unknown format {str(data.get('format'))[:40]!r}")
        return session_from_dict(data, source=source)
    with gc_paused():  # another loom's tree is tens of thousands of acyclic nodes too
        session = import_foreign(data, source)
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


#: A loaded session with at least this many tokens is frozen out of the cyclic GC's sight.
FREEZE_TOKENS = 200_000


def _token_count(session: Session) -> int:
    return sum(len(n.tokens) for n in session.nodes.values() if n.tokens)


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
            session = _build_session(data, source)
            if len(session.nodes) and _token_count(session) >= FREEZE_TOKENS:
                # Millions of acyclic objects: left to the GC, the next young collection
                # and two promotions each walk them all (~0.3 s apiece, the later ones at
                # a random moment in the app); moved out of its sight they are still freed
                # by reference counting when the session goes.
                gc.freeze()
            return session
    except SessionFileError:
        raise
    except RecursionError:
        raise fail(source, "nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - last guard: one line, never a traceback
        raise fail(source, f"malformed session ({type(exc).__name__}: {exc})"[:200]) from None
