"""Which branches an export writes (this branch, every leaf under a point, every leaf of the
tree), the labels on each branch, and who made each segment (model, pick, edit, import)."""

from __future__ import annotations

import json

import pytest
from loomtests.ui import demo_session

from loomtui.cli import main
from loomtui.core.export import branch_nodes, export, true_origin
from loomtui.core.sessionfile import save_session
from loomtui.engine import Engine


@pytest.fixture
def grown():
    """Four leaves: gen1 split by a top-k pick, gen2 split by a typed edit; a label on the
    prompt (an inner node) and one on a leaf."""
    session = demo_session()
    engine = Engine(session, None)
    alt = session.node("gen1").tokens[3].top[2]
    pick = engine.pick("gen1", 3, alt)
    edit = engine.add("gen2", 4, plain=" by hand", origin="edit")
    engine.set_label("prompt", "the opening")
    engine.set_label(edit.id, "mine")
    session.goto(session.descend("gen1").id)
    return session, pick, edit


def test_scopes(grown):
    session, pick, edit = grown
    leaf = session.current_id
    assert [n.id for n in branch_nodes(session, leaf, scope="branch")] == [leaf]
    assert [n.id for n in branch_nodes(session, leaf, scope="under")] == [leaf]
    assert len(branch_nodes(session, leaf, scope="tree")) == 4
    assert len(branch_nodes(session, "gen1", scope="under")) == 2
    with pytest.raises(ValueError, match="unknown export scope"):
        branch_nodes(session, leaf, scope="everything")
    # Without a scope, the CLI's meaning: --all is the tree, --all --node X is under X.
    assert len(branch_nodes(session, None, all_leaves=True)) == 4
    assert len(branch_nodes(session, "gen1", all_leaves=True)) == 2
    assert [n.id for n in branch_nodes(session, leaf)] == [leaf]


def test_true_origins(grown):
    session, pick, edit = grown
    assert true_origin(pick) == "pick"
    assert true_origin(edit) == "edit"
    assert true_origin(session.node("gen2")) == "model"
    assert true_origin(session.node("prompt")) == "prompt"


def test_every_format_keeps_labels_and_origins(grown):
    session, pick, edit = grown
    records = [
        json.loads(line) for line in export(session, "jsonl", scope="tree").decode().splitlines()
    ]
    by_node = {r["node"]: r for r in records}
    assert by_node[pick.id]["origins"] == ["prompt", "prompt", "model", "pick"]
    assert by_node[edit.id]["origins"][-1] == "edit"
    assert by_node[edit.id]["labels"] == {"prompt": "the opening", edit.id: "mine"}
    assert by_node[edit.id]["label"] == "mine"
    assert all(r["labels"]["prompt"] == "the opening" for r in records)

    md = export(session, "markdown", pick.id).decode()
    assert "**you (pick, rank 3)**" in md and "you (edit)" not in md
    assert "*(label: the opening)*" in md
    md_edit = export(session, "markdown", edit.id).decode()
    assert "**you (edit)**" in md_edit and f"## Branch `{edit.id}` - mine" in md_edit

    text = export(session, "text", scope="tree").decode()
    assert text.count("--- node ") == 4
    assert f"--- node {edit.id}: the opening / mine ---" in text
    # One branch is still its bytes exactly, labels or not.
    assert export(session, "text", edit.id) == session.branch_bytes(edit.id)


def test_the_verb_writes_what_the_app_writes(grown, tmp_path, capsysbinary):
    session, pick, edit = grown
    path = tmp_path / "s.json"
    save_session(session, path)
    assert main(["export", str(path), "--all", "--format", "jsonl"]) == 0
    got = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    want = [json.loads(line) for line in export(session, "jsonl", scope="tree").splitlines()]
    keys = ("node", "text", "origins", "labels", "nodes")
    assert [[r.get(k) for k in keys] for r in got] == [[r.get(k) for k in keys] for r in want]
