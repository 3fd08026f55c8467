"""Big sessions: 200,000 tokens with 20 alternatives each round-trip byte for byte with the
same numbers, loading scales linearly, a file past the flat size cap loads when its structure
says the parse fits in memory (a dense one of the same size is still refused), and a big load
is moved out of the cyclic GC's sight.

The million-token numbers themselves are measured by ``benchmarks/million_measures.py``."""

from __future__ import annotations

import base64
import gc
import json
import time
from array import array
from pathlib import Path

import numpy as np
import pytest

from loomtui.core import sessionfile
from loomtui.core.errors import SessionFileError
from loomtui.core.sessionfile import dumps_session, load_session, loads_session, save_session
from loomtui.core.tokens import U32, PackedTop, Token
from loomtui.core.tree import Session

TOP_K = 20


def _session(tokens: int, node_tokens: int = 2_000, seed: int = 0) -> Session:
    """A chain-and-branches session built as the local backend hands tokens over: each
    top-k list packed against one vocabulary table, float32 logprobs."""
    rng = np.random.default_rng(seed)
    vocab = [(f" w{i}", f" w{i}".encode(), i) for i in range(3_000)]
    vocab += [("\n", b"\n", 3_000), ("\ufffd", b"\xe2\x80", 3_001)]
    size = len(vocab)
    ids = rng.integers(0, size, (tokens, TOP_K)).astype(np.uint32)
    lps = -np.sort(rng.exponential(1.0, (tokens, TOP_K)).cumsum(axis=1), axis=1)
    lps = lps.astype(np.float32)
    ent = rng.uniform(0, 6, tokens).tolist()
    session = Session.new("A prompt.")
    parent = session.current_id
    for first in range(0, tokens, node_tokens):
        toks = []
        for i in range(first, min(first + node_tokens, tokens)):
            top = PackedTop(vocab, array(U32, ids[i].tobytes()), array("f", lps[i].tobytes()))
            text, data, tid = vocab[int(ids[i, 0])]
            toks.append(Token(text, data, tid, float(lps[i, 0]), top, ent[i]))
        node = session.add_child(parent, tokens=toks, origin="model", model="m")
        if (first // node_tokens) % 3 != 2:  # mostly a chain, sometimes a sibling
            parent = node.id
    session.current_id = node.id
    return session


def _expected_tokens(data: dict, node: dict, every: int) -> list[tuple]:
    """A node's tokens read straight from the file's JSON, one position at a time (the plain
    reading the loader must agree with); the alternatives of every ``every``-th token."""
    vocab = data["vocab"]
    t = node["tokens"]
    tv = np.frombuffer(base64.b64decode(t["tv"]), dtype="<u2" if t["tw"] == 2 else "<u4")
    tl = np.frombuffer(base64.b64decode(t["tl"]), dtype="<f4")
    out, start = [], 0
    for i, v in enumerate(t["v"]):
        k = t["k"][i]
        top = (
            [(vocab[tv[j]][0], vocab[tv[j]][2], float(tl[j])) for j in range(start, start + k)]
            if i % every == 0
            else k
        )
        start += k
        ent = t.get("ent")
        out.append(
            (
                vocab[v][0],
                vocab[v][2],
                None if t["lp"][i] is None else t["lp"][i] / 1_000_000.0,
                None if ent is None or ent[i] is None else ent[i] / 1_000_000.0,
                top,
            )
        )
    return out


@pytest.fixture(scope="module")
def big() -> tuple[Session, bytes]:
    session = _session(200_000)
    return session, dumps_session(session)


def test_200k_tokens_round_trip_byte_for_byte_with_the_same_numbers(
    tmp_path: Path, big: tuple[Session, bytes]
) -> None:
    session = big[0]
    path = tmp_path / "big.json"
    save_session(session, path)
    raw = path.read_bytes()
    loaded = load_session(path)
    # Every token, every alternative: the numbers the file holds, read position by position.
    data = json.loads(raw)
    by_id = {n["id"]: n for n in data["nodes"]}
    count = 0
    for node in loaded.walk():
        if not node.tokens:
            continue
        want = _expected_tokens(data, by_id[node.id], every=7)
        got = [
            (
                t.text,
                t.token_id,
                t.logprob,
                t.entropy,
                [(a.text, a.token_id, a.logprob) for a in t.top] if i % 7 == 0 else len(t.top),
            )
            for i, t in enumerate(node.tokens)
        ]
        assert got == want
        count += len(got)
    assert count == 200_000
    # The logprobs are the model's own float32 values, exactly (not re-rounded on the way).
    first = next(n for n in session.walk() if n.tokens)
    again = loaded.node(first.id)
    assert [a.logprob for a in again.tokens[7].top] == [a.logprob for a in first.tokens[7].top]
    # Saving what was loaded writes the same bytes.
    assert dumps_session(loaded) == raw
    assert raw == big[1]


def _load_cpu(raw: bytes) -> float:
    best = float("inf")
    for _ in range(2):
        gc.collect()
        start = time.process_time()
        loads_session(raw, "big.json")
        best = min(best, time.process_time() - start)
    return best


def test_loading_scales_linearly_with_the_tokens(big: tuple[Session, bytes]) -> None:
    small_s, big_s = _load_cpu(dumps_session(_session(50_000))), _load_cpu(big[1])
    # 4x the tokens: linear is 4x; anything per-token-quadratic would be far beyond 6x.
    assert big_s < 6 * small_s, (small_s, big_s)


def test_a_file_past_the_flat_cap_loads_when_its_structure_fits_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _session(4_000, node_tokens=1_000)
    path = tmp_path / "s.json"
    save_session(session, path)
    size = path.stat().st_size
    # Scale the caps down to this file: past the flat cap, within the read cap.
    monkeypatch.delenv("LOOMTUI_MAX_SESSION_MB", raising=False)
    monkeypatch.setattr(sessionfile, "MAX_FILE_BYTES", size // 4)
    monkeypatch.setattr(sessionfile, "MAX_READ_BYTES", size * 2)
    monkeypatch.setattr(sessionfile, "MAX_LOAD_MEMORY", 40 * size)
    loaded = load_session(path)
    assert sum(len(n.tokens or ()) for n in loaded.walk()) == 4_000
    # The same size of empty objects (the worst case per byte) is refused, in one line.
    dense = tmp_path / "dense.json"
    dense.write_bytes(b"[" + b",".join([b"{}"] * (size // 3)) + b"]")
    with pytest.raises(SessionFileError) as err:
        load_session(dense)
    assert "too large" in str(err.value) and "parsing it could take" in str(err.value)
    assert "\n" not in str(err.value)
    # Past the read cap, nothing is read at all.
    monkeypatch.setattr(sessionfile, "MAX_READ_BYTES", size // 2)
    with pytest.raises(SessionFileError, match="too large"):
        load_session(path)


def test_a_big_load_is_moved_out_of_the_gcs_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = dumps_session(_session(20_000))
    monkeypatch.setattr(sessionfile, "FREEZE_TOKENS", 10_000)
    gc.unfreeze()
    try:
        before = gc.get_freeze_count()
        session = loads_session(raw, "big.json")
        assert gc.get_freeze_count() > before + 20_000  # its tokens among them
        # A small load leaves the GC alone.
        gc.unfreeze()
        monkeypatch.setattr(sessionfile, "FREEZE_TOKENS", 30_000)
        loads_session(raw, "big.json")
        assert gc.get_freeze_count() == 0
        assert session.current.tokens
    finally:
        gc.unfreeze()


def test_a_change_to_a_big_session_is_journaled_not_saved_whole(
    tmp_path: Path, big: tuple[Session, bytes]
) -> None:
    """A label on a session whose save is slow: the file is not rewritten (the keys are not
    frozen for a full save), the journal holds the change, and a crash keeps it."""
    from loomtui.core.store import SessionStore
    from loomtui.engine import Engine

    path = tmp_path / "big.json"
    path.write_bytes(big[1])
    store = SessionStore.open(path)
    store.last_save_s = max(store.last_save_s, 1.0)  # what opening a million tokens measures
    engine = Engine.over(store, None)
    node = store.session.current_id
    engine.set_label(node, "kept")
    assert path.read_bytes() == big[1]  # no full save on the keys' thread
    assert store.journal.stat().st_size > 0
    # A crash now (nothing closed, nothing saved): the reopened session has the label.
    store._close_fd()
    store.lock.release()
    again = SessionStore.open(path)
    try:
        assert again.session.node(node).label == "kept"
    finally:
        again.close()


def test_a_slow_session_compacts_its_journal_proportionally_less_often(tmp_path: Path) -> None:
    """The full save that compacts the journal blocks for as long as a save takes: a session
    whose save is 4x the budget waits for 4x the journal before paying it."""
    from loomtui.core.store import SessionStore
    from loomtui.engine import Engine

    path = tmp_path / "s.json"
    save_session(_session(2_000, node_tokens=500), path)
    store = SessionStore.open(path)
    try:
        engine = Engine.over(store, None)
        store.journal_compact_bytes = 2_000
        store.last_save_s = 4 * store.full_save_budget_s
        raw = path.read_bytes()
        node = store.session.current_id
        i = 0
        while store._journal_bytes <= 2 * store.journal_compact_bytes:
            engine.set_label(node, f"label {i} " + "x" * 100)
            i += 1
            assert i < 1_000 and path.read_bytes() == raw
        assert path.read_bytes() == raw  # past the flat threshold: still only the journal
        while path.read_bytes() == raw:
            engine.set_label(node, f"label {i} " + "x" * 100)
            i += 1
            assert i < 1_000
        assert store._journal_bytes == 0  # compacted: saved whole, a fresh journal
        assert load_session(path).node(node).label == f"label {i - 1} " + "x" * 100
    finally:
        store.close()
