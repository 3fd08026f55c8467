"""The session file's speed: saving and loading 100,000 tokens with 20 alternatives each.

- ``session_save_100k_s``: :func:`loomtui.core.sessionfile.save_session` of a synthetic
  session (100 generations of 1,000 tokens in a branching tree; token strings from a
  vocabulary of a few thousand, random float32 logprobs), atomic write and fsync included.
  Goal <= 1. The tokens are built the way the local backend hands them over (top-k lists
  packed against the model's vocabulary table); ``detail`` also gives one save of the same
  session built from tuples of ``Alt`` (what an importer or a journal replay produces), and
  a re-save of the loaded file.
- ``session_load_100k_s``: :func:`load_session` of that file. Goal <= 1. The loader may leave
  top-k lists packed until first use, so ``detail`` also gives the time to touch every
  alternative once after loading (what a full export would pay).
- ``session_bytes_per_token``: the file's size divided by the token count.

Baselines, measured in the same run on the same bytes: writing them raw (write + fsync) and
reading them raw plus ``json.loads`` - the floor any JSON format pays.
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from loomtui.core.tokens import U32, Alt, PackedTop, Token
from loomtui.core.tree import Session

try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

TOKENS = 100_000
NODE_TOKENS = 1_000
TOP_K = 20
VOCAB = 4_000
REPEATS = 3

_ONSETS = ["", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "th", "st", "w"]
_NUCLEI = ["a", "e", "i", "o", "u", "ea", "ou", "ai"]
_CODAS = ["", "n", "r", "s", "t", "nd", "ng", "ll", "ck"]
_EXTRA = [".", ",", "\n", "\n\n", '"', "'s", " (", ")", ":", " -", "?", "!", " 1", " 2", "é"]


def vocabulary(size: int = VOCAB, seed: int = 0) -> list[tuple[str, bytes]]:
    """``size`` distinct token strings shaped like a BPE vocabulary: mostly `` word`` and
    ``word`` pieces, punctuation and newlines, and a few partial UTF-8 byte tokens."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, bytes]] = []
    for text in _EXTRA:
        seen.add(text)
        out.append((text, text.encode()))
    # Byte-fallback tokens: the first half of a UTF-8 character, shown as U+FFFD.
    for b in (b"\xe2", b"\xe2\x80", b"\xf0\x9f", b"\xc3"):
        out.append(("\ufffd", b))
    while len(out) < size:
        syllables = rng.choice((1, 1, 2, 2, 3))
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(syllables)
        )
        text = (" " if rng.random() < 0.7 else "") + (
            word.capitalize() if rng.random() < 0.1 else word
        )
        if text and text not in seen:
            seen.add(text)
            out.append((text, text.encode()))
    return out


def synthetic_session(
    tokens: int = TOKENS,
    node_tokens: int = NODE_TOKENS,
    top_k: int = TOP_K,
    seed: int = 0,
    packed: bool = True,
    chain: bool = False,
) -> Session:
    """A branching session of ``tokens`` model tokens with ``top_k`` alternatives each.

    ``packed`` builds the tokens the way the backends hand them over: each top-k list a
    :class:`PackedTop` of token ids into one vocabulary table plus float32 logprobs (the
    local backend) - the session the app holds after generating. ``packed=False`` builds
    tuples of :class:`Alt` instead (what a journal replay or an importer produces).
    ``chain`` makes each generation continue the one before (one long current branch, what
    the app lays out) instead of a random earlier one.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = vocabulary(seed=seed)
    rows = [(text, data, i) for i, (text, data) in enumerate(vocab)]
    size = len(vocab)
    # Distinct ids per top-k list, cheaply: a random base plus one of a few sets of distinct
    # offsets, modulo the vocabulary size.
    patterns = np.stack([rng.choice(size, top_k, replace=False) for _ in range(64)])
    picks = (rng.integers(0, size, (tokens, 1)) + patterns[rng.integers(0, 64, tokens)]) % size
    # Descending logprobs, like a real top-k list; the chosen token is usually rank 1.
    lps = -np.sort(rng.exponential(2.0, (tokens, top_k)).cumsum(axis=1) * 0.5, axis=1)
    lps = lps.astype(np.float32)  # what the model computes
    chosen = np.where(rng.random(tokens) < 0.7, 0, rng.integers(0, top_k, tokens))
    entropy = rng.uniform(0.0, 6.0, tokens)
    picks_l, lps_l, chosen_l, ent_l = (
        picks.tolist(),
        lps.tolist(),
        chosen.tolist(),
        entropy.tolist(),
    )
    id_bytes = picks.astype(np.uint32).tobytes()
    lp_bytes = lps.tobytes()
    step = 4 * top_k
    session = Session.new("A synthetic session for timing the session file.")
    parents = [session.current_id]
    pick_parent = random.Random(seed)
    gc_was = gc.isenabled()
    gc.disable()  # millions of acyclic tuples: the cyclic GC would rescan them for nothing
    try:
        for first in range(0, tokens, node_tokens):
            toks: list[Token] = []
            for i in range(first, min(first + node_tokens, tokens)):
                c = chosen_l[i]
                text, data, tid = rows[picks_l[i][c]]
                if packed:  # as LocalBackend._tops builds it
                    top: Any = PackedTop(
                        rows,
                        array(U32, id_bytes[i * step : (i + 1) * step]),
                        array("f", lp_bytes[i * step : (i + 1) * step]),
                    )
                else:
                    top = tuple(
                        Alt(*rows[v], lp) for v, lp in zip(picks_l[i], lps_l[i], strict=True)
                    )
                toks.append(Token(text, data, tid, lps_l[i][c], top, ent_l[i]))
            # Each generation continues one of the earlier ones: a tree, not a chain.
            parent = parents[-1] if chain else pick_parent.choice(parents)
            node = session.add_child(parent, tokens=toks, origin="model", model="synthetic")
            parents.append(node.id)
    finally:
        if gc_was:
            gc.enable()
    session.current_id = parents[-1]
    return session


def _raw_write(data: bytes, path: Path) -> float:
    start = time.perf_counter()
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return time.perf_counter() - start


def _raw_read_parse(path: Path) -> float:
    start = time.perf_counter()
    json.loads(path.read_bytes())
    return time.perf_counter() - start


def file_measures(tokens: int = TOKENS, repeats: int = REPEATS) -> dict[str, dict[str, Any]]:
    """Save, load and size of a ``tokens``-token session; median of ``repeats`` runs each."""
    from loomtui.core.sessionfile import load_session, save_session

    t0 = time.perf_counter()
    session = synthetic_session(tokens)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-") as tmp:
        path = Path(tmp) / "big.json"
        raw_path = Path(tmp) / "raw.json"
        saves, save_cpu, loads, load_cpu, raw_w, raw_r = [], [], [], [], [], []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            save_session(session, path)
            saves.append(time.perf_counter() - start)
            save_cpu.append(time.process_time() - cpu)
        data = path.read_bytes()
        size = len(data)
        # Loading happens in a process that does not hold the 2M freshly built alternatives
        # (they would inflate every GC pass of the loader): drop them first.
        del session
        gc.collect()
        loaded = None
        for _ in range(repeats):
            loaded = None
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            loaded = load_session(path)
            loads.append(time.perf_counter() - start)
            load_cpu.append(time.process_time() - cpu)
            raw_w.append(_raw_write(data, raw_path))
            raw_r.append(_raw_read_parse(raw_path))
        del data
        assert loaded is not None
        # Touch every alternative once: what a loader that defers decoding pays later (GC
        # paused, as the file code does for its bulk work).
        gc.disable()
        try:
            start = time.perf_counter()
            alts = sum(len(tuple(t.top)) for n in loaded.walk() if n.tokens for t in n.tokens)
            touch_s = time.perf_counter() - start
        finally:
            gc.enable()
        got = sum(len(n.tokens) for n in loaded.walk() if n.tokens)
        if got != tokens or alts != tokens * TOP_K:
            raise RuntimeError(f"round trip lost tokens: {got} tokens, {alts} alternatives")
        # Re-saving a loaded session (the common case: open, add a branch, save).
        loaded = load_session(path)
        start = time.perf_counter()
        save_session(loaded, path)
        resave_s = time.perf_counter() - start
        del loaded
        # The slower general path: the same session with tuples of Alt.
        tuples = synthetic_session(tokens, packed=False)
        gc.collect()
        start = time.perf_counter()
        save_session(tuples, raw_path)
        tuple_save_s = time.perf_counter() - start
        del tuples
    save_s, load_s = statistics.median(saves), statistics.median(loads)
    floor_w, floor_r = statistics.median(raw_w), statistics.median(raw_r)
    detail = {
        "tokens": tokens,
        "alternatives_per_token": TOP_K,
        "file_mb": round(size / 1e6, 2),
        "build_session_s": round(build_s, 3),
        "saves_s": [round(x, 3) for x in saves],
        "save_cpu_s": [round(x, 3) for x in save_cpu],
        "loads_s": [round(x, 3) for x in loads],
        "load_cpu_s": [round(x, 3) for x in load_cpu],
        "resave_loaded_s": round(resave_s, 3),
        "save_tuple_alternatives_s": round(tuple_save_s, 3),
        "touch_all_alternatives_s": round(touch_s, 3),
        "raw_write_fsync_s": round(floor_w, 4),
        "raw_read_json_loads_s": round(floor_r, 4),
    }
    return {
        "session_save_100k_s": {
            "value": round(save_s, 3),
            "unit": "s",
            "goal": "<= 1",
            "baseline": round(floor_w, 4),
            "detail": detail,
        },
        "session_load_100k_s": {
            "value": round(load_s, 3),
            "unit": "s",
            "goal": "<= 1",
            "baseline": round(floor_r, 4),
            "detail": detail,
        },
        "session_bytes_per_token": {
            "value": round(size / tokens, 1),
            "unit": "B/token",
            "goal": None,
            "baseline": None,
            "detail": {"file_mb": round(size / 1e6, 2), "alternatives_per_token": TOP_K},
        },
    }


def _once(ctx: Any) -> dict[str, dict[str, Any]]:
    # Three names, one measurement: the session is built and saved once per run (kept on
    # the run's context, so a second run measures afresh).
    results = getattr(ctx, "_file_results", None)
    if results is None:
        tokens = getattr(ctx, "file_tokens", TOKENS)
        results = file_measures(tokens, getattr(ctx, "repeats", REPEATS))
        ctx._file_results = results
    return results


if measure is not None:

    @measure("session_save_100k_s")
    def _save(ctx: Any) -> dict[str, Any]:
        return dict(_once(ctx)["session_save_100k_s"])

    @measure("session_load_100k_s")
    def _load(ctx: Any) -> dict[str, Any]:
        return dict(_once(ctx)["session_load_100k_s"])

    @measure("session_bytes_per_token")
    def _bytes(ctx: Any) -> dict[str, Any]:
        return dict(_once(ctx)["session_bytes_per_token"])


if __name__ == "__main__":
    print(json.dumps(file_measures(), indent=1))
