"""One way in: every change the app, verbs and instruments make is an Engine method that
ends in exactly one save notification."""

from __future__ import annotations

import pytest

from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.engine import Engine


@pytest.fixture
def engine_and_saves():
    session = Session.new("Hello")
    saves: list[Session] = []
    return Engine(session, None, on_change=saves.append), saves


def _toks(text: str) -> list[Token]:
    return [Token(c, c.encode(), ord(c), -1.0) for c in text]


def test_each_change_saves_once(engine_and_saves):
    engine, saves = engine_and_saves
    s = engine.session
    node = engine.add(s.current_id, tokens=_toks(" world"), origin="model", finish_reason="inserted")
    assert len(saves) == 1 and s.current_id == node.id
    head = engine.split(node.id, 3)
    assert len(saves) == 2 and head.id == node.id and len(head) == 3
    engine.split(node.id, 3)  # already a boundary: nothing changes, nothing saved
    assert len(saves) == 2
    engine.set_bookmark(node.id, True)
    engine.set_label(node.id, "  a label ")
    assert s.node(node.id).bookmark and s.node(node.id).label == "a label" and len(saves) == 4
    edited = engine.edit_branch(node.id, "Hello wo, friend")
    assert len(saves) == 5 and s.branch_text(edited.id) == "Hello wo, friend"
    engine.edit_branch(edited.id, "Hello wo, friend")  # no change: no save
    assert len(saves) == 5
    engine.delete(edited.id)
    assert edited.id not in s and len(saves) == 6
    engine.save()
    assert len(saves) == 7


def test_scores_are_applied_by_the_owner_and_only_when_they_spell_the_text(engine_and_saves):
    engine, saves = engine_and_saves
    s = engine.session
    plain = engine.add(s.current_id, plain=" there", origin="edit")
    other = engine.add(s.current_id, plain=" you", origin="edit", goto=False)
    saves.clear()
    count = engine.apply_scores(
        [(plain.id, _toks(" there"), "m"), (other.id, _toks(" YOU"), "m"), ("gone", _toks("x"), "m")]
    )
    assert count == 1 and len(saves) == 1
    assert s.node(plain.id).tokens and s.node(plain.id).model == "m"
    assert s.node(other.id).tokens is None  # tokens that do not spell the text are refused
    assert engine.apply_scores([(plain.id, _toks(" there"), "m")]) == 0 and len(saves) == 1


def test_graft_copies_what_a_worker_grew_on_a_copy(engine_and_saves):
    import copy

    engine, saves = engine_and_saves
    s = engine.session
    copied = copy.deepcopy(s)
    grown = copied.add_child(copied.current_id, tokens=_toks(" new"), origin="model",
                             meta={"replay_of": ["x"]})
    child = copied.add_child(grown.id, plain=" child", origin="edit")
    out = engine.graft(copied, [grown.id, child.id])
    assert [n.id for n in out] == [grown.id, child.id] and len(saves) == 1
    assert s.branch_text(child.id) == "Hello new child"
    assert s.node(grown.id).meta == {"replay_of": ["x"]}
    assert s.node(grown.id).tokens is not copied.node(grown.id).tokens  # a copy, not shared
    engine.delete(grown.id)  # the parent is gone here: its children are skipped
    assert engine.graft(copied, [child.id]) == []
