"""Chat turns on the tree: roles recorded, inferred for older chat files, kept by the file,
the journal and every tree operation."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.core.errors import SessionFileError
from loomtui.core.journal import apply_records
from loomtui.core.sessionfile import dumps_session, load_session, loads_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session

EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "are-bugs-real.json"


def tok(text: str, tid: int) -> Token:
    return Token(text, text.encode(), tid, -0.5, (), 1.0)


def chat_session() -> tuple[Session, str, str]:
    s = Session.new()
    user = s.add_child(s.root_id, plain="What is the capital of France?", role="user")
    reply = s.add_generation(user.id, settings={"chat": True}, model="m", role="assistant")
    s.append_tokens(reply.id, [tok("The", 1), tok(" capital", 2), tok(" is", 3), tok(" Paris", 4)])
    return s, user.id, reply.id


def test_turns_join_nodes_of_one_role_and_split_keeps_the_role() -> None:
    s, user, reply = chat_session()
    head = s.split(reply, 2)  # a regeneration point inside the reply
    tail = s.node(head.children[0])
    assert tail.role == "assistant" and head.role == "assistant"
    assert s.turns(tail.id) == [
        ("user", "What is the capital of France?"),
        ("assistant", "The capital is Paris"),
    ]
    # An edit inside the reply is the assistant's own turn.
    edited = s.edit(head.id, 2, " of France")
    assert edited.role == "assistant"
    assert s.turns(edited.id)[-1] == ("assistant", "The capital of France")


def test_new_user_turn_is_a_separate_message() -> None:
    s, _, reply = chat_session()
    q2 = s.add_child(reply, plain="And of Spain?", role="user")
    assert [r for r, _ in s.turns(q2.id)] == ["user", "assistant", "user"]


def test_role_is_written_only_when_set_and_round_trips() -> None:
    s, _, reply = chat_session()
    data = dumps_session(s)
    assert b'"role":"assistant"' in data.replace(b" ", b"")
    back = loads_session(data)
    assert back.node(reply).role == "assistant"
    plain = Session.new("Once upon a time")
    assert b'"role"' not in dumps_session(plain)


def test_unknown_role_in_a_file_is_refused() -> None:
    s, _, _ = chat_session()
    bad = dumps_session(s).replace(b'"assistant"', b'"wizard"')
    with pytest.raises(SessionFileError, match="unknown role"):
        loads_session(bad)


def test_old_chat_file_gets_roles_inferred_and_saves_byte_identically() -> None:
    raw = EXAMPLE.read_bytes()
    s = loads_session(raw)
    assert all(n.role is None for n in s.nodes.values())  # nothing written by inference
    assert s.is_chat()
    turns = s.turns(s.current_id)
    assert turns[0] == ("user", "Are bugs real?")
    assert turns[1][0] == "assistant" and turns[1][1].startswith("The quandary")
    assert dumps_session(s) == raw


def test_completion_session_has_no_roles() -> None:
    s = Session.new("Once upon a time")
    gen = s.add_generation(s.current_id, settings={"chat": False})
    s.append_tokens(gen.id, [tok(" there", 1)])
    assert not s.is_chat()
    assert s.role(gen.id) is None
    assert s.turns(gen.id) == [("user", "Once upon a time there")]


def test_journal_records_carry_the_role(tmp_path: Path) -> None:
    from loomtui.core.store import SessionStore

    path = tmp_path / "chat.json"
    s, _, reply = chat_session()
    path.write_bytes(dumps_session(s))
    store = SessionStore.open(path)
    try:
        node = store.session.add_child(reply, plain="Thanks!", role="user")
        store.autosave(store.session)
        rec = store._node_record(node, known=False)
        assert rec["role"] == "user"
        fresh = load_session(path)
        apply_records(fresh, [rec])
        assert fresh.node(node.id).role == "user"
    finally:
        store.close()


def test_exports_show_the_turns_and_text_stays_the_exact_concatenation() -> None:
    import json

    from loomtui.core.export import export

    s, _, reply = chat_session()
    q2 = s.add_child(reply, plain="And of Spain?", role="user")
    md = export(s, "markdown", q2.id).decode()
    assert md.index("### user") < md.index("### assistant") < md.rindex("### user")
    assert md.count("### ") == 3
    record = json.loads(export(s, "jsonl", q2.id))
    assert record["messages"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital is Paris"},
        {"role": "user", "content": "And of Spain?"},
    ]
    assert export(s, "text", q2.id) == s.branch_bytes(q2.id)
    # A completion session's exports are as before: no role lines, no messages.
    plain = Session.new("Once upon a time")
    assert "###" not in export(plain, "markdown").decode()
    assert "messages" not in json.loads(export(plain, "jsonl"))


def test_an_old_chat_session_reopens_in_chat_mode() -> None:
    s = loads_session(EXAMPLE.read_bytes())
    assert s.chosen_settings() == {"chat": True}
    s.choose_settings({"chat": False, "n": 2})  # chosen by hand: kept as chosen
    assert s.chosen_settings() == {"chat": False, "n": 2}
    assert Session.new("Once").chosen_settings() is None
