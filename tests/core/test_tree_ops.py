"""The session tree's operations, as a person exploring branches would notice them."""

from __future__ import annotations

import pytest

from loomtui.core.tokens import Token
from loomtui.core.tree import Session, TreeError


def _tok(text: str, lp: float = -1.0) -> Token:
    return Token(text, text.encode(), None, lp)


@pytest.fixture
def session() -> Session:
    s = Session.new("Once upon")
    gen = s.add_generation(s.current_id)
    s.append_tokens(gen.id, [_tok(" a"), _tok(" time"), _tok(",")])
    s.goto(gen.id)
    return s


def test_branch_text_joins_prompt_and_tokens(session: Session) -> None:
    assert session.branch_text(session.current_id) == "Once upon a time,"


def test_generation_inside_a_node_splits_it_and_keeps_the_original(session: Session) -> None:
    gen_id = session.current_id
    new = session.add_generation(gen_id, 1)  # after " a"
    session.append_tokens(new.id, [_tok(" dog")])
    assert session.branch_text(new.id) == "Once upon a dog"
    # The original continuation is still there, as a sibling of the new one.
    sibs = session.siblings(new.id)
    assert [session.branch_text(n.id) for n in sibs] == ["Once upon a time,", "Once upon a dog"]
    assert session.node(gen_id).tokens == [_tok(" a")]


def test_split_at_offset_zero_and_end(session: Session) -> None:
    gen = session.current
    assert session.split(gen.id, len(gen)) is gen
    assert session.split(gen.id, 0).id == gen.parent
    with pytest.raises(TreeError):
        session.split(gen.id, 99)


def test_edit_makes_a_sibling_and_keeps_the_original(session: Session) -> None:
    original = session.branch_text(session.current_id)
    edited = session.edit_branch(session.current_id, "Once upon a midnight dreary")
    assert session.branch_text(edited.id) == "Once upon a midnight dreary"
    assert edited.origin == "edit"
    texts = sorted(session.branch_text(leaf.id) for leaf in session.leaves())
    assert texts == sorted([original, "Once upon a midnight dreary"])


def test_navigation_parent_children_siblings(session: Session) -> None:
    gen = session.current
    a = session.add_child(gen.parent, plain=" X")
    b = session.add_child(gen.parent, plain=" Y")
    assert [n.id for n in session.siblings(gen.id)] == [gen.id, a.id, b.id]
    assert session.sibling(gen.id, 1) is a
    assert session.sibling(gen.id, -1) is b  # wraps around
    assert session.parent(a.id).id == gen.parent
    assert [n.id for n in session.children(gen.parent)] == [gen.id, a.id, b.id]


def test_delete_subtree_including_current_moves_current_to_parent(session: Session) -> None:
    gen = session.current
    parent_id = gen.parent
    session.add_child(gen.id, plain=" more")
    before = len(session.nodes)
    session.delete(gen.id)
    assert len(session.nodes) == before - 2
    assert session.current_id == parent_id
    assert gen.id not in session.node(parent_id).children
    with pytest.raises(TreeError):
        session.delete(session.root_id)


def test_bookmark_and_label(session: Session) -> None:
    session.set_bookmark(session.current_id)
    session.set_label(session.current_id, "the good one")
    assert [n.id for n in session.bookmarks()] == [session.current_id]
    assert session.current.label == "the good one"


def test_stats_counts_a_deep_chain_quickly() -> None:
    s = Session.new("x")
    nid = s.current_id
    for _ in range(20_000):  # O(n) stats: a quadratic depth scan would take minutes
        nid = s.add_child(nid, tokens=[_tok("y")], model="m").id
    stats = s.stats()
    assert stats["depth"] == 20_001
    assert stats["tokens"] == 20_000
    assert stats["leaves"] == 1
    assert stats["models"] == ["m"]
