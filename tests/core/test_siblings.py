"""Siblings ordered and thinned in the core and the engine: sort keys, dedup (counts, moved
children, the earliest kept), soft-hiding (the current node never left on a hidden branch),
the file and journal keeping ``hidden`` and ``count``, and a SIGKILL losing neither."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loomtui.core.errors import SessionFileError
from loomtui.core.sessionfile import dumps_session, load_session, loads_session, save_session
from loomtui.core.siblings import (
    SORT_KEYS,
    dedup_tree,
    prune_selection,
    shown_leaves,
    sorted_children,
)
from loomtui.core.store import SessionStore
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session, TreeError
from loomtui.engine import Engine


def _toks(text: str, lp: float, spread: float = 1.0) -> list[Token]:
    """One token per word, each logprob ``lp``, with a 3-entry top list around it."""
    out = []
    for i, word in enumerate(text.split(" ")):
        piece = " " + word
        data = piece.encode()
        top = (
            Alt(piece, data, i, lp),
            Alt("x", b"x", 900, lp - spread),
            Alt("y", b"y", 901, lp - 2 * spread),
        )
        out.append(Token(piece, data, i, lp, top))
    return out


def _tree() -> tuple[Session, dict[str, str]]:
    """A prompt with five alternates (two pairs identical) made at times 1..5."""
    s = Session.new("Once")
    p = s.current_id
    ids = {}
    specs = [
        ("a", "upon a time", -1.0, 1.0),
        ("b", "there was", -0.5, 3.0),
        ("c", "upon a time", -1.0, 1.0),
        ("d", "long ago in a land far away", -2.5, 0.2),
        ("e", "there was", -0.5, 3.0),
    ]
    for t, (name, text, lp, spread) in enumerate(specs, start=1):
        node = s.add_child(p, tokens=_toks(text, lp, spread), model="m", backend="local")
        node.created, node.finish_reason = float(t), "length"
        ids[name] = node.id
    ids["prompt"] = p
    return s, ids


def test_each_sort_key_orders_the_alternates_in_its_direction():
    s, ids = _tree()
    name = {v: k for k, v in ids.items()}
    order = lambda key, down=None: [name[n] for n in sorted_children(s, ids["prompt"], key, down)]  # noqa: E731
    # joint: "there was" (2 x -0.5 = -1.0) beats "upon a time" (-3.0), the long one last.
    assert order("joint_logprob") == ["b", "e", "a", "c", "d"]
    assert order("mean_logprob") == ["b", "e", "a", "c", "d"]
    assert order("mean_logprob", False) == ["d", "a", "c", "b", "e"]
    # confidence: −mean of (lp, lp−s, lp−2s) = −lp + s: b/e 3.5, d 2.7, a/c 2.0.
    assert order("confidence") == ["b", "e", "d", "a", "c"]
    assert order("length") == ["d", "a", "c", "b", "e"]
    assert order("created") == ["a", "b", "c", "d", "e"]
    assert order("created", True) == ["e", "d", "c", "b", "a"]
    with pytest.raises(TreeError, match="unknown sort key 'nope'"):
        sorted_children(s, ids["prompt"], "nope")


def test_plain_text_alternates_go_last_either_way():
    s, ids = _tree()
    typed = s.add_child(ids["prompt"], plain="typed by hand", origin="edit")
    for key in ("joint_logprob", "confidence"):
        assert sorted_children(s, ids["prompt"], key)[-1] == typed.id
        assert sorted_children(s, ids["prompt"], key, False)[-1] == typed.id


def test_engine_sort_is_saved_in_the_order_given(tmp_path: Path):
    s, ids = _tree()
    path = tmp_path / "s.json"
    save_session(s, path)
    with SessionStore.open(path) as store:
        Engine.over(store, None).sort_children(ids["prompt"], "confidence")
    again = load_session(path)
    assert again.node(ids["prompt"]).children == sorted_children(s, ids["prompt"], "confidence")


def test_dedup_keeps_the_earliest_counts_the_draws_and_moves_children():
    s, ids = _tree()
    below_c = s.add_child(ids["c"], plain=" and then", origin="edit")
    below_a = s.add_child(ids["a"], plain=" so", origin="edit")
    s.goto(below_c.id)
    s.node(ids["e"]).count = 2  # already a merge of two draws
    merges = dedup_tree(s)
    assert sorted(merges) == sorted([(ids["a"], [ids["c"]]), (ids["b"], [ids["e"]])])
    assert s.node(ids["prompt"]).children == [ids["a"], ids["b"], ids["d"]]
    assert s.node(ids["a"]).count == 2 and s.node(ids["b"]).count == 3
    assert ids["c"] not in s and ids["e"] not in s
    # The removed duplicate's child now hangs under the kept node, after its own child.
    assert s.node(ids["a"]).children == [below_a.id, below_c.id]
    assert s.node(below_c.id).parent == ids["a"]
    assert s.current_id == below_c.id
    assert s.branch_text(below_c.id) == "Once upon a time and then"


def test_dedup_merges_grandchildren_that_meet_under_the_kept_node():
    s, ids = _tree()
    x1 = s.add_child(ids["a"], tokens=_toks(" end", -0.1))
    x2 = s.add_child(ids["c"], tokens=_toks(" end", -0.1))
    x1.created, x2.created = 10.0, 11.0
    dedup_tree(s)
    assert s.node(ids["a"]).children == [x1.id] and x1.count == 2


def test_failed_or_empty_alternates_are_never_merged():
    s, ids = _tree()
    f1 = s.add_child(ids["prompt"], tokens=[], error="server said no")
    f2 = s.add_child(ids["prompt"], tokens=[], error="server said no")
    dedup_tree(s)
    assert f1.id in s and f2.id in s


def test_hiding_the_current_branch_moves_current_to_the_nearest_shown_ancestor():
    s, ids = _tree()
    deep = s.add_child(ids["d"], plain=" more", origin="edit")
    s.goto(deep.id)
    engine = Engine(s, None)
    assert engine.set_hidden([ids["d"]], True) == [ids["d"]]
    assert s.current_id == ids["prompt"]
    assert s.node(ids["d"]).hidden and deep.id in s  # kept, only hidden
    with pytest.raises(TreeError, match="root"):
        engine.set_hidden([s.root_id], True)
    # Going down and across skips the hidden alternate.
    assert s.descend(ids["prompt"]).id != ids["d"]
    assert all(s.sibling(ids["c"], k).id != ids["d"] for k in (-2, -1, 1, 2))
    engine.set_hidden([ids["d"]], False)
    assert not s.node(ids["d"]).hidden


def test_prune_selects_alternates_below_the_threshold_and_leaves_are_the_shown_ones():
    s, ids = _tree()
    chosen = prune_selection(s, "mean_logprob", -2.0)
    assert chosen == [ids["d"]]
    assert set(prune_selection(s, "confidence", 2.5)) == {ids["a"], ids["c"]}
    lone = s.add_child(ids["d"], tokens=_toks("alone", -9.0))  # no sibling: not an alternate
    assert lone.id not in prune_selection(s, "mean_logprob", 0.0)
    Engine(s, None).set_hidden(chosen, True)
    leaves = {n.id for n in shown_leaves(s)}
    assert leaves == {ids["a"], ids["b"], ids["c"], ids["e"]}
    assert {n.id for n in s.leaves()} == leaves | {lone.id}


def test_hidden_and_count_round_trip_byte_for_byte_and_old_files_are_unchanged(tmp_path):
    s, ids = _tree()
    plain = dumps_session(s)
    assert b'"hidden"' not in plain and b'"count"' not in plain  # defaults are left out
    s.node(ids["d"]).hidden = True
    s.node(ids["a"]).count = 4
    data = dumps_session(s)
    back = loads_session(data)
    assert back.node(ids["d"]).hidden and back.node(ids["a"]).count == 4
    assert not back.node(ids["b"]).hidden and back.node(ids["b"]).count == 1
    assert dumps_session(back) == data
    raw = json.loads(data)
    import jsonschema

    schema = json.loads(
        (Path(__file__).parents[2] / "loomtui/core/session.schema.json").read_text()
    )
    jsonschema.validate(raw, schema)
    for bad in ({"count": 0}, {"count": 1.5}, {"hidden": "yes"}):
        broken = json.loads(data)
        broken["nodes"][-1].update(bad)
        with pytest.raises(SessionFileError):
            loads_session(json.dumps(broken).encode())


def test_the_journal_carries_hidden_and_count_when_the_file_is_not_rewritten(tmp_path):
    s, ids = _tree()
    path = tmp_path / "s.json"
    save_session(s, path)
    store = SessionStore.open(path)
    store.full_save_budget_s = 0  # as a big session: journal checkpoints, not full saves
    engine = Engine.over(store, None)
    engine.set_hidden([ids["d"]], True)
    engine.dedup(ids["prompt"])
    assert b'"hidden"' not in path.read_bytes()  # only the journal has them yet
    store._close_fd()
    store.lock.release()  # as a kill would leave it (the lock is stale)
    again = SessionStore.open(path)
    try:
        sess = again.session
        assert sess.node(ids["d"]).hidden
        assert sess.node(ids["a"]).count == 2 and ids["c"] not in sess
    finally:
        again.close()


_KILLED = textwrap.dedent(
    """
    import sys, time
    from loomtui.core.store import SessionStore
    from loomtui.engine import Engine
    store = SessionStore.open(sys.argv[1])
    store.full_save_budget_s = 0  # journal checkpoints (a big session's path)
    engine = Engine.over(store, None)
    prompt = sys.argv[2]
    for nid in list(store.session.node(prompt).children):
        if store.session.node(nid).text.startswith(" long"):
            engine.set_hidden([nid], True)
            print("HIDDEN " + nid, flush=True)
    for kept, gone in engine.dedup(prompt):
        print("MERGED " + kept + " " + str(store.session.node(kept).count), flush=True)
    print("END", flush=True)
    time.sleep(60)
    """
)


def test_sigkill_after_hide_and_dedup_loses_neither(tmp_path):
    s, ids = _tree()
    path = tmp_path / "killed.json"
    save_session(s, path)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(path), ids["prompt"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line.split())
        if line.startswith("END"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()  # type: ignore[union-attr]
    assert ["HIDDEN", ids["d"]] in lines
    merged = {w[1]: int(w[2]) for w in lines if w[0] == "MERGED"}
    assert merged == {ids["a"]: 2, ids["b"]: 2}
    with SessionStore.open(path) as store:
        sess = store.session
        assert sess.node(ids["d"]).hidden
        for kept, count in merged.items():
            assert sess.node(kept).count == count
        assert ids["c"] not in sess and ids["e"] not in sess
    # And once reopened and closed, the file itself holds them.
    back = load_session(path)
    assert back.node(ids["d"]).hidden and back.node(ids["a"]).count == 2


def test_every_sort_key_has_help_and_a_direction():
    for key in SORT_KEYS.values():
        assert key.help and isinstance(key.descending, bool)


def test_hide_dedup_and_sort_are_each_one_undo_step():
    s, ids = _tree()
    engine = Engine(s, None)
    engine.keep_history()

    def state():
        return {nid: (n.parent, tuple(n.children), n.count, n.hidden) for nid, n in s.nodes.items()}

    before = state()
    engine.set_hidden([ids["d"]], True)
    engine.dedup(ids["prompt"])
    engine.sort_children(ids["prompt"], "confidence")
    after = state()
    assert engine.undo(3) == ["sort " + ids["prompt"][:6], "dedup " + ids["prompt"][:6], "hide"]
    assert state() == before
    engine.redo(3)
    assert state() == after


@pytest.mark.parametrize("bad", [{"count": 0}, {"count": "2"}, {"count": True}, {"hidden": 1}])
def test_a_journal_record_with_a_wrong_count_or_hidden_is_damage(bad):
    from loomtui.core.journal import JournalDamage, apply_records

    s, ids = _tree()
    with pytest.raises(JournalDamage, match="count|hidden"):
        apply_records(s, [{"op": "node", "id": ids["a"], **bad}])


def test_dedup_carries_marks_ratings_the_way_down_and_a_hoist_over_to_the_kept_node():
    s, ids = _tree()
    dup = s.node(ids["c"])
    dup.bookmark, dup.label, dup.rating = True, "twice", 1
    s.goto(ids["c"])  # the prompt remembers the way down through the duplicate
    s.meta["hoist"] = ids["c"]
    dedup_tree(s)
    kept = s.node(ids["a"])
    assert (kept.bookmark, kept.label, kept.rating) == (True, "twice", 1)
    assert s.node(ids["prompt"]).checked == ids["a"] and s.current_id == ids["a"]
    assert s.meta["hoist"] == ids["a"]


def test_ratings_are_a_sort_key_too_unrated_last():
    s, ids = _tree()
    assert "rating" in SORT_KEYS
    s.node(ids["d"]).rating, s.node(ids["b"]).rating, s.node(ids["a"]).rating = 1, -1, 0
    order = sorted_children(s, ids["prompt"], "rating")
    assert order == [ids["d"], ids["a"], ids["b"], ids["c"], ids["e"]]
