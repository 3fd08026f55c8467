"""The session file: round trips, byte-exact text, atomic saves, versions, validation."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loomtui.core import sessionfile
from loomtui.core.errors import SessionFileError
from loomtui.core.sessionfile import (
    dumps_session,
    load_session,
    loads_session,
    save_session,
    session_from_dict,
    session_to_dict,
)
from loomtui.core.tokens import DIST_SAMPLING, Alt, Token
from loomtui.core.tree import Session

SCHEMA = Path(sessionfile.__file__).with_name("session.schema.json")


def rich_session() -> Session:
    """A session exercising every field the file keeps."""
    s = Session.new("Tell me a story:\n", title="demo")
    gen = s.add_generation(
        s.current_id, settings={"temperature": 0.7, "top_p": 0.9}, model="smol", backend="local"
    )
    alts = (Alt(" Once", b" Once", 5, -0.25), Alt(" The", b" The", 6, -1.75))
    s.append_tokens(
        gen.id,
        [
            Token(" Once", b" Once", 5, -0.25, alts, 2.5),
            Token(
                "\ufffd", b"\xe2", 7, -3.0, (Alt("\ufffd", b"\xe2", 7, -3.0),), None, DIST_SAMPLING
            ),
            Token("\ufffd", b"\x80\xa6", 8, None),
        ],
    )
    gen.finish_reason = "length"
    failed = s.add_child(s.current_id, tokens=[], origin="model", model="smol")
    failed.error = "server said no"
    s.set_bookmark(gen.id)
    s.set_label(gen.id, "ellipsis")
    s.goto(gen.id)
    gen.meta["note"] = {"nested": [1, 2.5, None, "x"]}
    return s


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    s = rich_session()
    path = tmp_path / "s.json"
    save_session(s, path)
    back = load_session(path)
    assert back.root_id == s.root_id and back.current_id == s.current_id
    assert back.meta == s.meta
    for nid, node in s.nodes.items():
        got = back.node(nid)
        for field in (
            "parent",
            "children",
            "origin",
            "plain",
            "settings",
            "model",
            "backend",
            "created",
            "modified",
            "bookmark",
            "label",
            "visited",
            "finish_reason",
            "error",
            "meta",
        ):
            assert getattr(got, field) == getattr(node, field), (nid, field)
        assert got.tokens == node.tokens
    # A character split across two tokens comes out whole in the branch text.
    assert back.branch_text(back.current_id) == "Tell me a story:\n Once\u2026"


def test_load_then_save_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_session(rich_session(), path)
    first = path.read_bytes()
    save_session(load_session(path), path)
    assert path.read_bytes() == first
    # ... and again after the lazily loaded top-k lists have been looked at.
    again = load_session(path)
    for node in again.nodes.values():
        for tok in node.tokens or ():
            list(tok.top)
    assert dumps_session(again) == first


def test_saved_file_matches_the_json_schema(tmp_path: Path) -> None:
    import jsonschema  # a test dependency: the schema is always checked

    data = json.loads(dumps_session(rich_session()))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def test_files_written_before_validate_and_save_byte_identically() -> None:
    """The packaged examples were written by an earlier loomtui: the format is unchanged."""
    import jsonschema

    from loomtui.core import resources

    schema = json.loads(SCHEMA.read_text())
    names = resources.list_examples()
    assert len(names) >= 2
    for name in names:
        path = resources.example_path(name)
        raw = path.read_bytes()
        jsonschema.validate(json.loads(raw), schema, cls=jsonschema.Draft202012Validator)
        assert dumps_session(load_session(path)) == raw, name


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_session(rich_session(), path)
    old = path.read_bytes()
    bad = rich_session()
    bad.meta["oops"] = math.nan  # cannot be written as JSON
    with pytest.raises(SessionFileError):
        save_session(bad, path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_newer_schema_is_refused_and_file_untouched(tmp_path: Path) -> None:
    data = session_to_dict(rich_session())
    data["schema_version"] = sessionfile.SCHEMA_VERSION + 1
    path = tmp_path / "new.json"
    path.write_text(json.dumps(data))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(SessionFileError, match="newer loomtui"):
        load_session(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_older_schema_is_migrated(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a version 2 and a 1 -> 2 migration registered, a version 1 file still opens."""
    old = session_to_dict(rich_session())

    def one_to_two(d: dict) -> dict:
        d["meta"] = {**d["meta"], "migrated": True}
        return d

    monkeypatch.setattr(sessionfile, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(sessionfile.MIGRATIONS, 1, one_to_two)
    s = session_from_dict(json.loads(json.dumps(old)))
    assert s.meta["migrated"] is True
    assert json.loads(dumps_session(s))["schema_version"] == 2


def test_huge_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (2 << 20))
    monkeypatch.setenv("LOOMTUI_MAX_SESSION_MB", "1")
    with pytest.raises(SessionFileError, match="too large"):
        load_session(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SessionFileError, match="no such file"):
        load_session(tmp_path / "nope.json")
    with pytest.raises(SessionFileError, match="directory"):
        load_session(tmp_path)


def test_neg_infinity_logprob_is_stored_as_a_floor() -> None:
    s = Session.new("x")
    s.add_child(
        s.current_id, tokens=[Token("a", b"a", 1, -math.inf, (Alt("b", b"b", 2, -math.inf),))]
    )
    back = loads_session(dumps_session(s))
    tok = next(n for n in back.nodes.values() if n.tokens).tokens[0]
    assert tok.logprob <= -1e5 and tok.top[0].logprob <= -1e5
    assert math.exp(tok.logprob) == 0.0


# ------------------------------------------------------------------ property tests
_texts = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()),
    max_size=12,
) | st.sampled_from(
    [
        "\x1b[31m",
        "[bold]x[/]",
        "\u202eevil",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\ud800",
        "\udfff lone",
        "\x00\x07\r\n",
        "\ufeff",
    ]
)


def _text_of(text: str, raw: bytes) -> str:
    """The text a token with these bytes has: their decoding when they are whole UTF-8 (the
    loader derives it so, as show and export must agree), else any label."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


@st.composite
def _tokens(draw) -> Token:
    text = draw(_texts)
    raw = draw(st.binary(max_size=8) | st.just(text.encode("utf-8", "surrogatepass")))
    tid = draw(st.none() | st.integers(0, 1 << 32))
    lp = draw(st.none() | st.floats(-50, 0))
    top = draw(
        st.lists(
            st.tuples(
                _texts, st.binary(max_size=4), st.none() | st.integers(0, 99999), st.floats(-50, 0)
            ),
            max_size=3,
        )
    )
    alts = tuple(Alt(_text_of(t, b), b, i, lp_) for t, b, i, lp_ in top)
    return Token(_text_of(text, raw), raw, tid, lp, alts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens=st.lists(_tokens(), max_size=6), plain=_texts)
def test_any_token_text_and_bytes_round_trip_byte_exact(tokens: list[Token], plain: str) -> None:
    s = Session.new(plain or "p")
    node = s.add_child(s.current_id, tokens=tokens)
    first = dumps_session(s)
    back = loads_session(first)
    got = back.node(node.id)
    assert [t.text for t in got.tokens] == [t.text for t in tokens]
    assert [t.bytes for t in got.tokens] == [t.bytes for t in tokens]
    assert [t.token_id for t in got.tokens] == [t.token_id for t in tokens]
    for a, b in zip(got.tokens, tokens, strict=True):
        assert [(x.text, x.bytes, x.token_id) for x in a.top] == [
            (x.text, x.bytes, x.token_id) for x in b.top
        ]
        if b.logprob is not None:
            assert a.logprob == pytest.approx(b.logprob, abs=1e-6)
    assert back.branch_bytes(node.id) == s.branch_bytes(node.id)
    assert back.node(s.current_id).plain == s.node(s.current_id).plain
    assert dumps_session(back) == first


_VALID = dumps_session(rich_session())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzzed_files_give_a_session_or_a_session_file_error(data) -> None:
    raw = bytearray(_VALID)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos:]
        elif op == "insert":
            raw[pos:pos] = data.draw(
                st.sampled_from(
                    [
                        b"[",
                        b"{",
                        b'"',
                        b",",
                        b"null",
                        b"-1e999",
                        b"NaN",
                        b"9" * 40,
                        b"\xff",
                        b'"x"',
                        b"]}",
                    ]
                )
            )
        elif raw:
            del raw[pos : pos + data.draw(st.integers(1, 20))]
    try:
        s = loads_session(bytes(raw), "fuzz.json")
    except SessionFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.json: ")
        return
    # Whatever loaded is a usable tree.
    for leaf in s.leaves():
        s.branch_bytes(leaf.id)
    s.stats()
    dumps_session(s)


def test_structured_mutations_of_a_valid_dict() -> None:
    """Every field replaced with a wrong type gives one clean error line, never a crash."""
    base = json.loads(_VALID)
    wrong = [None, 0, -1, 1.5, "x", [], {}, [None], {"a": 1}, True, 10**30]
    count = 0
    for i, node in enumerate(base["nodes"]):
        for key in list(node) + ["tokens"]:
            for value in wrong:
                d = json.loads(_VALID)
                d["nodes"][i][key] = value
                count += 1
                try:
                    session_from_dict(d, "m.json")
                except SessionFileError as exc:
                    assert "\n" not in str(exc)
    for key in list(base):
        for value in wrong:
            d = json.loads(_VALID)
            d[key] = value
            try:
                session_from_dict(d, "m.json")
            except SessionFileError:
                pass
    assert count > 100


def test_saving_never_touches_an_unrelated_file(tmp_path: Path) -> None:
    """Loading a file never writes to it, even when it is valid."""
    path = tmp_path / "s.json"
    save_session(rich_session(), path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    load_session(path)
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_edits_after_loading_are_saved(tmp_path: Path) -> None:
    """Mixing lazily loaded top-k lists with new and changed ones keeps each at its token."""
    path = tmp_path / "s.json"
    s = Session.new("p")
    toks = [
        Token(f"t{i}", f"t{i}".encode(), i, -0.5, (Alt(f"a{i}", f"a{i}".encode(), 100 + i, -1.0),))
        for i in range(6)
    ]
    gen = s.add_child(s.current_id, tokens=toks)
    save_session(s, path)
    back = load_session(path)
    node = back.node(gen.id)
    node.tokens[2].top = (Alt("new", b"new", 999, -0.125),)
    list(node.tokens[4].top)  # materialised but unchanged
    node.tokens.append(Token("end", b"end", 7, -2.0, (Alt("x", b"x", None, -3.0),)))
    save_session(back, path)
    again = load_session(path).node(gen.id)
    got = [[(a.text, a.token_id, a.logprob) for a in t.top] for t in again.tokens]
    assert got == [[(f"a{i}", 100 + i, -1.0)] for i in (0, 1)] + [[("new", 999, -0.125)]] + [
        [(f"a{i}", 100 + i, -1.0)] for i in (3, 4, 5)
    ] + [[("x", None, -3.0)]]


def test_deep_chain_round_trips(tmp_path: Path) -> None:
    s = Session.new("x")
    nid = s.current_id
    for i in range(5000):
        nid = s.add_child(nid, plain=str(i % 10)).id
    s.goto(nid)
    path = tmp_path / "deep.json"
    save_session(s, path)
    back = load_session(path)
    assert back.branch_text(nid) == s.branch_text(nid)
    assert dumps_session(back) == path.read_bytes()
