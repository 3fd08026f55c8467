"""A big session's compacting full save (the whole file rewritten, ~2 s for a million tokens)
never runs while a person types: in the app the store puts it off (``defer_compaction``) and
the app runs it once no key came for a while and nothing is generating. Each change is still
journaled at once, so nothing is lost meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loomtests.words import WordsBackend

from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.store import SessionStore
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.ui import saving
from loomtui.ui.app import make_app

SIZE = (80, 24)


def slow_store(tmp_path: Path) -> tuple[Path, SessionStore]:
    """A store that treats every save as slow and its journal as big after any change (what
    a million-token session is, at the size of a test)."""
    s = Session.new("Once upon a time")
    s.add_child(s.current_id, plain=" there was", origin="edit")
    path = tmp_path / "big.json"
    save_session(s, path)
    store = SessionStore.open(path)
    store.full_save_budget_s = 0.0  # every save is "slow"
    store.journal_compact_bytes = 1  # any journal is "big"
    return path, store


def test_a_deferring_store_journals_the_change_and_saves_only_when_asked(tmp_path):
    path, store = slow_store(tmp_path)
    before = path.read_bytes()
    store.defer_compaction = True
    engine = Engine.over(store, None)
    engine.set_bookmark(store.session.current_id, True)  # the journal has grown...
    engine.set_label(store.session.current_id, "kept")  # ...past its (tiny) bound
    assert path.read_bytes() == before  # no full save on the change...
    assert store.compaction_due
    assert store.journal.stat().st_size > 0  # ...the change is in the journal
    assert load_session(path).current.label is None
    assert store.compact_if_due()  # started on a thread of its own
    store.wait_compaction()
    assert not store.compaction_due and not store.compact_if_due()
    assert load_session(path).node(store.session.current_id).label == "kept"
    store.close()


def test_without_deferring_the_big_journal_is_compacted_at_once(tmp_path):
    path, store = slow_store(tmp_path)
    engine = Engine.over(store, None)
    engine.set_bookmark(store.session.current_id, True)
    engine.set_label(store.session.current_id, "now")
    assert not store.compaction_due
    assert load_session(path).node(store.session.current_id).label == "now"
    store.close()


async def test_the_app_saves_whole_only_after_a_pause_in_the_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(saving, "IDLE_S", 0.8)
    path, store = slow_store(tmp_path)
    before = path.read_bytes()
    app = make_app(store=store, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert store.defer_compaction
        await pilot.press("b", "plus")  # bookmark, rate: changes, journaled
        await pilot.pause()
        assert store.compaction_due and path.read_bytes() == before
        for _ in range(8):  # keys every 0.25 s for 2 s: the full save keeps waiting
            await pilot.press("left")
            await asyncio.sleep(0.25)
            assert store.compaction_due and path.read_bytes() == before
        await asyncio.sleep(2.2)  # a pause longer than IDLE_S, and the 1 s timer's tick
        assert not store.compaction_due
        saved = load_session(path).node(app.session.current_id)
        assert saved.bookmark and saved.rating == 1
    store.close()


async def test_keys_are_handled_while_the_compacting_save_runs(tmp_path, monkeypatch):
    """The full save runs on a thread of its own: held at one of its steps (as a slow disk
    would), the app still takes keys, journals them, and the save ends with nothing lost."""
    import threading

    from loomtui.core import compaction

    monkeypatch.setattr(saving, "IDLE_S", 0.3)
    at, go = threading.Event(), threading.Event()

    def hold(name: str) -> None:
        if name == "written":
            at.set()
            go.wait(30)

    monkeypatch.setattr(compaction, "on_step", hold)
    path, store = slow_store(tmp_path)
    store.journal_compact_bytes = -1  # the first change makes the save due
    app = make_app(store=store, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("plus")  # a change: the compacting save is due
        await pilot.pause()
        assert store.compaction_due
        for _ in range(40):  # the 1 s timer starts it after the pause
            await asyncio.sleep(0.1)
            if at.is_set():
                break
        assert at.is_set() and store.compacting
        await pilot.press("b")  # handled while the save is held: the app is not blocked
        await pilot.pause()
        node = app.session.current_id
        assert app.session.current.bookmark and store.compacting
        assert b'"bookmark":true' in store.journal.read_bytes()
        go.set()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if not store.compacting:
                break
        assert not store.compacting and store.problem is None
        assert load_session(path).node(node).rating == 1  # the file holds the snapshot
    store.close()
    saved = load_session(path).node(node)
    assert saved.bookmark and saved.rating == 1
