"""The sampled logprob in the session file and the journal: kept exactly where a token has
one, absent (and the bytes unchanged) where none has."""

from __future__ import annotations

import json
from pathlib import Path

from loomtui.core import sessionfile
from loomtui.core.journal import token_from_record, token_record
from loomtui.core.sessionfile import dumps_session, load_session, save_session
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session

SCHEMA = Path(sessionfile.__file__).with_name("session.schema.json")


def _session(sampled: bool) -> Session:
    s = Session.new("Pick:")
    gen = s.add_generation(
        s.current_id, settings={"temperature": 0.7, "top_p": 0.9}, model="smol", backend="local"
    )
    alts = (Alt(" 4", b" 4", 5, -0.5), Alt(" 7", b" 7", 6, -1.5))
    slp = (-0.125, None, -0.75) if sampled else (None, None, None)
    s.append_tokens(
        gen.id,
        [
            Token(" 4", b" 4", 5, -0.5, alts, 1.25, "raw", slp[0]),
            Token("2", b"2", 9, -2.0, alts, 0.5, "raw", slp[1]),
            Token(".", b".", 3, -0.25, alts, 2.0, "raw", slp[2]),
        ],
    )
    s.goto(gen.id)
    return s


def test_sampled_logprobs_survive_save_and_load(tmp_path: Path) -> None:
    import jsonschema

    s = _session(sampled=True)
    path = tmp_path / "s.json"
    save_session(s, path)
    data = json.loads(path.read_bytes())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()), cls=jsonschema.Draft202012Validator)
    back = load_session(path)
    got = [t.sampling_logprob for t in back.current.tokens]
    assert got == [-0.125, None, -0.75]
    assert [t.logprob for t in back.current.tokens] == [-0.5, -2.0, -0.25]
    assert back.current.tokens == s.current.tokens
    # Saved again: the same bytes.
    assert dumps_session(back) == path.read_bytes()


def test_a_session_without_sampled_logprobs_writes_no_field() -> None:
    with_field = json.loads(dumps_session(_session(sampled=True)))
    without = json.loads(dumps_session(_session(sampled=False)))
    node = [n for n in without["nodes"] if "tokens" in n][0]
    assert "slp" not in node["tokens"]
    node = [n for n in with_field["nodes"] if "tokens" in n][0]
    assert node["tokens"]["slp"] == [-125000, None, -750000]


def test_a_malformed_sampled_logprob_list_is_refused() -> None:
    import pytest

    from loomtui.core.errors import SessionFileError

    data = json.loads(dumps_session(_session(sampled=True)))
    node = [n for n in data["nodes"] if "tokens" in n][0]
    node["tokens"]["slp"] = [1, 2]
    with pytest.raises(SessionFileError, match="slp"):
        sessionfile.session_from_dict(data)


def test_the_journal_keeps_the_sampled_logprob_only_where_there_is_one() -> None:
    tok = Token(" 4", b" 4", 5, -0.5, (Alt(" 4", b" 4", 5, -0.5),), 1.25, "raw", -0.125)
    rec = json.loads(json.dumps(token_record(tok)))
    assert rec["s"] == -0.125
    assert token_from_record(rec) == tok
    plain = Token(" 4", b" 4", 5, -0.5, (), 1.25)
    rec = json.loads(json.dumps(token_record(plain)))
    assert "s" not in rec and token_from_record(rec).sampling_logprob is None
