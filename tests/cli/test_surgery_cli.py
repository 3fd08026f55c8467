"""The surgery and undo verbs on a session file: ``split``, ``merge``, ``delete``, ``copy``,
``undo``, ``redo`` (one line each, or ``--json``), the app's history and the verbs' being
one history; a session open elsewhere or a read-only file is refused in one line."""

from __future__ import annotations

import json
import os

from loomtests.ui import demo_session
from loomtests.undo_state import state

from loomtui.cli import main
from loomtui.core.sessionfile import load_session, save_session
from loomtui.core.store import SessionStore
from loomtui.engine import Engine


def _file(tmp_path) -> str:
    path = tmp_path / "s.json"
    save_session(demo_session(), path)
    return str(path)


def _json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_each_verb_changes_the_file_and_undo_walks_back(tmp_path, capsys):
    path = _file(tmp_path)
    states = [state(load_session(path))]
    out = _json(capsys, "split", path, "--node", "gen1", "--at", "5")
    tail = out["tail"]
    assert out["done"] == ["split gen1 at 5"] and out["undo"] == ["split gen1 at 5"]
    assert len(load_session(path).node("gen1").tokens) == 5
    states.append(state(load_session(path)))
    assert main(["merge", path, "--node", tail]) == 0
    assert capsys.readouterr().out.strip() == f"merged {tail} into gen1"
    states.append(state(load_session(path)))
    out = _json(capsys, "copy", path, "--node", "gen2")
    assert load_session(path).node(out["node"]).meta["copy_of"] == "gen2"
    states.append(state(load_session(path)))
    out = _json(capsys, "delete", path, "--node", "prompt")
    assert out["deleted"] == 3 and out["nodes"] == 1 + 2  # the root and the copied branch
    states.append(state(load_session(path)))

    out = _json(capsys, "undo", path, "--steps", "2")
    assert out["done"] == ["delete prompt", "copy gen2"]
    assert state(load_session(path)) == states[2]
    assert main(["undo", path, "--list"]) == 0
    listed = capsys.readouterr().out.strip()
    assert listed.startswith("undo: merge ") and listed.endswith("redo: copy gen2, delete prompt")
    assert main(["undo", path, "--steps", "9"]) == 0
    assert state(load_session(path)) == states[0]
    assert main(["undo", path]) == 2
    assert "nothing to undo" in capsys.readouterr().err
    out = _json(capsys, "redo", path, "--steps", "4")
    assert state(load_session(path)) == states[4] and out["redo"] == []


def test_the_app_s_changes_and_the_verbs_share_one_history(tmp_path, capsys):
    path = _file(tmp_path)
    store = SessionStore.open(path)
    engine = Engine.over(store, None)
    engine.set_label("gen2", "from the app")
    store.close()
    assert main(["undo", path]) == 0
    assert capsys.readouterr().out.strip() == "undid: label gen2"
    assert load_session(path).node("gen2").label is None


def test_merge_with_siblings_only_when_asked(tmp_path, capsys):
    path = _file(tmp_path)
    assert main(["split", path, "--node", "gen1", "--at", "5"]) == 0
    session = load_session(path)
    other = session.add_child("gen1", tokens=session.node("gen2").tokens[:2], origin="model")
    tail = session.node("gen1").children[0]
    save_session(session, path)
    capsys.readouterr()
    assert main(["merge", path, "--node", tail]) == 2
    err = capsys.readouterr().err
    assert "1 sibling(s)" in err and "--siblings" in err and err.count("\n") == 1
    assert main(["merge", path, "--node", tail, "--siblings"]) == 0
    merged = load_session(path)
    assert merged.node(other.id).parent == "prompt" and len(merged.node(other.id).tokens) == 7


def test_a_locked_or_read_only_session_is_refused_in_one_line(tmp_path, capsys):
    path = _file(tmp_path)
    store = SessionStore.open(path)  # open elsewhere
    try:
        Engine.over(store, None).set_label("gen2", "in the app")
        assert main(["delete", path, "--node", "gen2"]) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(os.getpid()) in err
        assert main(["undo", path, "--list"]) == 0  # only reads: no lock needed
        assert capsys.readouterr().out.strip() == "undo: label gen2 | redo: nothing"
    finally:
        store.close()
    os.chmod(path, 0o444)
    assert main(["undo", path]) == 2
    assert "read-only" in capsys.readouterr().err
    assert "gen2" in load_session(path).nodes


def test_every_verb_says_what_it_does(capsys):
    for verb in ("undo", "redo", "split", "merge", "delete", "copy"):
        assert main([verb, "--help"]) == 0
        shown = capsys.readouterr().out
        assert "SESSION" in shown and "--json" in shown


def test_undo_steps_stop_at_a_step_that_cannot_be_undone_and_say_why(tmp_path, capsys):
    path = _file(tmp_path)
    assert main(["split", path, "--node", "gen1", "--at", "5"]) == 0
    assert main(["delete", path, "--node", "gen2"]) == 0
    session = load_session(path)
    session.node("gen1").label = "changed elsewhere"  # the split's node, edited by hand
    save_session(session, path)
    capsys.readouterr()
    assert main(["undo", path, "--steps", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "undid: delete gen2"
    assert "stopped after 1: cannot undo split gen1 at 5: node gen1 changed since" in err
    assert err.count("\n") == 1
