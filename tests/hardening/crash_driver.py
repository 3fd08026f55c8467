"""A generating loomtui process for the crash tests, and the scripted backend they share.

Run as ``python crash_driver.py SESSION [--delay S] [--rounds N] [--model SPEC]``: it opens
SESSION with :class:`SessionStore`, then loops: generate ``n`` continuations with the Engine,
sometimes edit, bookmark or delete; after each finished generation it prints one line
``DONE <json>`` naming the finished nodes and their token counts (flushed), so a test that
SIGKILLs it knows what must survive. Token texts are deterministic and hostile on purpose.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Iterator

from loomtui.backends.base import (
    Backend,
    Context,
    Distribution,
    GenerationSettings,
    ModelInfo,
    ScoreResult,
    TokenEvent,
)
from loomtui.core.tokens import Alt, Token

#: Pieces a model might emit: markup, escapes, controls, bidi, joiners, partial UTF-8.
HOSTILE: list[bytes] = [
    b"[bold red]x[/]",
    b"\x1b[2J\x1b[H",
    b"\x1b]0;pwned\x07",
    b"\r",
    b"\x00",
    b"\x07",
    "\u202eevil\u202c".encode(),
    "a\u200db".encode(),
    "e\u0301\u0301".encode(),
    b"\t",
    b"\xe2\x80",  # the first two bytes of a 3-byte character...
    b"\x9c",  # ...and its last byte, in the next token
    "\u009b31m".encode(),  # C1 CSI
    b" plain",
    "\U0001f600".encode(),
]


def piece(g: int, k: int) -> bytes:
    """The bytes of token ``k`` of completion ``g`` (deterministic)."""
    return HOSTILE[(g * 7 + k) % len(HOSTILE)] + f"<{k}>".encode()


class ScriptedBackend(Backend):
    """Tokens from :data:`HOSTILE`, one every ``delay`` seconds; byte-level tokenizer."""

    def __init__(self, delay: float = 0.0, context_length: int | None = None) -> None:
        self.delay = delay
        self.context_length = context_length
        self.contexts: list[Context] = []

    def info(self) -> ModelInfo:
        return ModelInfo(
            name="scripted", backend="local", vocab_size=256, context_length=self.context_length
        )

    def tokenize(self, text: str) -> list[int]:
        return list(text.encode("utf-8", "surrogatepass"))

    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        self.contexts.append(context)
        seed = settings.seed or 0
        for k in range(settings.max_tokens):
            for g in range(settings.n):
                if cancel is not None and cancel.is_set():
                    break
                data = piece(seed + g, k)
                alt = Alt(data.decode("utf-8", "replace"), data, k, -0.5)
                other = Alt("[/]\x1b", b"[/]\x1b", 999, -1.5)
                yield TokenEvent(
                    g,
                    Token(
                        text=alt.text,
                        bytes=data,
                        token_id=1000 + k,
                        logprob=-0.5,
                        top=(alt, other),
                        entropy=1.25,
                    ),
                )
                if self.delay:
                    time.sleep(self.delay)
        for g in range(settings.n):
            yield TokenEvent(g, finish_reason="length")

    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        raise NotImplementedError

    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        raise NotImplementedError


def main(argv: list[str]) -> int:
    import argparse

    from loomtui.core.store import SessionStore

    ap = argparse.ArgumentParser()
    ap.add_argument("session")
    ap.add_argument("--delay", type=float, default=0.002)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=12)
    ap.add_argument("--model", default=None, help="a local model spec instead of the script")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    if args.model:
        from loomtui.backends.resolve import open_backend

        backend: Backend = open_backend(model=args.model)
    else:
        backend = ScriptedBackend(delay=args.delay)
    store = SessionStore.open(args.session)
    engine = store.engine(backend)
    session = store.session
    if len(session.nodes) == 1:
        engine.edit(session.root_id, 0, "Once upon a time [b]\x1b[31m")
    print("READY", flush=True)
    for r in range(args.rounds):
        leaves = session.leaves()
        start = rng.choice(leaves)
        n = rng.choice((1, 2, 3))
        settings = GenerationSettings(
            max_tokens=args.max_tokens, n=n, seed=rng.randrange(100), temperature=1.0
        )
        # Printed once the store has journaled the token: it must survive a kill.
        result = engine.generate(
            start.id,
            None,
            settings,
            on_token=lambda node, tok: print(f"T {node.id} {len(node.tokens)}", flush=True),
        )
        # What must survive a kill from now on: each finished branch's exact bytes.
        print("DONE " + json.dumps([_branch(session, n.id) for n in result.nodes]), flush=True)
        roll = rng.random()
        if roll < 0.2:
            node = rng.choice(result.nodes)
            edited = engine.edit(node.id, len(node) // 2, f"edit {r} \x07\u202e")
            print("DONE " + json.dumps([_branch(session, edited.id)]), flush=True)
        elif roll < 0.3:
            session.set_bookmark(result.nodes[0].id)
            store.autosave()
        elif roll < 0.35 and len(result.nodes) > 1:
            gone = _branch(session, result.nodes[-1].id)
            session.delete(result.nodes[-1].id)
            store.autosave()
            print("GONE " + json.dumps(gone), flush=True)
    store.close()
    return 0


def _branch(session, node_id: str) -> str:
    return session.branch_bytes(node_id).hex()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
