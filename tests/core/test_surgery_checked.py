"""Split and merge keep the way down a person last went (``Node.checked``): after a split the
new tail node holds the children and the child they were reached by, after a merge the
parent does; going up and back down returns where the person was, and undo/redo (also after
a save and reopen) put every remembered child back exactly."""

from __future__ import annotations

from loomtests.ui import demo_session
from loomtests.words import WordsBackend

from loomtui.core.sessionfile import dumps_session
from loomtui.core.store import SessionStore
from loomtui.core.tree import Session
from loomtui.engine import Engine


def _remembering() -> tuple[Engine, list[str]]:
    """The demo tree with a third child under the prompt, the person having gone to gen1
    (not the newest child): each node above remembers that way down."""
    engine = Engine(demo_session(), WordsBackend())
    engine.keep_history()
    s = engine.session
    newest = s.add_child("prompt", plain=" newest", origin="edit")
    newest.created = 99.0
    s.goto("gen1")
    assert s.node("prompt").checked == "gen1"
    assert s.descend("root").id == "gen1"  # not the newest: the one gone to
    return engine, ["gen1", "gen2", newest.id]


def _checked(s: Session) -> dict[str, str | None]:
    return {nid: n.checked for nid, n in s.nodes.items()}


def test_split_above_a_branch_point_carries_the_remembered_child_to_the_tail():
    engine, kids = _remembering()
    s = engine.session
    engine.split("prompt", 4)  # "Once" | " upon a time": the tail takes the three children
    tail = s.node(s.node("prompt").children[0])
    assert tail.children == kids
    assert tail.checked == "gen1"
    assert s.node("prompt").checked == tail.id
    s.goto("root")
    assert s.descend("root").id == "gen1"  # down again: where the person was
    assert s.descend("prompt").id == "gen1"


def test_a_generation_inside_a_node_keeps_the_way_down_below_it():
    """Generating from the middle of the prompt splits it too (the app's ctrl+g at a cursor)."""
    engine, _ = _remembering()
    s = engine.session
    engine.session.goto("root")
    new = s.add_generation("prompt", 4)
    tail = [c for c in s.node("prompt").children if c != new.id][0]
    assert s.node(tail).checked == "gen1"
    assert s.descend(tail).id == "gen1"


def test_undo_and_redo_of_a_split_restore_every_remembered_child():
    engine, _ = _remembering()
    s = engine.session
    before, checked_before = dumps_session(s), _checked(s)
    engine.split("prompt", 4)
    after, checked_after = dumps_session(s), _checked(s)
    engine.undo()
    assert dumps_session(s) == before and _checked(s) == checked_before
    engine.redo()
    assert dumps_session(s) == after and _checked(s) == checked_after


def test_merge_gives_the_parent_the_child_the_merged_node_remembered():
    engine, _ = _remembering()
    s = engine.session
    a = engine.add("gen1", None, plain=" a", origin="edit", goto=False)
    b = engine.add("gen1", None, plain=" b", origin="edit", goto=False)
    a.created, b.created = 50.0, 60.0
    tail = engine.split("gen1", 5).children[0]  # gen1 | tail, the tail holds a and b
    s.goto(a.id)  # gone to a, the older one
    assert s.node(tail).checked == a.id
    engine.merge(tail)
    assert s.node("gen1").children == [a.id, b.id]
    assert s.node("gen1").checked == a.id
    s.goto("root")
    assert s.descend("root").id == a.id


def test_merge_with_siblings_keeps_the_way_down_through_the_one_moved_up():
    engine, _ = _remembering()
    s = engine.session
    tail = engine.split("gen1", 5).children[0]  # gen1 | tail (both a model's tokens)
    toks = s.node("gen2").tokens
    x, y, z = (engine.add(tail, None, tokens=toks[i : i + 2], goto=False) for i in (0, 3, 6))
    s.goto(y.id)  # the way down: gen1 > tail > y
    assert s.node("gen1").checked == tail and s.node(tail).checked == y.id
    before, checked_before = dumps_session(s), _checked(s)
    # Merging x into the tail moves y and z up beside it, each starting with the tail's
    # tokens: the person's branch is now gen1 > y.
    engine.merge(x.id, siblings=True)
    assert s.node(y.id).parent == "gen1"
    assert s.node("gen1").checked == y.id
    assert s.descend("root").id == y.id
    engine.undo()
    assert dumps_session(s) == before and _checked(s) == checked_before


def test_split_undone_after_a_save_and_reopen_restores_the_remembered_child(tmp_path):
    path = tmp_path / "s.json"
    made, _ = _remembering()
    store = SessionStore.create(path, made.session)
    engine = Engine.over(store, WordsBackend())
    engine.split("prompt", 4)
    split_bytes = dumps_session(engine.session)
    store.close()

    reopened = SessionStore.open(path)
    again = Engine.over(reopened, WordsBackend())
    assert dumps_session(again.session) == split_bytes
    tail = again.session.node(again.session.node("prompt").children[0])
    assert tail.checked == "gen1"
    again.undo()
    assert again.session.node("prompt").checked == "gen1"
    assert again.session.descend("root").id == "gen1"
    again.redo()
    assert dumps_session(again.session) == split_bytes
    reopened.close()


def test_an_edit_inside_a_node_is_where_going_back_down_returns():
    """The split an edit makes gives the head the tail, but the person is on the edit."""
    engine, _ = _remembering()
    s = engine.session
    edited = engine.edit_branch("gen1", s.branch_text("gen1")[:22] + " and then")
    head = s.node(edited.parent)
    assert len(head.children) == 2 and head.checked == edited.id
    assert s.descend(head.id).id == edited.id
    assert s.descend("root").id == edited.id


def test_a_copied_branch_remembers_the_copies_of_the_children_gone_to():
    engine, _ = _remembering()
    s = engine.session
    a = engine.add("gen1", None, plain=" a", origin="edit", goto=False)
    b = engine.add("gen1", None, plain=" b", origin="edit", goto=False)
    a.created, b.created = 50.0, 60.0
    s.goto(a.id)  # gen1 remembers a (not the newest)
    copy = engine.copy_branch("gen1")
    kids = s.children(copy.id)
    assert [k.plain for k in kids] == [" a", " b"]
    assert copy.checked == kids[0].id  # the copy of a, not a itself (not a child here)
    assert s.descend(copy.id).id == kids[0].id
    assert all(n.checked is None or n.checked in n.children for n in s.nodes.values())
