"""Undo and redo of every Engine change, captured at one place (loomtui.core.history): each
method is undone to the exact bytes the session saved before it and redone to the bytes
after; the history is kept beside the session file, bounded, refused loudly when damaged
(and never written over), and refuses a step the tree changed under."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest
from loomtests.ui import demo_session
from loomtests.undo_state import state
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.core import historyfile
from loomtui.core.history import MAX_STEPS, HistoryError
from loomtui.core.historyfile import history_path
from loomtui.core.sessionfile import dumps_session, load_session, save_session
from loomtui.core.store import SessionStore
from loomtui.core.tokens import Token
from loomtui.core.tree import Session, TreeError
from loomtui.engine import Engine


def _engine() -> Engine:
    engine = Engine(demo_session(), WordsBackend())
    engine.keep_history()
    return engine


def _split_tail(e: Engine) -> str:
    e.split("gen1", 5)
    return e.session.node("gen1").children[0]


def _scored(e: Engine) -> None:
    node = e.session.node("prompt")
    toks = [Token(ch, ch.encode(), ord(ch), -1.0) for ch in node.plain]
    e.apply_scores([("prompt", toks, "fake-model")])


def _graft(e: Engine) -> None:
    other = demo_session()
    extra = other.add_child("gen2", plain=" grafted", origin="edit")
    e.graft(other, [extra.id])


def _take_back(e: Engine) -> None:
    before = set(e.session.nodes)
    e.add("gen2", None, plain=" scratch", origin="edit", goto=False)  # an instrument's node
    e.take_back(before, "gen1")


# Every change an Engine makes (those other rooms added included), as the app makes it.
CHANGES = {
    "split": lambda e: e.split("gen1", 5),
    "split_above_children": lambda e: e.split("prompt", 4),  # the tail takes gen1 and gen2
    "add": lambda e: e.add("gen1", 3, plain=" inserted", origin="edit"),
    "add_turn": lambda e: e.add_turn("gen2", "and then?"),
    "pick": lambda e: e.pick("gen1", 2, e.session.node("gen1").tokens[2].top[-1]),
    "edit_branch": lambda e: e.edit_branch("gen1", e.session.branch_text("gen1")[:30] + "!"),
    "generate": lambda e: e.generate("gen2", 4, GenerationSettings(max_tokens=5, n=3)),
    "apply_scores": _scored,
    "graft": _graft,
    "take_back": _take_back,
    "delete": lambda e: e.delete("prompt"),
    "set_bookmark": lambda e: e.set_bookmark("gen2", True),
    "set_label": lambda e: e.set_label("gen2", "a label"),
    "merge": lambda e: e.merge(_split_tail(e)),
    "merge_siblings": lambda e: (
        e.add("gen1", None, tokens=e.session.node("gen2").tokens[:3]),
        e.merge(e.session.node("gen1").children[0], siblings=True),
    ),
    "copy_branch": lambda e: e.copy_branch("gen1"),
    "set_rating": lambda e: e.set_rating("gen1", 1),
    "sort_children": lambda e: e.sort_children("prompt", "length", descending=False),
    "dedup": lambda e: (
        e.add("prompt", None, tokens=e.session.node("gen2").tokens, origin="model"),
        e.dedup("prompt"),
    ),
    "set_hidden": lambda e: e.set_hidden(["gen2"], True),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_every_engine_change_is_undone_and_redone_exactly(name):
    engine = _engine()
    session = engine.session
    before = dumps_session(session)
    CHANGES[name](engine)
    after = dumps_session(session)
    assert after != before
    steps = len(engine.history.undo_stack)
    assert steps >= 1
    engine.undo(steps)
    assert dumps_session(session) == before
    engine.redo(steps)
    assert dumps_session(session) == after


def test_every_public_engine_method_is_a_step_or_said_not_to_be():
    """A method added to the Engine later is undoable without code of its own (wrapped); the
    test lists what exists, so a new one is looked at here (and added to CHANGES)."""
    from loomtui.engine_history import _NOT_STEPS

    public = {n for n in dir(Engine) if not n.startswith("_") and callable(getattr(Engine, n))}
    changes = public - _NOT_STEPS
    assert changes - set(CHANGES) == set(), "an Engine change with no undo test here"
    for name in changes:
        assert getattr(getattr(Engine, name), "__wrapped__", None) is not None, name


def test_moving_around_is_not_a_step():
    engine = _engine()
    engine.checkout("gen2")
    engine.session.goto("gen1")
    assert not engine.history.can_undo()
    engine.set_label("gen1", "x")
    assert engine.history.labels()[0] == ["label gen1"]


def test_a_step_refers_to_tokens_instead_of_copying_them_and_a_big_session_stays_fast():
    """A session of 1,000,000 tokens in one node: labelling it, splitting it, generating
    after it write none of its tokens into the history (only the new ones), and cost about
    what they cost without a history."""
    session = Session.new()
    tok = [Token(f" t{i % 50}", f" t{i % 50}".encode(), i % 50, -1.0) for i in range(1000)]
    big = session.add_child(session.root_id, tokens=tok * 1000, origin="model", model="m")
    plain = Engine(session, WordsBackend())
    timed = Engine(session, WordsBackend())
    timed.keep_history()

    def cost(engine: Engine, change) -> float:
        start = time.perf_counter()
        change(engine)
        return time.perf_counter() - start

    without = cost(plain, lambda e: e.set_label(big.id, "a"))
    withh = cost(timed, lambda e: e.set_label(big.id, "b"))
    cost(timed, lambda e: e.split(big.id, 500_000))
    cost(timed, lambda e: e.generate(big.id, None, GenerationSettings(max_tokens=4, n=2)))
    steps = timed.history.undo_stack
    assert [len(s["pool"]) for s in steps] == [0, 0, 8]  # only the generated tokens
    assert all(len(json.dumps(s)) < 20_000 for s in steps)
    assert withh < without + 0.25  # a label on a million tokens: no copy of them
    timed.undo(3)
    assert len(session.node(big.id).tokens) == 1_000_000 and session.node(big.id).label == "a"


def _store(tmp_path, session: Session | None = None):
    path = tmp_path / "s.json"
    if session is not None:
        save_session(session, path)
    store = SessionStore.open(path)
    return path, store, Engine.over(store, WordsBackend())


def test_undo_after_reopening_restores_ids_tokens_labels_bookmarks_and_current(tmp_path):
    path, store, engine = _store(tmp_path, demo_session())
    states = [state(store.session)]
    engine.set_bookmark("gen1", True)
    states.append(state(store.session))
    engine.split("gen1", 7)
    states.append(state(store.session))
    engine.set_label(store.session.node("gen1").children[0], "tail")
    states.append(state(store.session))
    engine.generate("gen2", None, GenerationSettings(max_tokens=3, n=2))
    states.append(state(store.session))
    engine.delete("gen2")
    states.append(state(store.session))
    engine.undo(2)  # two undone before closing: redo survives too
    store.close()
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    assert state(store.session) == states[3]
    assert engine.history.labels() == (
        [
            "label " + states[3]["nodes"]["gen1"]["children"][0][:6],
            "split gen1 at 7",
            "bookmark gen1",
        ],
        ["generate 2 from gen2", "delete gen2"],
    )
    engine.undo(3)
    assert state(store.session) == states[0]
    engine.redo(5)
    assert state(store.session) == states[5]
    store.close()


def test_a_step_the_tree_changed_under_is_refused_in_one_line(tmp_path):
    path, store, engine = _store(tmp_path, demo_session())
    engine.split("gen1", 5)
    store.close()
    # The file is edited elsewhere: the node the split touched is relabelled.
    other = load_session(path)
    other.node("gen1").tokens = other.node("gen1").tokens[:3]
    save_session(other, path)
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    before = dumps_session(store.session)
    with pytest.raises(HistoryError) as refused:
        engine.undo()
    assert "cannot undo split gen1 at 5: node gen1 changed since" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert dumps_session(store.session) == before  # nothing half applied
    store.close()


def test_a_damaged_history_is_refused_loudly_never_written_over_and_the_session_opens(tmp_path):
    path, store, engine = _store(tmp_path, demo_session())
    engine.set_label("gen1", "one")
    engine.set_label("gen1", "two")
    store.close()
    hist = history_path(path)
    lines = hist.read_bytes().split(b"\n")
    lines[1] = b'{"op": "step", "before": [tru'  # a whole line, damaged (not a kill's cut)
    damaged = b"\n".join(lines)
    hist.write_bytes(damaged)
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    assert store.session.node("gen1").label == "two"  # the session is as saved
    [warning] = engine.history.warnings
    assert "s.json.history is damaged" in warning and "left as it is" in warning
    assert "\n" not in warning
    engine.set_label("gen1", "three")  # undo works in memory for this run...
    engine.undo()
    assert store.session.node("gen1").label == "two"
    store.close()
    assert hist.read_bytes() == damaged  # ...and the damaged file is never written over


def test_a_kill_cut_last_line_is_dropped_silently(tmp_path):
    path, store, engine = _store(tmp_path, demo_session())
    engine.set_label("gen1", "one")
    engine.set_label("gen1", "two")
    store.close()
    hist = history_path(path)
    data = hist.read_bytes()
    hist.write_bytes(data[: len(data) - 40])  # the last record cut mid-write
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    assert not engine.history.warnings
    assert engine.history.labels()[0] == ["label gen1"]
    store.close()


def test_a_link_planted_as_the_history_is_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious\n")
    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    os.symlink(target, history_path(path))
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    assert any("not a regular file" in w for w in engine.history.warnings)
    engine.set_label("gen1", "x")
    store.close()
    assert target.read_bytes() == b"precious\n" and history_path(path).is_symlink()


def test_a_read_only_session_writes_no_history(tmp_path):
    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    store = SessionStore.open(path, readonly=True)
    engine = Engine.over(store, None)
    engine.set_label("gen1", "x")
    engine.undo()
    assert store.session.node("gen1").label is None
    store.close()
    assert not history_path(path).exists()


def test_the_history_is_bounded_in_steps_and_bytes(tmp_path, monkeypatch):
    path, store, engine = _store(tmp_path, demo_session())
    for i in range(MAX_STEPS + 5):
        engine.set_label("gen1", f"label {i}")
    assert len(engine.history.undo_stack) == MAX_STEPS
    engine.undo(MAX_STEPS)
    assert store.session.node("gen1").label == "label 4"
    with pytest.raises(HistoryError, match="nothing to undo"):
        engine.undo()
    engine.redo(3)
    store.close()
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    assert (len(engine.history.undo_stack), len(engine.history.redo_stack)) == (3, MAX_STEPS - 3)
    # A byte cap: the file is rewritten with the newest steps (and the redo ones) kept.
    monkeypatch.setattr(historyfile, "MAX_BYTES", 40_000)
    for i in range(60):
        engine.set_label("gen2", f"again {i}")
    engine.undo(2)
    size = history_path(path).stat().st_size
    assert size <= 40_000
    kept = engine.history.labels()
    store.close()
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    assert engine.history.labels() == kept and len(kept[0]) > 5
    engine.undo(len(kept[0]))
    store.close()


def test_a_change_too_big_for_the_file_is_undone_in_memory_and_said(tmp_path, monkeypatch):
    path, store, engine = _store(tmp_path, demo_session())
    engine.set_label("gen1", "small")
    engine.set_label("gen2", "small too")
    monkeypatch.setattr(historyfile, "MAX_STEP_BYTES", 1000)
    before = dumps_session(store.session)
    engine.delete("prompt")  # the accidental delete of a big subtree
    assert any("too large to keep on disk" in w for w in engine.history.warnings)
    engine.undo()  # undone in this run...
    assert dumps_session(store.session) == before
    engine.undo()  # ...and the file's history stays in step with memory's
    engine.redo()
    engine.redo()
    assert dumps_session(store.session) != before and "prompt" not in store.session
    store.close()
    store = SessionStore.open(path)  # on reopening: the steps the file could keep
    engine = Engine.over(store, None)
    assert engine.history.labels() == (["label gen2", "label gen1"], [])
    with pytest.raises(HistoryError, match="cannot undo label gen2"):
        engine.undo()  # its nodes went with the big delete: refused, nothing changed
    store.close()


def test_a_refused_surgery_changes_nothing_and_leaves_no_step():
    engine = _engine()
    before = dumps_session(engine.session)
    with pytest.raises(TreeError, match="plain text"):
        engine.merge("gen1", siblings=True)  # the prompt is plain text, gen1 tokens
    with pytest.raises(TreeError, match="sibling"):
        engine.merge("gen1")
    assert dumps_session(engine.session) == before and not engine.history.can_undo()


def test_a_copy_shares_token_objects_and_reads_the_same():
    engine = _engine()
    copy = engine.copy_branch("gen1")
    s = engine.session
    assert s.branch_text(copy.id) == s.branch_text("gen1")
    assert all(a is b for a, b in zip(copy.tokens, s.node("gen1").tokens, strict=True))
    assert s.path(copy.id)[0].id == s.root_id and s.path(copy.id)[1].id != "prompt"
    assert dataclasses.replace(copy).meta["copy_of"] == "gen1"


def test_a_generate_over_several_models_is_one_undo_step():
    from loomtests import fakes

    from loomtui.instruments.multimodel import generate_many

    engine = Engine(Session.new(), None)
    engine.keep_history()
    prompt = engine.add(engine.session.root_id, plain="The cat sat on the mat.", origin="prompt")
    before = dumps_session(engine.session)
    a, b = fakes.FullBackend("model-a", seed=1), fakes.FullBackend("model-b", seed=2)
    result = generate_many(engine, [a, b], prompt.id, None, GenerationSettings(max_tokens=4, n=4))
    assert {n.model for n in result.nodes} == {"model-a", "model-b"}
    assert engine.history.labels()[0][0] == f"generate 4 from {prompt.id[:6]}"
    engine.undo()
    assert dumps_session(engine.session) == before


def test_an_instrument_run_is_one_undo_step():
    """A sweep adds a split, a generation per alternative and picks: one step, undone at
    once (a person presses ctrl+z once for what one key press did)."""
    from loomtests import fakes

    from loomtui.instruments import sweep

    session = Session.new("The cat")
    engine = Engine(session, fakes.make_fake_backend())
    engine.keep_history()
    gen = engine.generate(session.current_id, None, GenerationSettings(max_tokens=6, temperature=0))
    before = dumps_session(session)
    result = sweep.sweep(engine, gen.nodes[0].id, 2, top_k=3, max_tokens=5)
    assert len(result.variants) == 4
    assert engine.history.labels()[0][0] == f"sweep {gen.nodes[0].id[:6]}"
    engine.undo()
    assert dumps_session(session) == before


def test_a_step_whose_images_do_not_fit_the_tree_is_refused_and_changes_nothing(tmp_path):
    path, store, engine = _store(tmp_path, demo_session())
    engine.split("gen1", 5)
    store.close()
    hist = history_path(path)
    lines = hist.read_bytes().splitlines()
    step = json.loads(lines[-1])
    gen1 = next(r for r in step["before"] if r["id"] == "gen1")
    gen1["children"] = ["nowhere"]  # well-formed JSON, a broken tree
    lines[-1] = json.dumps(step).encode()
    hist.write_bytes(b"\n".join(lines) + b"\n")
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    before = dumps_session(store.session)
    with pytest.raises(HistoryError, match="is damaged") as refused:
        engine.undo()
    assert "\n" not in str(refused.value)
    assert dumps_session(store.session) == before
    store.close()


def test_undo_waits_while_a_change_runs_on_another_thread():
    import threading

    engine = _engine()
    engine.set_label("gen1", "x")
    started, release = threading.Event(), threading.Event()

    def slow_change() -> None:
        with engine.history.step("an instrument"):
            engine.session.node("gen2").label = "busy"
            started.set()
            release.wait(5)

    worker = threading.Thread(target=slow_change)
    worker.start()
    started.wait(5)
    with pytest.raises(HistoryError, match="a change is under way"):
        engine.undo()
    release.set()
    worker.join()
    assert engine.history.labels()[0] == ["an instrument", "label gen1"]
    engine.undo(2)
    assert engine.session.node("gen1").label is None and engine.session.node("gen2").label is None


def test_a_copy_refers_to_the_original_s_tokens_and_redo_checks_they_are_still_there():
    engine = _engine()
    engine.copy_branch("gen1")
    [step] = engine.history.undo_stack
    assert step["pool"] == [] and [a["id"] for a in step["anchors"]] == ["gen1"]
    engine.undo()
    engine.session.node("gen1").tokens = engine.session.node("gen1").tokens[:3]  # elsewhere
    with pytest.raises(HistoryError, match="cannot redo copy gen1: node gen1 changed since"):
        engine.redo()


def test_a_compaction_cut_by_a_kill_leaves_no_temp_file_behind(tmp_path):
    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    stale = tmp_path / ".s.json.history.ab12cd34.tmp"  # a compaction a kill cut short
    stale.write_bytes(b'{"op": "base"')
    store = SessionStore.open(path)
    store.close()
    assert not stale.exists()
