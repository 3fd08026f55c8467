"""A full disk never costs finished work: the journal completes short writes or cuts a refused
one back to its last whole record, says so at once, and catches up when there is room again;
a failed save keeps the old file and the work in the journal; the lock is never left empty."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.core.errors import LoomError
from loomtui.core.sessionfile import load_session
from loomtui.core.store import SaveFailed, SessionStore, journal_path, lock_path
from loomtui.engine import Engine

REAL_WRITE = os.write


def _is_journal(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(".journal")
    except OSError:
        return False


class Disk:
    """``os.write`` as a nearly full disk sees it, for the journal's descriptor only: short
    writes (at most ``chunk`` bytes), and ENOSPC while ``full`` (after writing part of the
    first refused call, as a real disk does)."""

    def __init__(self, chunk: int | None = None) -> None:
        self.chunk = chunk
        self.full = False
        self.refused = 0
        self._cut = False

    def write(self, fd: int, data) -> int:
        if not _is_journal(fd):
            return REAL_WRITE(fd, data)
        data = bytes(data)
        if self.full:
            if not self._cut and len(data) > 1:
                self._cut = True
                return REAL_WRITE(fd, data[: len(data) // 2])  # half, then no room at all
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._cut = False
        if self.chunk is not None:
            data = data[: self.chunk]
        return REAL_WRITE(fd, data)


def _crash(store: SessionStore) -> None:
    """The process vanishes: no final save, the journal stays as written."""
    store._close_fd()
    store.lock.release()


def _branches(session) -> dict[str, bytes]:
    return {nid: session.branch_bytes(nid) for nid in session.nodes}


def _autosave(store: SessionStore, failures: list[str]) -> None:
    try:
        store.autosave()
    except SaveFailed as exc:
        failures.append(str(exc))


def _journal_lines_whole(path) -> None:
    for raw in journal_path(path).read_bytes().splitlines():
        assert isinstance(json.loads(raw), dict)  # no half record anywhere


@pytest.fixture
def disk(monkeypatch):
    disk = Disk()
    monkeypatch.setattr(os, "write", disk.write)
    return disk


def test_short_journal_writes_are_completed(tmp_path, driver, disk):
    disk.chunk = 7  # the system takes at most 7 bytes per call
    path = tmp_path / "s.json"
    store = SessionStore.open(path)
    store.full_save_budget_s = 0  # journal checkpoints, not full saves
    engine = Engine.over(store, driver.ScriptedBackend())
    r = engine.generate(store.session.root_id, None, GenerationSettings(max_tokens=6, n=2))
    engine.add(r.nodes[0].id, 3, plain="typed [b]", origin="edit")
    expected = _branches(store.session)
    _crash(store)
    _journal_lines_whole(path)
    with SessionStore.open(path) as again:
        assert _branches(again.session) == expected
        assert all(len(again.session.node(n.id).tokens) >= 3 for n in r.nodes)


def test_disk_full_then_room_again_loses_nothing_and_says_so(tmp_path, driver, disk):
    path = tmp_path / "s.json"
    store = SessionStore.open(path)
    store.full_save_budget_s = 0
    told: list[str | None] = []
    store.on_problem = told.append
    engine = Engine.over(store, driver.ScriptedBackend())
    failures: list[str] = []
    engine.on_change = lambda s: _autosave(store, failures)  # as the app does
    settings = GenerationSettings(max_tokens=5, n=2, seed=3)
    before = engine.generate(store.session.root_id, None, settings)
    disk.full = True
    during = engine.generate(before.nodes[0].id, None, settings)  # every write refused
    assert disk.refused > 0
    assert store.problem and "No space left on device" in store.problem
    assert told and told[0] == store.problem and len(told) == 1  # said once, not per token
    _journal_lines_whole(path)  # the half record was cut back
    assert failures == [store.problem] and "only in memory" in failures[0]
    disk.full = False
    after = engine.generate(during.nodes[1].id, None, settings)  # the first write catches up
    assert store.problem is None and told[-1] is None
    expected = _branches(store.session)
    _crash(store)
    _journal_lines_whole(path)
    with SessionStore.open(path) as again:
        assert _branches(again.session) == expected
        for node in before.nodes + during.nodes + after.nodes:
            assert len(again.session.node(node.id).tokens) == 5


def test_failed_save_keeps_the_old_file_and_the_work_in_the_journal(tmp_path, driver, monkeypatch):
    import loomtui.core.store as store_mod

    path = tmp_path / "s.json"
    store = SessionStore.open(path)
    engine = Engine.over(store, driver.ScriptedBackend())
    engine.generate(store.session.root_id, None, GenerationSettings(max_tokens=3))
    saved = path.read_bytes()
    told: list[str | None] = []
    store.on_problem = told.append

    def no_room(session, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(store_mod, "_save", no_room)
    failures: list[str] = []
    engine.on_change = lambda s: _autosave(store, failures)  # as the app does
    node = engine.add(store.session.current_id, None, plain="an edit", origin="edit")
    assert failures == told
    # The autosave failed: said at once (not at ctrl+s or quit), the file is the old one...
    assert told and "could not save s.json (No space left on device)" in told[0]
    assert "kept in the journal .s.json.journal" in told[0]
    assert path.read_bytes() == saved
    with pytest.raises(SaveFailed):
        store.close()  # ...and the journal outlives a failed final save
    assert journal_path(path).exists() and not lock_path(path).exists()
    monkeypatch.undo()
    with SessionStore.open(path) as again:
        assert again.session.node(node.id).plain == "an edit"
    assert load_session(path).node(node.id).plain == "an edit"


def test_disk_full_while_taking_the_lock_leaves_no_lock(tmp_path):
    """RLIMIT_FSIZE 0: the lock file is created, but not one byte can be written into it."""
    path = tmp_path / "s.json"
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from loomtui.core.lock import SessionLock
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            SessionLock(Path({str(path)!r})).acquire()
        except Exception as exc:
            print(type(exc).__name__, exc)
            sys.exit(3)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot take the lock" in proc.stdout and "\n" not in proc.stdout.strip()
    assert not lock_path(path).exists()


def test_cli_prints_one_line_for_an_os_error(tmp_path, capsys, monkeypatch):
    from loomtui.cli import main

    path = tmp_path / "s.json"
    path.write_text("{}")
    import loomtui.cli.info as info

    def refused(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x\x1b[2J.json"))

    monkeypatch.setattr(info, "run", refused)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error" not in err
    assert "No space left on device" in err and "kept in its journal" in err
    assert "\x1b" not in err


async def test_app_says_at_once_when_autosave_fails(tmp_path, monkeypatch):
    """A full disk during an autosave: a toast and the status line say so, without ctrl+s."""
    from loomtests.ui import demo_session, screen_text

    import loomtui.core.store as store_mod
    from loomtui.core.sessionfile import save_session
    from loomtui.ui.app import make_app

    (tmp_path / "s[").mkdir()
    path = tmp_path / "s[/]x.json"  # markup-like name: shown as data
    save_session(demo_session(), path)
    store = SessionStore.open(path)
    app = make_app(store=store, new_session=False)

    def no_room(session, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    async with app.run_test(size=(100, 24)) as pilot:
        monkeypatch.setattr(store_mod, "_save", no_room)
        await pilot.press("b")  # a change: autosave runs and fails
        await pilot.pause()
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("could not save ]x.json (No space left on device)" in m for m in messages)
        assert "not saved" in screen_text(app)
        monkeypatch.undo()
        await pilot.press("b")
        await pilot.pause()
        await pilot.pause()
        assert any("works again" in n.message for n in app._notifications)
    try:
        store.close()
    except LoomError:
        pass
    assert not journal_path(path).exists()
