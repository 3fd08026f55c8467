"""The session store: lock file, read-only opening, journal replay and its edge cases."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.core.errors import SessionLockedError
from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.store import ReadOnlyError, SessionStore, journal_path, lock_path
from loomtui.core.tree import Session
from loomtui.engine import Engine


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_writer_is_told_the_pid_and_can_open_read_only(tmp_path):
    path = tmp_path / "s.json"
    with SessionStore.open(path) as first:
        first.session.edit(first.session.root_id, 0, "hello")
        first.save()
        with pytest.raises(SessionLockedError) as err:
            SessionStore.open(path)
        assert f"pid {os.getpid()}" in str(err.value)
        assert "--readonly" in str(err.value)
        ro = SessionStore.open(path, readonly=True)
        assert ro.session.branch_text(ro.session.current_id) == "hello"
        with pytest.raises(ReadOnlyError):
            ro.save()
        ro.close()  # closing a read-only store must not release the writer's lock
        assert lock_path(path).exists()
        first.session.edit(first.session.current_id, 5, " world")
    # The writer's last edit is on disk: nothing the read-only opener did lost it.
    loaded = load_session(path)
    assert loaded.branch_text(loaded.current_id) == "hello world"
    assert not lock_path(path).exists()


def test_lock_held_by_another_live_process(tmp_path):
    path = tmp_path / "s.json"
    code = textwrap.dedent(
        f"""
        import sys, time
        from loomtui.core.store import SessionStore
        s = SessionStore.open({str(path)!r})
        print("locked", flush=True)
        sys.stdin.read()
        s.close()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(SessionLockedError, match=f"pid {proc.pid}"):
            SessionStore.open(path)
    finally:
        proc.communicate("", timeout=30)
    with SessionStore.open(path):  # released on close
        pass


def test_stale_lock_from_dead_process_is_taken_over(tmp_path):
    path = tmp_path / "s.json"
    save_session(Session.new("x"), path)
    import socket

    lock_path(path).write_text(f"{_dead_pid()} {socket.gethostname()}\n")
    with SessionStore.open(path) as store:
        assert lock_path(path).read_text().split()[0] == str(os.getpid())
        assert store.session.branch_text(store.session.current_id) == "x"


def test_garbled_old_lock_is_stale_but_young_one_is_respected(tmp_path):
    path = tmp_path / "s.json"
    lock_path(path).write_text("")
    with pytest.raises(SessionLockedError):
        SessionStore.open(path)  # could be a process between create and write
    old = os.path.getmtime(lock_path(path)) - 60
    os.utime(lock_path(path), (old, old))
    SessionStore.open(path).close()


def test_journal_replays_tokens_edits_and_deletes_after_a_crash(tmp_path, driver):
    path = tmp_path / "s.json"
    store = SessionStore.open(path)
    store.full_save_budget_s = 0  # force journal checkpoints instead of full saves
    engine = Engine.over(store, driver.ScriptedBackend())
    s = store.session
    engine.add(s.root_id, 0, plain="prompt \x1b[31m", origin="edit")
    r1 = engine.generate(s.current_id, None, GenerationSettings(max_tokens=5, n=2, seed=1))
    r2 = engine.generate(r1.nodes[0].id, 2, GenerationSettings(max_tokens=4, n=1, seed=2))
    s.set_bookmark(r2.nodes[0].id)
    s.delete(r1.nodes[1].id)
    store.autosave()
    expected = {nid: s.branch_bytes(nid) for nid in s.nodes}
    # Simulate SIGKILL: the process vanishes without close(); the file is the first save.
    store._close_fd()
    assert load_session(path).stats()["tokens"] == 0
    assert journal_path(path).stat().st_size > 0
    lock_path(path).write_text(f"{_dead_pid()}\n")
    with SessionStore.open(path) as again:
        assert again.replayed > 0
        got = {nid: again.session.branch_bytes(nid) for nid in again.session.nodes}
        assert got == expected
        assert again.session.node(r2.nodes[0].id).bookmark
        assert r1.nodes[1].id not in again.session.nodes
        tok = again.session.node(r2.nodes[0].id).tokens[0]
        assert tok.top[1].bytes == b"[/]\x1b" and tok.logprob == -0.5
    # Replayed, saved, and the journal is gone after a clean close.
    assert not journal_path(path).exists()
    assert {nid: load_session(path).branch_bytes(nid) for nid in expected} == expected


def test_journal_from_before_the_last_save_is_not_replayed_twice(tmp_path, driver):
    """A crash between the atomic save and the journal truncation: the journal names the
    previous file, so it is ignored (replaying it could resurrect a deleted node)."""
    path = tmp_path / "s.json"
    store = SessionStore.open(path)
    store.full_save_budget_s = 0
    engine = Engine.over(store, driver.ScriptedBackend())
    r = engine.generate(store.session.root_id, None, GenerationSettings(max_tokens=3, n=2))
    stale = journal_path(path).read_bytes()
    store.session.delete(r.nodes[1].id)
    save_session(store.session, path)  # the save happened, the truncation did not
    journal_path(path).write_bytes(stale)
    store._close_fd()
    store.lock.release()
    with SessionStore.open(path) as again:
        assert again.replayed == 0
        assert r.nodes[1].id not in again.session.nodes
        assert len(again.session.node(r.nodes[0].id).tokens) == 3


def test_torn_last_journal_line_is_ignored(tmp_path, driver):
    path = tmp_path / "s.json"
    store = SessionStore.open(path)
    engine = Engine.over(store, driver.ScriptedBackend())
    store.full_save_budget_s = 0
    r = engine.generate(store.session.root_id, None, GenerationSettings(max_tokens=6))
    store._close_fd()
    store.lock.release()
    data = journal_path(path).read_bytes()
    journal_path(path).write_bytes(data[:-7])  # a kill in the middle of the last write
    with SessionStore.open(path) as again:
        node = again.session.node(r.nodes[0].id)
        # All tokens were journaled before the finish record that got cut.
        assert len(node.tokens) == 6


def test_read_only_open_writes_nothing(tmp_path):
    path = tmp_path / "s.json"
    with pytest.raises(Exception, match="no session file"):
        SessionStore.open(path, readonly=True)
    assert not path.exists()
    save_session(Session.new("abc"), path)
    before = path.read_bytes(), sorted(os.listdir(tmp_path))
    ro = SessionStore.open(path, readonly=True)
    ro.session.edit(ro.session.current_id, 1, "Z")
    ro.autosave()
    ro.close()
    assert (path.read_bytes(), sorted(os.listdir(tmp_path))) == before


def test_opening_a_new_path_and_doing_nothing_leaves_no_file(tmp_path):
    path = tmp_path / "new.json"
    SessionStore.open(path).close()
    assert os.listdir(tmp_path) == []
    with SessionStore.open(path) as store:
        store.session.edit(store.session.root_id, 0, "kept")
    assert load_session(path).branch_text(load_session(path).current_id) == "kept"
    assert sorted(os.listdir(tmp_path)) == ["new.json"]


def test_corrupt_session_is_refused_and_left_untouched(tmp_path):
    from loomtui.core.errors import SessionFileError

    path = tmp_path / "bad.json"
    path.write_bytes(b'{"format": "loomtui-session", "schema_version": 1, "nodes": [')
    with pytest.raises(SessionFileError):
        SessionStore.open(path)
    assert path.read_bytes().endswith(b"[")
    assert not lock_path(path).exists()


def test_verbs_never_write_under_an_open_session(tmp_path, driver):
    """``score -o``/``sweep -o``/``replay -o`` save through save_locked: refused while the
    app holds the session, refused while a crashed journal waits, fine otherwise."""
    from loomtui.core.errors import SessionFileError
    from loomtui.core.store import save_locked

    path = tmp_path / "s.json"
    app = SessionStore.open(path)
    app.session.edit(app.session.root_id, 0, "the app's work")
    app.save()
    before = path.read_bytes()
    with pytest.raises(SessionLockedError, match=f"pid {os.getpid()}"):
        save_locked(Session.new("a verb's work"), path)
    assert path.read_bytes() == before
    # The app dies mid-generation, leaving a journal: the verb must not bury it.
    app.full_save_budget_s = 0
    Engine.over(app, driver.ScriptedBackend()).generate(
        app.session.current_id, None, GenerationSettings(max_tokens=3)
    )
    app._close_fd()
    app.lock.release()
    with pytest.raises(SessionFileError, match="open it once"):
        save_locked(Session.new("a verb's work"), path)
    with SessionStore.open(path) as recovered:
        assert recovered.session.stats()["tokens"] == 3
    save_locked(Session.new("a verb's work"), path)
    assert "a verb's work" in load_session(path).branch_text(load_session(path).current_id)


def test_score_holds_the_output_lock_while_the_model_works(tmp_path, driver, monkeypatch):
    """``score -o`` takes the output's lock before reading it and keeps it until it has
    written: the app cannot open the file in between (its changes would be overwritten)."""
    from loomtui import cli
    from loomtui.backends.base import ScoreResult
    from loomtui.cli import score as score_cmd
    from loomtui.core.tokens import Alt, Token

    path = tmp_path / "s.json"
    with SessionStore.open(path) as app:
        app.session.edit(app.session.root_id, 0, "the app's work")
    seen: list[str] = []

    class Watching(driver.ScriptedBackend):
        def score(self, text, top_k=20, prefix=None):
            try:
                SessionStore.open(path).close()
                seen.append("opened")
            except SessionLockedError:
                seen.append("locked")
            data = text.encode()
            tokens = [Token(text, data, 1, -0.5, (Alt(text, data, 1, -0.5),), 0.5)]
            return ScoreResult([0], tokens)

    monkeypatch.setattr(score_cmd, "backend_from_args", lambda args: Watching())
    assert cli.main(["score", "--text", "scored text", "-o", str(path)]) == 0
    assert seen == ["locked"]
    assert not lock_path(path).exists()
    texts = {load_session(path).branch_text(n.id) for n in load_session(path).leaves()}
    assert "the app's work" in texts and any("scored text" in t for t in texts)
    # Refused at once, before any model work, while the app holds the file.
    seen.clear()
    with SessionStore.open(path):
        assert cli.main(["score", "--text", "more", "-o", str(path)]) == 2
    assert seen == []
