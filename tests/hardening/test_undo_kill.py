"""SIGKILL a loomtui process after tree changes (and in the middle of more): reopened, the
undo history is there, and undoing it walks the tree back through every state it had,
exactly; redo walks forward again. A generation a kill cut short is undone too (its step is
written when it starts). A kill while writing the history never damages it: a step is
undone exactly or refused in one line, never half applied."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loomtests import crash_driver

from loomtui.core.history import HistoryError
from loomtui.core.historyfile import history_path
from loomtui.core.sessioncheck import check_tree
from loomtui.core.store import SessionStore
from loomtui.core.tree import Session
from loomtui.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}

#: A process making one change of each kind, printing the tree after each, then waiting to be
#: killed (or killed while it generates once more: ``slow``).
DRIVER = r"""
import json, sys, time
from loomtests.crash_driver import ScriptedBackend
from loomtui.backends.base import GenerationSettings
from loomtui.core.store import SessionStore
from loomtui.engine import Engine
from loomtests.undo_state import state

path, slow = sys.argv[1], sys.argv[2] == "slow"
store = SessionStore.open(path)
engine = Engine.over(store, ScriptedBackend())
s = store.session
def said():
    print("STATE " + json.dumps(state(s)), flush=True)
said()
first = s.root.children[0]
engine.generate(first, None, GenerationSettings(max_tokens=6, n=2)); said()
gen = s.node(first).children[0]
engine.split(gen, 3); said()
engine.set_label(gen, "kept"); said()
engine.set_bookmark(gen, True); said()
engine.merge(s.node(gen).children[0]); said()
engine.edit_branch(gen, s.branch_text(gen) + " typed"); said()
engine.copy_branch(gen); said()
engine.delete(first); said()
print("DONE", flush=True)
if slow:
    engine.backend = ScriptedBackend(delay=0.05)
    engine.generate(s.root_id, None, GenerationSettings(max_tokens=400, n=2))
time.sleep(60)
"""


def _kill_after(path: Path, slow: bool) -> list[dict]:
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(path), "slow" if slow else "idle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    )
    states = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("STATE "):
            states.append(json.loads(line[6:]))
        elif line.startswith("DONE"):
            break
    time.sleep(0.3 if slow else 0.05)  # slow: mid-generation, tokens streaming
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(states) == 9, proc.stderr.read() if proc.stderr else ""
    return states


def _fresh(tmp_path: Path) -> Path:
    path = tmp_path / "s.json"
    store = SessionStore.create(path, Session.new("The loom"))
    store.close()
    return path


def test_undo_history_survives_a_kill_and_walks_back_through_every_state(tmp_path):
    from loomtests.undo_state import state

    path = _fresh(tmp_path)
    states = _kill_after(path, slow=False)
    assert history_path(path).exists()
    store = SessionStore.open(path)
    try:
        engine = Engine.over(store, None)
        assert not engine.history.warnings
        assert state(store.session) == states[-1]
        for want in reversed(states[:-1]):
            engine.undo()
            assert state(store.session) == want
        assert not engine.history.can_undo()
        for want in states[1:]:
            engine.redo()
            assert state(store.session) == want
    finally:
        store.close()


def test_a_generation_cut_by_a_kill_is_undone_and_so_is_everything_before(tmp_path):
    from loomtests.undo_state import state

    path = _fresh(tmp_path)
    states = _kill_after(path, slow=True)
    store = SessionStore.open(path)
    try:
        engine = Engine.over(store, None)
        assert not engine.history.warnings
        # The generation was cut mid-stream: its nodes hold what arrived, marked interrupted.
        cut = [store.session.node(c) for c in store.session.root.children]
        cut = [n for n in cut if n.id not in states[-1]["nodes"]]
        assert len(cut) == 2 and all("interrupted" in (n.error or "") for n in cut)
        assert any(n.tokens for n in cut)
        # Its step was written when it started: undo takes the cut nodes away...
        [said] = engine.undo()
        assert said.startswith(f"generate 2 from {store.session.root_id[:6]}")
        assert "cannot be redone" in said
        assert state(store.session) == states[-1]
        # ...and every step before it walks back as it did.
        for want in reversed(states[:-1]):
            engine.undo()
            assert state(store.session) == want
        assert not engine.history.can_undo()
    finally:
        store.close()
    store = SessionStore.open(path)  # what was undone stays undone, and redo still works
    try:
        engine = Engine.over(store, None)
        assert state(store.session) == states[0]
        engine.redo(len(states) - 1)
        assert state(store.session) == states[-1]
        with pytest.raises(HistoryError, match="nothing to redo"):
            engine.redo()
    finally:
        store.close()


def test_random_kills_of_a_busy_process_never_damage_the_history(tmp_path):
    """The crash tests' driver generates, edits, bookmarks and deletes through the Engine
    (every change an undo step); killed at random moments, the history always reads, and
    the newest step is undone exactly or refused in one line: the tree stays whole."""
    path = tmp_path / "busy.json"
    rng = random.Random(7)
    undone = refused = 0
    for seed in range(6):
        proc = subprocess.Popen(
            [sys.executable, crash_driver.__file__, str(path), "--seed", str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"READY"), proc.stderr.read()  # type: ignore[union-attr]
        time.sleep(rng.uniform(0.2, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = SessionStore.open(path)
        try:
            engine = Engine.over(store, None)
            assert not engine.history.warnings, engine.history.warnings
            if engine.history.can_undo():
                try:
                    engine.undo()
                    undone += 1
                except HistoryError as exc:
                    assert "\n" not in str(exc)
                    refused += 1
            s = store.session
            check_tree(s.nodes, s.root_id, s.current_id, "after undo")
        finally:
            store.close()
        SessionStore.open(path).close()  # and it reopens
    assert undone + refused > 0


def test_a_cut_generation_grown_on_since_is_not_taken_away_under_its_children(tmp_path):
    path = _fresh(tmp_path)
    _kill_after(path, slow=True)
    store = SessionStore.open(path)
    try:
        engine = Engine.over(store, None)
        cut = store.session.root.children[-1]
        # Something hangs under a cut node that the history did not see (another tool).
        store.session.add_child(cut, plain=" later", origin="edit")
        with pytest.raises(HistoryError, match="damaged|changed since") as refused:
            engine.undo()
        assert "\n" not in str(refused.value)
        assert cut in store.session  # nothing taken away
    finally:
        store.close()
