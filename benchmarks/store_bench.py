"""Timings for the session store (run by hand: ``python benchmarks/store_bench.py``).

A 100,000-token session (20 alternatives per token, 200 nodes): open, save, info, a journal
checkpoint; and the cost of journaling one token with batched vs per-token fsync.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

from loomtui.core.store import SessionStore
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session


def big_session(tokens: int = 100_000, per_node: int = 500) -> Session:
    rng = random.Random(0)
    vocab = [(f" w{i}", f" w{i}".encode(), i) for i in range(5000)]
    session = Session.new("A long session.")
    parent = session.current_id
    made = 0
    while made < tokens:
        toks = []
        for _ in range(per_node):
            alts = tuple(Alt(*vocab[rng.randrange(5000)], -rng.random() * 8) for _ in range(20))
            toks.append(
                Token(
                    alts[0].text,
                    alts[0].bytes,
                    alts[0].token_id,
                    alts[0].logprob,
                    alts,
                    rng.random() * 3,
                )
            )
        node = session.add_child(parent, tokens=toks, origin="model", model="m")
        node.finish_reason = "length"
        parent = node.id if rng.random() < 0.7 else parent
        made += per_node
    return session


def timed(label: str, fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    per = (time.perf_counter() - start) / repeat
    print(f"{label:<48} {per * 1000:9.2f} ms")
    return per


def main() -> int:
    folder = Path(tempfile.mkdtemp())
    path = folder / "big.json"
    session = big_session()
    store = SessionStore.create(path, session)
    print(f"file size: {path.stat().st_size / 1e6:.1f} MB, tokens: {session.stats()['tokens']}")
    timed("save (atomic, whole file)", store.save)
    timed("checkpoint, nothing changed", store.checkpoint)
    timed("info (Session.stats)", store.session.stats)
    store.close()
    timed("open (lock + load + journal check)", lambda: SessionStore.open(path).close())
    store = SessionStore.open(path)
    node = store.session.add_generation(store.session.current_id)
    tok = session.node(session.leaves()[0].id).tokens[0]
    n = 2000

    def stream(interval: float) -> None:
        store.fsync_interval = interval
        for _ in range(n):
            node.tokens.append(tok)
            store.on_token(node, tok)

    base = timed(
        f"{n} tokens appended, no store", lambda: [node.tokens.append(tok) for _ in range(n)]
    )
    b = timed(f"{n} tokens journaled, fsync every 50 ms", lambda: stream(0.05))
    e = timed(f"{n} tokens journaled, fsync every token", lambda: stream(0.0))
    print(
        f"per token: batched {(b - base) / n * 1e6:.1f} us, every-token {(e - base) / n * 1e6:.1f} us"
    )
    node.finish_reason = "length"
    timed("autosave after a generation (journal checkpoint)", store.autosave)
    store.session.delete(node.id)
    store.close()
    os.remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
