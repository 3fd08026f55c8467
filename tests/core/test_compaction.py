"""A big session's compacting full save on a thread of its own (issue 19: autosave never
blocks typing): the changes made while it runs are kept, quitting waits for it, and a full
disk is said in one line and loses nothing."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from loomtui.core import compaction
from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.store import SessionStore, journal_path, lock_path
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.engine import Engine


def big_store(tmp_path: Path) -> tuple[Path, SessionStore, Engine]:
    """A store that treats every save as slow and any journal as big, as the app holds it."""
    s = Session.new("Once upon a time")
    s.add_child(s.current_id, plain=" there was", origin="edit")
    path = tmp_path / "big.json"
    save_session(s, path)
    store = SessionStore.open(path)
    store.full_save_budget_s = 0.0
    store.journal_compact_bytes = -1  # any journal, even an empty one, is "big"
    store.defer_compaction = True
    return path, store, Engine.over(store, None)


@pytest.fixture
def hold(monkeypatch):
    """Stop the background save at a step until released: ``hold(step) -> (at, go)``."""

    def make(stop: str) -> tuple[threading.Event, threading.Event]:
        at, go = threading.Event(), threading.Event()

        def hook(name: str) -> None:
            if name == stop:
                at.set()
                assert go.wait(30)

        monkeypatch.setattr(compaction, "on_step", hook)
        return at, go

    return make


def test_changes_made_while_the_save_runs_are_kept_and_the_journal_holds_only_them(tmp_path, hold):
    path, store, engine = big_store(tmp_path)
    node = store.session.current_id
    engine.set_label(node, "before")
    assert store.compaction_due
    at, go = hold("written")
    assert store.compact_if_due()  # returns at once: the save runs on its own thread
    assert at.wait(10) and store.compacting
    engine.set_label(node, "during")  # the person goes on working
    added = engine.add(node, None, plain=" and more", origin="edit")
    assert load_session(path).node(node).label is None  # not renamed in yet
    go.set()
    store.wait_compaction()
    saved = load_session(path)
    assert saved.node(node).label == "before"  # the file holds the snapshot...
    assert added.id not in saved.nodes
    journal = journal_path(path).read_bytes()
    assert b"during" in journal and b"before" not in journal  # ...the journal what came after
    assert not store.compaction_due and store.problem is None
    store._close_fd()  # a kill now: the file and the trimmed journal give the latest state
    store.lock.release()
    with SessionStore.open(path) as again:
        assert again.session.node(node).label == "during"
        assert again.session.node(added.id).plain == " and more"


def test_quitting_while_the_save_runs_waits_for_it_and_keeps_everything(tmp_path, hold):
    path, store, engine = big_store(tmp_path)
    node = store.session.current_id
    engine.set_label(node, "first")
    at, go = hold("marked")
    assert store.compact_if_due()
    assert at.wait(10)
    engine.set_bookmark(node, True)
    threading.Timer(0.3, go.set).start()  # the save ends while close() waits for it
    store.close()
    assert not store.compacting
    saved = load_session(path)
    assert saved.node(node).label == "first" and saved.node(node).bookmark
    assert not journal_path(path).exists() and not lock_path(path).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_full_disk_during_the_save_is_said_once_and_loses_nothing(tmp_path, monkeypatch):
    path, store, engine = big_store(tmp_path)
    told: list[str | None] = []
    store.on_problem = told.append
    node = store.session.current_id
    engine.set_label(node, "kept")
    before = path.read_bytes()
    real_write = os.write
    full = threading.Event()
    full.set()

    def write(fd: int, data) -> int:  # the disk is full for the save's temp file
        if full.is_set() and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    assert store.compact_if_due()
    store.wait_compaction()
    assert path.read_bytes() == before  # the old file stays
    assert len(told) == 1 and told[0] is not None and "\n" not in told[0]
    assert "No space left on device" in told[0] and journal_path(path).name in told[0]
    assert store.problem == told[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert not store.compact_if_due()  # not retried at once on a full disk
    engine.set_label(node, "still journaled")
    # Room again: the next try saves and says so.
    full.clear()
    store._compact_after = 0.0
    assert store.compact_if_due()
    store.wait_compaction()
    assert told[-1] is None and store.problem is None
    assert load_session(path).node(node).label == "still journaled"
    store.close()


def test_a_kill_after_a_failed_save_recovers_from_the_journal(tmp_path, monkeypatch):
    path, store, engine = big_store(tmp_path)
    node = store.session.current_id
    engine.set_label(node, "in the journal")

    def no_room(pieces, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(compaction, "write_pieces", no_room)
    assert store.compact_if_due()
    store.wait_compaction()
    assert store.problem is not None
    store._close_fd()  # killed
    store.lock.release()
    with SessionStore.open(path) as again:
        assert again.session.node(node).label == "in the journal"


def test_the_snapshot_is_not_reached_by_later_changes(tmp_path):
    _, store, engine = big_store(tmp_path)
    session = store.session
    node = session.node(session.current_id)
    words = [Token(text=w, bytes=w.encode()) for w in (" a", " b", " c")]
    grown = engine.add(node.id, None, tokens=words[:2], origin="model")
    children = list(node.children)
    snap = compaction.snapshot(session)
    engine.set_label(node.id, "later")
    engine.add(node.id, None, plain=" later", origin="edit")
    session.append_tokens(grown.id, words[2:])  # a generation goes on growing a node
    session.meta["later"] = True
    copy = snap.settle()
    assert copy.node(node.id).label is None
    assert copy.node(node.id).children == children and "later" not in copy.meta
    assert len(copy.nodes) == len(session.nodes) - 1
    assert copy.node(grown.id).text == " a b" and session.node(grown.id).text == " a b c"
    store.close()


@pytest.mark.parametrize("typing", [False, True])
def test_the_save_leaves_the_interpreter_to_keys_only_while_they_come(
    tmp_path, monkeypatch, typing
):
    path, store, engine = big_store(tmp_path)
    monkeypatch.setattr(compaction, "WORK_S", 0.0)  # a pause after every piece of work
    engine.set_label(store.session.current_id, "x")
    if typing:
        store.typing_until = time.monotonic() + 60  # the app sets it at every key
    assert store.compact_if_due()
    save = store._compaction
    store.wait_compaction()
    assert (save.pacer.slept > 0) is typing  # it slept only for the person's keys
    assert load_session(path).node(store.session.current_id).label == "x"
    store.close()


def test_the_background_encoder_writes_the_bytes_a_save_writes(tmp_path, driver):
    """The save's thread encodes node by node (session_parts); joined, its pieces are the
    exact bytes of an ordinary save, for generated, picked, plain, scored and loaded nodes."""
    from loomtui.backends.base import GenerationSettings
    from loomtui.core.sessionfile import dumps_session, session_parts

    path, store, engine = big_store(tmp_path)
    engine.backend = driver.ScriptedBackend()
    session = store.session
    result = engine.generate(session.current_id, None, GenerationSettings(max_tokens=6, n=3))
    node = result.nodes[0]
    engine.pick(node.id, 2, node.tokens[2].top[-1])
    engine.set_label(node.id, "[b]x\x1b")
    session.meta["note"] = {"nested": [1, 2.5, None]}
    hand = [Token(text="é", bytes="é".encode(), token_id=7, logprob=-0.1, entropy=0.3)]
    engine.add(result.nodes[1].id, None, tokens=hand, origin="model")
    for s in (session, load_session(path), _saved_and_loaded(session, tmp_path)):
        assert b"".join(session_parts(s)) == dumps_session(s)
    store.close()


def _saved_and_loaded(session: Session, tmp_path: Path) -> Session:
    other = tmp_path / "other.json"
    save_session(session, other)
    return load_session(other)
