"""Packed top-k lists (PackedTop, VocabTable) and the session file's paths for them.

Backends hand over top-k lists packed against a vocabulary table; the loader keeps a file's
lists packed; importers and journal replays give tuples of Alt. Whatever the mix, a save
followed by a load must give back exactly the alternatives each token had.
"""

from __future__ import annotations

import json
import math
import random
import threading
from array import array

import numpy as np
import pytest

from loomtui.core.sessionfile import dumps_session, loads_session, session_to_dict
from loomtui.core.tokens import U32, Alt, PackedTop, Token, VocabTable
from loomtui.core.tree import Session


def _rows(n: int, tag: str = "w") -> list[tuple[str, bytes, int]]:
    rows = [(f" {tag}{i}", f" {tag}{i}".encode(), i) for i in range(n)]
    rows[3] = ("\ufffd", b"\xe2\x80", 3)  # a partial UTF-8 token
    return rows


def _packed(rows, ids, lps, code: str = "f") -> PackedTop:
    return PackedTop(rows, array(U32, ids), array(code, lps))


def _f32(x: float) -> float:
    return float(np.float32(x))


def _random_tokens(rows, n: int, k: int, rng: random.Random, packed: bool) -> list[Token]:
    out = []
    for _ in range(n):
        ids = rng.sample(range(len(rows)), k)
        lps = sorted((_f32(-rng.expovariate(0.5)) for _ in range(k)), reverse=True)
        top = (
            _packed(rows, ids, lps)
            if packed
            else tuple(Alt(*rows[i], lp) for i, lp in zip(ids, lps, strict=True))
        )
        text, data, tid = rows[ids[0]]
        out.append(Token(text, data, tid, lps[0], top, rng.uniform(0, 5)))
    return out


def _tops(session: Session) -> list[list[tuple]]:
    return [[tuple(t.top) for t in node.tokens] for node in session.walk() if node.tokens]


def test_packed_top_is_a_sequence_of_alts() -> None:
    rows = _rows(10)
    top = _packed(rows, [4, 3, 9], [-0.5, -1.25, -3.0])
    assert len(top) == 3 and top[0] == Alt(" w4", b" w4", 4, -0.5)
    assert top[1].bytes == b"\xe2\x80" and top[-1].token_id == 9
    assert list(top) == [Alt(*rows[i], lp) for i, lp in ((4, -0.5), (3, -1.25), (9, -3.0))]
    assert top == tuple(top) and tuple(top) == top and top[:2] == tuple(top)[:2]
    assert top != (Alt(" w4", b" w4", 4, -0.5),)
    sliced = PackedTop(rows, array(U32, [1, 2, 4, 3]), array("f", [0, -1, -2, -3]), 1, 3)
    assert [a.token_id for a in sliced] == [2, 4] and len(sliced) == 2
    with pytest.raises(TypeError):
        hash(top)


def test_vocab_table_interns_and_keeps_float64_exact() -> None:
    table = VocabTable()
    a = (Alt("x", b"x", None, -0.1234567890123), Alt("y", b"y", 7, -2.0))
    top = table.pack(a)
    again = table.pack((Alt("y", b"y", 7, -0.5), Alt("x", b"x", None, -1.0)))
    assert tuple(top) == a  # float64: not rounded to float32
    assert len(table) == 2 and list(again.ids) == [1, 0]
    assert table.pack(top) is top


def test_vocab_table_is_safe_across_threads() -> None:
    table = VocabTable()
    made: list[tuple[tuple[Alt, ...], PackedTop]] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            alts = tuple(
                Alt(f"t{v}", f"t{v}".encode(), v, -rng.random()) for v in rng.sample(range(500), 5)
            )
            top = table.pack(alts)
            with lock:
                made.append((alts, top))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(table) == len(set(table)) <= 500
    assert all(tuple(top) == alts for alts, top in made)


@pytest.mark.parametrize("packed", [True, False])
def test_backend_shaped_session_round_trips(packed: bool) -> None:
    rng = random.Random(1)
    rows = _rows(300)
    s = Session.new("prompt")
    parent = s.current_id
    for _ in range(4):
        node = s.add_child(parent, tokens=_random_tokens(rows, 50, 20, rng, packed))
        parent = node.id
    expected = _tops(s)
    back = loads_session(dumps_session(s))
    assert _tops(back) == expected
    # A token's own logprob is kept in micro-nats.
    before = [t.logprob for n in s.walk() if n.tokens for t in n.tokens]
    after = [t.logprob for n in back.walk() if n.tokens for t in n.tokens]
    assert after == [round(x * 1e6) / 1e6 for x in before]


def test_packed_and_tuple_sessions_write_the_same_tokens() -> None:
    """The vectorised path and the general one agree on every token and alternative."""
    rng = random.Random(2)
    rows = _rows(200)
    s = Session.new("p")
    node = s.add_child(s.current_id, tokens=_random_tokens(rows, 80, 10, rng, packed=True))
    data_packed = session_to_dict(s)
    for t in node.tokens:
        t.top = tuple(t.top)
    data_tuples = session_to_dict(s)

    def resolved(data):
        out = []
        for n in data["nodes"]:
            toks = n.get("tokens")
            if toks:
                tv = np.frombuffer(
                    __import__("base64").b64decode(toks["tv"]),
                    dtype="<u2" if toks["tw"] == 2 else "<u4",
                )
                tl = np.frombuffer(__import__("base64").b64decode(toks["tl"]), dtype="<f4")
                vocab = data["vocab"]
                out.append(
                    (
                        [vocab[i] for i in toks["v"]],
                        toks["lp"],
                        toks["ent"],
                        toks["k"],
                        [vocab[i] for i in tv.tolist()],
                        tl.tolist(),
                    )
                )
        return out

    assert resolved(data_packed) == resolved(data_tuples)


def test_every_kind_of_top_in_one_node_keeps_its_place() -> None:
    """Tuples, two backends' tables, a loaded file's slices and empty lists, interleaved."""
    rows_a, rows_b = _rows(50, "a"), _rows(70, "b")
    table = VocabTable()
    s = Session.new("p")
    first = s.add_child(
        s.current_id,
        tokens=[
            Token("f", b"f", 1, -0.5, _packed(rows_a, [i, i + 1], [-0.5, -1.5])) for i in range(10)
        ],
    )
    loaded = loads_session(dumps_session(s))
    from_file = loaded.node(first.id).tokens
    assert all(type(t.top) is PackedTop for t in from_file)
    mixed = [
        from_file[0],
        from_file[1],
        Token("x", b"x", None, -1.0, (Alt("x", b"x", None, -1.0), Alt("y", b"y", None, -2.0))),
        Token("a", b"a", 5, -0.25, _packed(rows_a, [5, 7, 3], [-0.25, -2.0, -4.0])),
        Token("b", b"b", 9, -0.75, _packed(rows_b, [9, 3], [-0.75, -1.0])),
        Token("e", b"e", 2, None, ()),
        Token("c", b"c", 11, -0.5, table.pack((Alt("c", b"c", 11, -0.1234567890123),))),
        from_file[5],
        from_file[6],
        from_file[8],
        Token("b", b"b", 9, -0.75, _packed(rows_b, [9, 3], [-0.75, -1.0])),
    ]
    expected = [tuple(t.top) for t in mixed]
    node = loaded.add_child(loaded.current_id, tokens=mixed)
    back = loads_session(dumps_session(loaded))
    got = [tuple(t.top) for t in back.node(node.id).tokens]
    f32 = [tuple(a._replace(logprob=_f32(a.logprob)) for a in top) for top in expected]
    assert got == f32  # the file keeps float32 logprobs
    # Loading then saving is still byte-identical with every kind present.
    assert dumps_session(loads_session(dumps_session(back))) == dumps_session(back)


def test_a_table_that_grows_between_saves() -> None:
    table = VocabTable()
    s = Session.new("p")
    n1 = s.add_child(
        s.current_id, tokens=[Token("a", b"a", 1, -1.0, table.pack([Alt("a", b"a", 1, -1.0)]))]
    )
    dumps_session(s)
    n2 = s.add_child(
        n1.id, tokens=[Token("z", b"z", 26, -2.0, table.pack([Alt("z", b"z", 26, -2.0)]))]
    )
    back = loads_session(dumps_session(s))
    assert back.node(n2.id).tokens[0].top[0] == Alt("z", b"z", 26, -2.0)


def test_big_vocab_uses_32_bit_indices() -> None:
    rows = [(f"t{i}", f"t{i}".encode(), i) for i in range(70_000)]
    toks = [
        Token("t", b"t", 0, -1.0, _packed(rows, list(range(j, j + 100)), [-1.0] * 100))
        for j in range(0, 69_900, 100)
    ]
    s = Session.new("p")
    node = s.add_child(s.current_id, tokens=toks)
    data = session_to_dict(s)
    enc = next(n["tokens"] for n in data["nodes"] if n.get("tokens"))
    assert enc["tw"] == 4
    back = loads_session(dumps_session(s)).node(node.id).tokens
    assert [a.token_id for a in back[-1].top] == list(range(69_800, 69_900))


def test_non_finite_packed_logprobs_are_clamped_and_the_rest_kept_exact() -> None:
    rows = _rows(10)
    lps = [-0.1, -math.inf, math.nan, math.inf, -2e5, -0.123456789]
    s = Session.new("p")
    node = s.add_child(
        s.current_id, tokens=[Token("a", b"a", 0, -0.1, _packed(rows, range(6), lps))]
    )
    raw = dumps_session(s)
    json.loads(raw)  # valid JSON (no NaN/Infinity literals)
    got = [a.logprob for a in loads_session(raw).node(node.id).tokens[0].top]
    assert got[0] == _f32(-0.1) and got[5] == _f32(-0.123456789)
    assert got[1:5] == [-1e5, -1e5, 1e5, -1e5]


def test_copies_share_the_packed_list() -> None:
    import copy

    rows = _rows(49_152)
    top = _packed(rows, [1, 2], [-0.5, -1.0])
    s = Session.new("p")
    node = s.add_child(s.current_id, tokens=[Token("a", b"a", 1, -0.5, top)])
    clone = copy.deepcopy(s)
    assert clone.node(node.id).tokens[0].top is top
    assert clone.node(node.id).tokens[0] is not node.tokens[0]


def test_journal_replay_gives_packed_tops_with_the_same_numbers() -> None:
    from loomtui.core.journal import apply_records, token_record

    s = Session.new("p")
    node = s.add_child(s.current_id, tokens=[])
    alts = (Alt(" a", b" a", 5, -0.123456789012), Alt("\ufffd", b"\xe2", None, -2.5))
    toks = [Token(" a", b" a", 5, -0.123456789012, alts, 1.5), Token("x", b"x", 9, None, ())]
    records = [
        {"op": "tok", "n": node.id, "i": i, "t": token_record(t)} for i, t in enumerate(toks)
    ]
    apply_records(s, records)
    got = s.node(node.id).tokens
    assert type(got[0].top) is PackedTop and tuple(got[0].top) == alts  # exact (float64)
    assert got == toks
