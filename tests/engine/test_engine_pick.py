"""Picking an alternative: a new sibling branch whose token keeps its position's numbers."""

from __future__ import annotations

from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session
from loomtui.engine import Engine


def test_pick_records_the_rank_and_keeps_the_original():
    top = (
        Alt(" cat", b" cat", 1, -0.5),
        Alt(" dog", b" dog", 2, -1.5),
        Alt(" owl", b" owl", 3, -3.0),
    )
    session = Session.new("The")
    gen = session.add_generation(session.current_id)
    session.append_tokens(
        gen.id, [Token(" cat", b" cat", 1, -0.5, top, 1.2), Token("s", b"s", 9, -0.1)]
    )
    engine = Engine(session, None)
    picked = engine.pick(gen.id, 0, top[2])
    assert picked.settings == {"picked_rank": 3}
    assert picked.tokens[0].logprob == -3.0 and picked.tokens[0].entropy == 1.2
    assert sorted(session.branch_text(leaf.id) for leaf in session.leaves()) == [
        "The cats",
        "The owl",
    ]


def _session_with_generation() -> tuple[Session, str, tuple[Alt, ...]]:
    top = (Alt(" cat", b" cat", 1, -0.5), Alt(" dog", b" dog", 2, -1.5))
    session = Session.new("The")
    gen = session.add_generation(session.current_id)
    session.append_tokens(
        gen.id, [Token(" cat", b" cat", 1, -0.5, top, 1.2), Token("s", b"s", 9, -0.1)]
    )
    return session, gen.id, top


def test_a_pick_that_exists_goes_to_the_existing_branch():
    session, gen_id, top = _session_with_generation()
    saves: list[Session] = []
    engine = Engine(session, None, on_change=saves.append)
    first = engine.pick(gen_id, 0, top[1])
    assert len(saves) == 1
    nodes = len(session.nodes)
    again = engine.pick(gen_id, 0, top[1])  # the same alternative once more
    assert again is first and len(session.nodes) == nodes and len(saves) == 1
    assert engine.find_pick(gen_id, 0, top[0]) == (session.node(gen_id), 0)  # the original
    assert engine.find_pick(gen_id, 1, Alt("s", b"s", 9, -0.1)) == (session.node(gen_id), 1)
    assert engine.find_pick(gen_id, 1, Alt("x", b"x", 7, -3.0)) is None
