"""Ratings and checked-out children on the tree: set through the engine (saved), kept by the
file and the journal, refused when malformed; going back down follows the child last gone
to."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.core.errors import SessionFileError
from loomtui.core.journal import apply_records, read_journal
from loomtui.core.ratings import RatingError, check_rating, parse_rating, rating_key
from loomtui.core.sessionfile import dumps_session, load_session, loads_session
from loomtui.core.store import SessionStore
from loomtui.core.tree import Session
from loomtui.engine import Engine


def three_children() -> tuple[Session, str, list[str]]:
    s = Session.new("Once upon a time")
    prompt = s.current_id
    kids = []
    for i, text in enumerate((" there", " a cat", " the end")):
        node = s.add_child(prompt, plain=text, origin="edit")
        node.created = 10.0 + i  # the last is the newest
        kids.append(node.id)
    return s, prompt, kids


def test_going_up_and_down_returns_to_the_child_gone_to_not_the_newest():
    s, prompt, kids = three_children()
    assert s.descend(prompt).id == kids[2]  # nothing checked out yet: the newest
    s.goto(kids[0])
    assert s.node(prompt).checked == kids[0]
    assert s.node(s.root_id).checked == prompt
    s.goto(prompt)
    assert s.descend(prompt).id == kids[0]
    deeper = s.add_child(kids[1], plain=" sat", origin="edit")
    s.goto(deeper.id)  # every node above remembers the way down
    assert s.node(kids[1]).checked == deeper.id and s.node(prompt).checked == kids[1]
    assert s.descend(s.root_id).id == deeper.id
    s.delete(kids[1])  # a remembered child that is gone: the newest again
    assert s.descend(prompt).id == kids[2]


def test_engine_checkout_saves_only_when_a_remembered_child_changes():
    s, prompt, kids = three_children()
    saves: list[int] = []
    engine = Engine(s, None, on_change=lambda _: saves.append(1))
    engine.checkout(kids[1])
    assert s.current_id == kids[1] and len(saves) == 1
    engine.checkout(prompt)  # up along the same branch: nothing new to remember
    assert s.current_id == prompt and len(saves) == 1
    engine.checkout(kids[1])
    assert len(saves) == 1
    engine.checkout(kids[2])
    assert len(saves) == 2


def test_rating_through_the_engine_is_checked_and_saved():
    s, _, kids = three_children()
    saves: list[int] = []
    engine = Engine(s, None, on_change=lambda _: saves.append(1))
    engine.set_rating(kids[0], 1)
    engine.set_rating(kids[1], -1)
    assert [s.node(k).rating for k in kids] == [1, -1, None] and len(saves) == 2
    for bad in (2, True, "1", 0.5):
        with pytest.raises(RatingError):
            engine.set_rating(kids[2], bad)  # type: ignore[arg-type]
    assert len(saves) == 2
    engine.set_rating(kids[0], None)
    assert s.node(kids[0]).rating is None
    engine.set_rating(kids[2], 1)
    ordered = sorted((s.node(k) for k in kids), key=rating_key)  # best first, unrated last
    assert [n.id for n in ordered] == [kids[2], kids[1], kids[0]]


def test_parse_rating_reads_what_a_person_types():
    assert [parse_rating(t) for t in ("+1", "1", "good", "0", "meh", "-1", "bad", "none")] == [
        1, 1, 1, 0, 0, -1, -1, None,
    ]  # fmt: skip
    with pytest.raises(RatingError, match="-1, 0 or \\+1"):
        parse_rating("5")
    assert check_rating(0) == 0


def test_rating_and_checked_are_written_only_when_set_and_round_trip_byte_identically():
    s, prompt, kids = three_children()
    plain = dumps_session(s)
    assert b'"rating"' not in plain and b'"checked"' not in plain
    s.node(kids[1]).rating = -1
    s.node(kids[2]).rating = 1
    s.goto(kids[1])
    data = dumps_session(s)
    back = loads_session(data)
    assert back.node(kids[1]).rating == -1 and back.node(kids[2]).rating == 1
    assert back.node(prompt).checked == kids[1]
    assert dumps_session(back) == data


@pytest.mark.parametrize(
    ("field", "value"), [("rating", "5"), ("rating", "true"), ("rating", '"+1"'), ("checked", "7")]
)
def test_a_malformed_rating_or_checked_in_a_file_is_refused(field, value):
    s, _, kids = three_children()
    s.node(kids[0]).rating = 1
    s.goto(kids[0])
    data = dumps_session(s).decode()
    old = '"rating":1' if field == "rating" else f'"checked":"{kids[0]}"'
    assert old in data
    with pytest.raises(SessionFileError, match=field):
        loads_session(data.replace(old, f'"{field}":{value}', 1).encode())


def test_the_journal_keeps_ratings_and_checked_children(tmp_path: Path):
    path = tmp_path / "s.json"
    s, prompt, kids = three_children()
    path.write_bytes(dumps_session(s))
    store = SessionStore.open(path)
    try:
        store.full_save_budget_s = 0.0  # every change to the journal, as in a big session
        engine = Engine.over(store, None)
        engine.set_rating(kids[2], 0)
        engine.checkout(kids[0])
        records, problem = read_journal(path)
        assert problem is None and records
        fresh = load_session(path)
        assert fresh.node(kids[2]).rating is None  # not in the file yet...
        apply_records(fresh, records)  # ...but in the journal a crash would leave
        assert fresh.node(kids[2]).rating == 0
        assert fresh.node(prompt).checked == kids[0] and fresh.current_id == kids[0]
    finally:
        store.close()
    reopened = load_session(path)
    assert reopened.node(kids[2]).rating == 0 and reopened.descend(prompt).id == kids[0]
