"""A generating loomtui process for the crash tests, and the scripted backend they share.

Run as ``python crash_driver.py SESSION [--delay S] [--rounds N] [--model SPEC]``: it opens
SESSION with :class:`SessionStore`, then loops: generate ``n`` continuations with the Engine,
sometimes edit, bookmark or delete; after each finished generation it prints one line
``DONE <json>`` naming the finished nodes and their token counts (flushed), so a test that
SIGKILLs it knows what must survive. Token texts are deterministic and hostile on purpose.

``--disk-full START,LENGTH`` makes the disk full for LENGTH seconds, START seconds after
``READY``: every write of the session's folder is refused with ENOSPC (the first one after
writing half of what it was given, as a real disk does), saves included. What the store
cannot write while it reports a problem is only in memory, so its lines are held back and
printed once the store says everything is written again (``PROBLEM``/``SOLVED`` lines tell
when); a kill during the window must lose nothing printed before it.
"""

from __future__ import annotations

import errno
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


class FullDisk:
    """ENOSPC for every write into ``folder`` between ``start`` and ``end`` (monotonic s):
    ``os.write`` (the journal and its temp files) and the store's whole-file saves."""

    def __init__(self, folder: Path, start: float, end: float) -> None:
        self.folder = str(folder.resolve())
        self.start, self.end = start, end
        self.refused = 0
        self._cut = False
        self._write = os.write

    def full(self) -> bool:
        return self.start <= time.monotonic() < self.end

    def _ours(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(self.folder + "/")
        except OSError:
            return False

    def write(self, fd: int, data) -> int:
        if not self.full() or not self._ours(fd):
            self._cut = False
            return self._write(fd, data)
        if not self._cut and len(data) > 1:
            self._cut = True
            return self._write(fd, bytes(data)[: len(data) // 2])  # half, then no room
        self.refused += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def install(self) -> None:
        import loomtui.core.store as store_mod

        os.write = self.write  # type: ignore[assignment]
        for name in ("_save", "_write_file"):
            real = getattr(store_mod, name)

            def refusing(*args, _real=real):
                if self.full():
                    self.refused += 1
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return _real(*args)

            setattr(store_mod, name, refusing)


def main(argv: list[str]) -> int:
    import argparse

    from loomtui.core.store import SessionStore
    from loomtui.engine import Engine

    ap = argparse.ArgumentParser()
    ap.add_argument("session")
    ap.add_argument("--delay", type=float, default=0.002)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=12)
    ap.add_argument("--model", default=None, help="a local model spec instead of the script")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--disk-full", default=None, metavar="START,LENGTH")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    if args.model:
        from loomtui.backends.resolve import open_backend
        from loomtui.config import cache_dir

        backend: Backend = open_backend(model=args.model, cache_dir=cache_dir())
    else:
        backend = ScriptedBackend(delay=args.delay)
    from loomtui.core.store import SaveFailed

    store = SessionStore.open(args.session)
    engine = Engine.over(store, backend)
    session = store.session
    if len(session.nodes) == 1:
        engine.add(session.root_id, 0, plain="Once upon a time [b]\x1b[31m", origin="edit")
    held: list[str] = []  # lines about work that is only in memory (the disk is full)

    def print(line: str, flush: bool = True) -> None:  # noqa: A001 - every report goes here
        if store.problem is not None:
            held.append(line)
            return
        for old in held:
            sys.stdout.write(old + "\n")
        held.clear()
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if args.disk_full:
        start, length = (float(x) for x in args.disk_full.split(","))
        now = time.monotonic()
        disk = FullDisk(Path(args.session).parent, now + start, now + start + length)
        disk.install()

        def told(problem: str | None) -> None:
            sys.stdout.write(("SOLVED" if problem is None else "PROBLEM " + problem) + "\n")
            sys.stdout.flush()

        def autosave(_session) -> None:  # as the app does: a failed save is said, not fatal
            try:
                store.autosave()
            except SaveFailed:
                pass

        store.on_problem = told
        engine.on_change = autosave
        if args.seed % 2:
            store.full_save_budget_s = 0  # as a big session: checkpoints, not full saves
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
        # Then one more change of each kind the engine makes, each reported once applied
        # (the engine's save path has run): a kill right after it must lose nothing.
        roll = rng.random()
        node = rng.choice(result.nodes)
        if roll < 0.15:
            edited = engine.add(
                node.id, len(node) // 2, plain=f"edit {r} \x07\u202e", origin="edit"
            )
            print("DONE " + json.dumps([_branch(session, edited.id)]), flush=True)
        elif roll < 0.25 and node.tokens:
            edited = engine.edit_branch(node.id, node.text[: len(node.text) // 2] + f" typed {r}")
            print("DONE " + json.dumps([_branch(session, edited.id)]), flush=True)
        elif roll < 0.35:
            engine.set_bookmark(node.id, True)
            print(f"MARK {node.id}", flush=True)
        elif roll < 0.45:
            label = f"label {r} [b]\x1b[0m"
            engine.set_label(node.id, label)
            print("LABEL " + json.dumps([node.id, label]), flush=True)
        elif roll < 0.55 and node.tokens:
            tok = node.tokens[0]
            if tok.top:
                picked = engine.pick(node.id, 0, tok.top[-1])
                print("DONE " + json.dumps([_branch(session, picked.id)]), flush=True)
        elif roll < 0.65 and node.tokens:
            # An instrument's insert: a path of tokens hung at a point (multiverse).
            inserted = engine.add(
                node.id,
                len(node) // 2,
                tokens=node.tokens[:2],
                settings={"instrument": "x"},
                finish_reason="inserted",
            )
            print("DONE " + json.dumps([_branch(session, inserted.id)]), flush=True)
        elif roll < 0.75:
            plain = engine.add(node.id, None, plain=f"score me {r}", origin="edit", goto=False)
            data = plain.data
            scored = [Token(text=chr(b), bytes=bytes([b]), token_id=b, logprob=-1.0) for b in data]
            engine.apply_scores([(plain.id, scored, "scripted")])
            print("SCORED " + json.dumps([plain.id, _branch(session, plain.id)]), flush=True)
        elif roll < 0.8 and len(result.nodes) > 1:
            gone = _branch(session, result.nodes[-1].id)
            engine.delete(result.nodes[-1].id)
            print("GONE " + json.dumps(gone), flush=True)
    store.close()
    return 0


def _branch(session, node_id: str) -> str:
    return session.branch_bytes(node_id).hex()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
