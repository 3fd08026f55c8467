"""Hostile files around a session (issue 20): a journal that does not apply never reaches the
file; links planted at loomtui's file names are never followed; a session that is itself a
link writes its target and shares its target's lock; a read-only session is refused in one
line, never replaced; temp files a kill left are cleaned (only loomtui's own); and what is
printed to a terminal from a file shows its escapes instead of obeying them."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from loomtui.core.atomicfile import create_exclusive
from loomtui.core.errors import SessionFileError, SessionLockedError
from loomtui.core.journal import JOURNAL_VERSION, frame
from loomtui.core.journal import line as record_line
from loomtui.core.lock import lock_path
from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.store import SaveFailed, SessionStore, journal_path, save_locked
from loomtui.core.tokens import Token
from loomtui.core.tree import Session

OSC = "\x1b]0;pwned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J"


def _three_nodes(path: Path) -> tuple[Session, bytes]:
    s = Session.new()
    a = s.add_child(s.root_id, plain="A", origin="edit")
    s.add_child(a.id, plain="B", origin="edit")
    save_session(s, path)
    return s, path.read_bytes()


def _plant_journal(path: Path, records: list[dict]) -> bytes:
    import hashlib

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    data = record_line({"op": "base", "v": JOURNAL_VERSION, "sha256": sha}) + frame(records)
    journal_path(path).write_bytes(data)
    return data


# --------------------------------------------------------------------------- damaged journals
def _damage(case: str, s: Session) -> list[dict]:
    a = s.node(s.root.children[0])
    b = s.node(a.children[0])
    return {
        "root deleted": [{"op": "del", "ids": [s.root_id]}],
        "root moved under a child": [{"op": "node", "id": s.root_id, "parent": b.id}],
        "a parent that does not exist": [
            {"op": "node", "id": "orphan", "parent": "nowhere", "origin": "edit", "plain": "x"}
        ],
        "a cycle": [
            {"op": "node", "id": s.root_id, "children": []},
            {"op": "node", "id": a.id, "parent": b.id, "children": [b.id]},
        ],
        "a root that is not a node": [{"op": "sess", "root": "zz", "current": "zz", "meta": {}}],
        "a record of the wrong shape": [{"op": "node", "id": a.id, "children": "b"}],
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "root deleted",
        "root moved under a child",
        "a parent that does not exist",
        "a cycle",
        "a root that is not a node",
        "a record of the wrong shape",
    ],
)
def test_a_journal_that_does_not_apply_is_kept_aside_and_the_file_stays_as_it_was(tmp_path, case):
    path = tmp_path / "s.json"
    s, original = _three_nodes(path)
    journal = _plant_journal(path, _damage(case, s))
    # A read-only look says so and moves nothing.
    with SessionStore.open(path, readonly=True) as ro:
        assert len(ro.session.nodes) == 3 and len(ro.warnings) == 1
        assert "does not apply" in ro.warnings[0]
    assert journal_path(path).read_bytes() == journal
    # The writer keeps it aside, says where, and opens the session as the file has it.
    with SessionStore.open(path) as rw:
        assert len(rw.session.nodes) == 3
        assert len(rw.warnings) == 1 and "kept as .s.json.journal.rejected-" in rw.warnings[0]
        assert "\n" not in rw.warnings[0]
    assert path.read_bytes() == original
    assert len(load_session(path).nodes) == 3
    kept = [p for p in tmp_path.iterdir() if ".rejected-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == journal
    with SessionStore.open(path) as again:
        assert again.warnings == []  # said once; the kept journal is the user's to look at


@pytest.mark.parametrize("last", [False, True], ids=["inside", "last line"])
@pytest.mark.parametrize("bad", ["NaN", "1e999", "-Infinity"])
def test_a_journal_number_that_could_never_be_saved_is_refused_by_name(tmp_path, bad, last):
    """A value JSON reads but loomtui cannot write back stops the journal where it stands
    (the records before it are recovered, the rest kept aside), and every save after works."""
    path = tmp_path / "s.json"
    s, _ = _three_nodes(path)
    good = {"op": "node", "id": s.root.children[0], "label": "recovered"}
    later = {"op": "node", "id": s.root.children[0], "label": "after the bad line"}
    _plant_journal(path, [good])
    poisoned = {"op": "sess", "root": s.root_id, "current": s.root_id, "meta": {"x": 0.5}}
    bad_line = record_line(poisoned).replace(b"0.5", bad.encode())
    # Written whole (its newline too), even as the last line it is no cut a kill left.
    after = b"" if last else record_line(later)
    journal_path(path).write_bytes(journal_path(path).read_bytes() + bad_line + after)
    with SessionStore.open(path) as store:
        assert store.session.node(s.root.children[0]).label == "recovered"
        assert len(store.warnings) == 1, store.warnings
        assert "meta.x: " in store.warnings[0] and "kept as" in store.warnings[0]
        store.session.add_child(store.session.root_id, plain="more", origin="edit")
        store.save()  # no "Out of range float values are not JSON compliant"
    assert load_session(path).node(s.root.children[0]).label == "recovered"


# --------------------------------------------------------------------------- planted links
def test_links_planted_at_loomtuis_file_names_are_never_followed(tmp_path, driver):
    from loomtui.backends.base import GenerationSettings
    from loomtui.engine import Engine

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's own file\n")
    path = tmp_path / "s.json"
    _three_nodes(path)
    planted = [
        journal_path(path),  # the journal itself
        tmp_path / ".s.json.journal.tmp",  # the journal's old temp name
        tmp_path / ".s.json.tmp",  # the session's
    ]
    for link in planted:
        link.symlink_to(victim)
    with SessionStore.open(path) as store:
        engine = Engine.over(store, driver.ScriptedBackend())
        store.full_save_budget_s = 0  # checkpoints into the journal, as a big session does
        engine.generate(store.session.root_id, None, GenerationSettings(max_tokens=4, n=2))
        store.checkpoint()
        assert not journal_path(path).is_symlink()  # replaced by loomtui's own file
        store.save()
    assert victim.read_bytes() == b"the user's own file\n"
    assert not path.is_symlink() and len(load_session(path).nodes) == 5


@pytest.mark.parametrize("kind", ["link to /dev/zero", "FIFO", "link to the user's file"])
def test_a_lock_planted_as_a_link_or_fifo_is_neither_read_through_nor_waited_on(tmp_path, kind):
    """An old lock that loomtui did not write is taken over at once: a link to an endless
    device is not read (it filled memory), a FIFO is not waited on (it hung), and the file
    a link names is left as it was."""
    path = tmp_path / "s.json"
    _three_nodes(path)
    lock = lock_path(path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"12 the user's own file\n")  # even one that starts like a pid
    if kind == "FIFO":
        os.mkfifo(lock)
    else:
        lock.symlink_to("/dev/zero" if "zero" in kind else victim)
    old = time.time() - 60
    os.utime(lock, (old, old), follow_symlinks=False)
    opened: list[SessionStore | BaseException] = []

    def take() -> None:
        try:
            opened.append(SessionStore.open(path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            opened.append(exc)

    worker = threading.Thread(target=take, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # stuck reading the FIFO: let it go, then fail
        os.close(os.open(lock, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("opening the session waited on a FIFO planted as its lock")
    store = opened[0]
    assert isinstance(store, SessionStore), store
    with store:
        assert len(store.session.nodes) == 3
        assert lock.is_file() and not lock.is_symlink()  # loomtui's own lock now
    assert not lock.exists() and victim.read_bytes() == b"12 the user's own file\n"


# --------------------------------------------------------------------------- a session link
def test_a_session_that_is_a_link_writes_its_target_and_shares_its_lock(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "notes.json"
    _three_nodes(real)
    link = tmp_path / "notes-link.json"
    link.symlink_to(real)
    with SessionStore.open(link) as store:
        store.session.add_child(store.session.root_id, plain="through the link", origin="edit")
        store.save()
        assert link.is_symlink() and link.resolve() == real
        # The file the link names is the one open: a second writer by its real name is
        # refused, as it would be by the link's name.
        with pytest.raises(SessionLockedError):
            SessionStore.open(real)
        assert lock_path(real).exists() and not lock_path(link).exists()
    assert link.is_symlink() and len(load_session(real).nodes) == 4
    # A verb's save through the link also writes the target and keeps the link.
    s = load_session(real)
    s.add_child(s.root_id, plain="from a verb", origin="edit")
    save_locked(s, link)
    assert link.is_symlink() and len(load_session(real).nodes) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes-link.json", "real"]
    assert sorted(p.name for p in real_dir.iterdir()) == ["notes.json"]


@pytest.mark.parametrize("kind", ["FIFO", "link to /dev/zero", "folder"])
def test_a_session_path_that_is_no_file_is_refused_before_any_lock(tmp_path, kind, monkeypatch):
    """Following a link must not put a lock beside a device (``/dev/.zero.lock``), and a
    FIFO is never waited on: refused in one line naming the path as the user gave it."""
    from loomtui.core.lock import SessionLock

    path = tmp_path / "s.json"
    if kind == "FIFO":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    locks: list[Path] = []
    real_acquire = SessionLock.acquire
    monkeypatch.setattr(
        SessionLock, "acquire", lambda self: locks.append(self.path) or real_acquire(self)
    )
    for attempt in (
        lambda: SessionStore.open(path),
        lambda: SessionStore.open(path, readonly=True),
        lambda: save_locked(Session.new(), path),
    ):
        start = time.monotonic()
        with pytest.raises(SessionFileError) as refused:
            attempt()
        assert time.monotonic() - start < 1
        assert str(refused.value).startswith(f"{path}: is a ") and "\n" not in str(refused.value)
    assert locks == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


# --------------------------------------------------------------------------- read-only files
def _cli(*args: str, tmp_path: Path, tty: bool = False) -> tuple[int, bytes]:
    """Run ``loomtui ARGS`` in a child process, its output on a pipe or a pseudo-terminal."""
    env = dict(os.environ, LOOMTUI_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path))
    env.pop("LOOMTUI_CONFIG", None)
    cmd = [sys.executable, "-m", "loomtui", *args]
    if not tty:
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=60, cwd=tmp_path)
        return proc.returncode, proc.stdout + proc.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        cmd, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env, cwd=tmp_path
    )
    os.close(slave)
    out = b""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), out


def test_a_read_only_session_is_refused_in_one_line_and_never_replaced(tmp_path):
    path = tmp_path / "ro.json"
    _, original = _three_nodes(path)
    path.chmod(0o444)
    with pytest.raises(SessionFileError, match="read-only.*--readonly"):
        SessionStore.open(path)
    code, out = _cli(str(path), tmp_path=tmp_path)  # the app: refused before it starts
    assert code != 0 and out.count(b"\n") == 1 and b"read-only" in out, out
    assert path.read_bytes() == original and oct(path.stat().st_mode & 0o777) == "0o444"
    with SessionStore.open(path, readonly=True) as ro:  # looking is fine
        assert len(ro.session.nodes) == 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "data") == ["ro.json"]


def test_a_verbs_read_only_output_is_refused_before_any_work(tmp_path):
    """``score -o``, ``sweep -o``, ``replay -o`` hold their output under :func:`output_lock`
    while the model works: a read-only output is refused there, at once, in one line that
    does not send the user to a --readonly the verb does not have."""
    from loomtui.core.store import output_lock

    path = tmp_path / "ro.json"
    _, original = _three_nodes(path)
    path.chmod(0o444)
    with pytest.raises(SessionFileError) as refused:
        with output_lock(path):
            pytest.fail("the verb's work began")
    message = str(refused.value)
    assert "read-only" in message and "--readonly" not in message and "\n" not in message
    assert path.read_bytes() == original and not lock_path(path).exists()


def test_a_session_made_read_only_while_open_is_not_replaced_and_the_work_is_kept(tmp_path):
    path = tmp_path / "s.json"
    _, original = _three_nodes(path)
    store = SessionStore.open(path)
    told: list[str | None] = []
    store.on_problem = told.append
    node = store.session.add_child(store.session.root_id, plain="late work", origin="edit")
    path.chmod(0o444)
    with pytest.raises(SaveFailed) as failed:
        store.save()
    message = str(failed.value)
    assert "read-only" in message and "kept in the journal" in message and "\n" not in message
    assert told == [message]  # said at once, in one line
    assert path.read_bytes() == original
    store._close_fd()  # the process ends without another word (a kill)
    store.lock.release()
    path.chmod(0o644)
    with SessionStore.open(path) as again:
        assert again.session.node(node.id).plain == "late work"


# --------------------------------------------------------------------------- stale temp files
def test_temp_files_a_kill_left_are_cleaned_on_the_next_open_and_nothing_else(tmp_path):
    path = tmp_path / "s.json"
    _three_nodes(path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    ours = []
    for prefix in (".s.json.", ".s.json.journal."):  # the session's save, the journal's restart
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=tmp_path)
        os.close(fd)
        ours.append(Path(name))
    fd, name = create_exclusive(tmp_path, "s.json")  # export -o and the atomic writer
    os.close(fd)
    ours.append(name)
    others = [
        tmp_path / ".s.json.my-notes.tmp",  # the user's own, not a loomtui name
        tmp_path / ".t.json.abcd1234.tmp",  # another session's (not ours to clean)
    ]
    for other in others:
        other.write_bytes(b"not loomtui's")
    link = tmp_path / ".s.json.abcd1234.tmp"
    link.symlink_to(victim)  # a loomtui name, but a link: never removed, never followed
    with SessionStore.open(path, readonly=True):
        pass
    assert all(p.exists() for p in ours)  # a reader cleans nothing (a save may be running)
    with SessionStore.open(path):
        pass
    assert not any(p.exists() for p in ours)
    assert all(p.read_bytes() == b"not loomtui's" for p in others)
    assert link.is_symlink() and victim.read_bytes() == b"keep me"


# --------------------------------------------------------------------------- the terminal
@pytest.fixture
def hostile_ids(tmp_path: Path) -> Path:
    """A session whose node ids, bookmark, model name and text hold terminal escapes."""
    s = Session.new()
    tok = Token("t" + OSC, ("t" + OSC).encode(), 5, -0.5)
    node = s.add_child(s.root_id, plain="hi " + OSC + " there" + CLEAR, origin="edit")
    gen = s.add_child(node.id, tokens=[tok], model="m" + OSC, origin="model")
    gen.bookmark = True
    s.current_id = gen.id
    path = tmp_path / "evil.json"
    save_session(s, path)
    text = path.read_text()
    for old in (node.id, gen.id):
        text = text.replace(old, json.dumps(old + OSC + "\x1b[31m")[1:-1])
    path.write_text(text)
    return path


def test_info_shows_escapes_in_ids_and_names_instead_of_obeying_them(hostile_ids, tmp_path):
    code, out = _cli("info", str(hostile_ids), tmp_path=tmp_path, tty=True)
    assert code == 0, out
    assert b"\x1b" not in out and b"\x07" not in out, out
    text = out.decode()
    assert "current     " in text and "␛]0;pwned␇␛[31m" in text
    assert "m␛]0;pwned␇" in text  # the model name


def test_export_to_a_terminal_shows_escapes_unless_raw_and_stays_exact_to_a_pipe(
    hostile_ids, tmp_path
):
    exact = load_session(hostile_ids)
    branch = exact.branch_bytes(exact.current_id)
    assert OSC.encode() in branch
    code, piped = _cli("export", str(hostile_ids), tmp_path=tmp_path)
    assert code == 0 and piped == branch  # byte for byte to a pipe
    code, shown = _cli("export", str(hostile_ids), tmp_path=tmp_path, tty=True)
    assert code == 0 and b"\x1b" not in shown and b"\x07" not in shown, shown
    assert "hi ␛]0;pwned␇ there␛[2J" in shown.decode()
    code, raw = _cli("export", "--raw", str(hostile_ids), tmp_path=tmp_path, tty=True)
    assert code == 0 and OSC.encode() in raw  # asked for: the bytes as they are


def test_recent_lists_file_names_with_their_escapes_shown(tmp_path):
    sessions = tmp_path / "data" / "sessions"
    sessions.mkdir(parents=True)
    _three_nodes(sessions / f"x{OSC}{CLEAR}.json")
    code, out = _cli("--recent", tmp_path=tmp_path, tty=True)
    assert code == 0 and b"\x1b" not in out and b"\x07" not in out, out
    assert "x␛]0;pwned␇␛[2J.json" in out.decode()


def test_the_apps_exit_line_shows_the_file_names_escapes(tmp_path, capsys, monkeypatch):
    import loomtui.cli.app_cmd as app_cmd
    from loomtui.cli import main

    monkeypatch.setenv("LOOMTUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(app_cmd, "launch_app", lambda **kw: 0)  # the app, closed at once
    path = tmp_path / f"x{OSC}{CLEAR}.json"
    _three_nodes(path)
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out, out
    assert out.endswith("x␛]0;pwned␇␛[2J.json\n"), out


# --------------------------------------------------------------------------- what verbs say
@pytest.mark.parametrize("verb", ["info", "show", "export"])
def test_reading_verbs_say_when_the_journal_holds_work_the_file_does_not(tmp_path, capsys, verb):
    from loomtui.cli import main

    path = tmp_path / f"s{CLEAR}.json"
    _three_nodes(path)
    store = SessionStore.open(path)
    store.full_save_budget_s = 0  # a big session: the change goes to the journal only
    store.session.add_child(store.session.root_id, plain="only in the journal", origin="edit")
    store.autosave()
    store._close_fd()  # the process is killed: no final save
    store.lock.release()
    assert main([verb, str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "journal record" in err and "not yet applied" in err, err
    assert "\x1b" not in err
    with SessionStore.open(path):  # recovered: the note goes away
        pass
    assert main([verb, str(path)]) == 0
    assert "not yet applied" not in capsys.readouterr().err


def test_the_lock_message_gives_the_apps_readonly_command_whole(tmp_path):
    """A verb that writes a session has no --readonly: the message names the app's command
    (``loomtui --readonly PATH``), never the option alone as if the verb took it."""
    path = tmp_path / "s.json"
    s, _ = _three_nodes(path)
    with SessionStore.open(path):
        with pytest.raises(SessionLockedError) as refused:
            save_locked(s, path)
    message = str(refused.value)
    assert f"loomtui --readonly {path}" in message and "\n" not in message
    assert f"pid {os.getpid()}" in message


def test_export_o_replaces_its_file_whole_or_not_at_all(hostile_ids, tmp_path, capsys, monkeypatch):
    import errno

    from loomtui.cli import main

    out = tmp_path / "out.txt"
    out.write_bytes(b"the previous export\n")
    real_write = os.write

    def full(fd, data):  # the temp file is created, then the disk is full
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    assert main(["export", str(hostile_ids), "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "unchanged" in err
    assert out.read_bytes() == b"the previous export\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    # With room, the whole branch, byte for byte; through a link, its target (the link stays).
    link = tmp_path / "link.txt"
    link.symlink_to(out)
    assert main(["export", str(hostile_ids), "-o", str(link)]) == 0
    exact = load_session(hostile_ids)
    assert out.read_bytes() == exact.branch_bytes(exact.current_id) and link.is_symlink()


def test_loading_progress_on_a_terminal_shows_a_model_files_escapes(monkeypatch):
    import io

    from loomtui.cli.common import stderr_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    stderr_progress(f"loading m{OSC}.gguf", 0.5)
    shown = err.getvalue()
    # Only loomtui's own line control (carriage return, erase line) reaches the terminal.
    assert shown.startswith("\r\x1b[2K") and "\x1b" not in shown[5:] and "\x07" not in shown
    assert "loading m␛]0;pwned␇.gguf  50%" in shown
