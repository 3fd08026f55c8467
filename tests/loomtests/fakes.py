"""A small deterministic language model for the instruments and their screens: logits depend
on the last two token ids. :class:`TopKBackend` gives top-k lists only, as an API does;
:class:`FullBackend` adds the local backend's :class:`FullDistribution` capability."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from loomtui.backends.base import (
    FULL_BATCH,
    Backend,
    Context,
    Distribution,
    FullDistribution,
    GenerationSettings,
    ModelInfo,
    ScoreResult,
    TokenEvent,
    starts_with_digit,
)
from loomtui.core.tokens import Alt, Token

VOCAB: list[bytes] = [
    *[str(d).encode() for d in range(10)],
    *[f" {d}".encode() for d in range(10)],
    b" ",
    b".",
    b"\n",
    b" the",
    b" cat",
    b" sat",
    b" on",
    b" mat",
    b" dog",
    b"The",
    b" a",
    b"!",
    b",",
    b" is",
    b" ran",
    b" home",
    b" number",
    b":",
    b" pick",
    b" I",
    b"I",
]


class TopKBackend(Backend):
    """A tiny deterministic language model: logits depend on the last two token ids.

    This one gives top-k lists only, as an API backend does; :class:`FullBackend` adds
    the :class:`FullDistribution` capability of the local backend.
    """

    full = False

    def __init__(self, name: str = "fake", seed: int = 0, k_cap=None, scores=True):
        self.scores = scores  # False: refuse prompt scoring, as llama.cpp's server does
        self.name = name
        self.seed = seed
        self.k_cap = k_cap
        self.calls = 0

    # ---------------------------------------------------------------- the model
    def _logprobs(self, ids: Sequence[int]) -> torch.Tensor:
        a = ids[-2] if len(ids) > 1 else 97
        b = ids[-1] if ids else 98
        gen = torch.Generator().manual_seed(self.seed * 100003 + a * 1009 + b + 1)
        logits = torch.randn(len(VOCAB), generator=gen, dtype=torch.float64) * 2.5
        return torch.log_softmax(logits, -1)

    def _alts(self, lp: torch.Tensor, k: int) -> list[Alt]:
        vals, idx = torch.topk(lp, min(k, len(VOCAB)))
        return [
            Alt(VOCAB[i].decode(), VOCAB[i], int(i), float(v))
            for v, i in zip(vals.tolist(), idx.tolist(), strict=True)
        ]

    def _token(self, ids: Sequence[int], tid: int, k: int) -> Token:
        lp = self._logprobs(ids)
        ent = float(-(lp.exp() * lp).sum())
        return Token(
            VOCAB[tid].decode(),
            VOCAB[tid],
            tid,
            float(lp[tid]),
            tuple(self._alts(lp, k)),
            ent if self.full else None,
        )

    def _ids(self, context: Context) -> list[int]:
        return (
            list(context.token_ids)
            if context.token_ids is not None
            else self.tokenize(context.text)
        )

    # ---------------------------------------------------------------- Backend
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            backend="local" if self.full else "api",
            vocab_size=len(VOCAB),
            max_logprobs=self.k_cap,
            exact_entropy=self.full,
        )

    def tokenize(self, text: str) -> list[int]:
        data = text.encode()
        out: list[int] = []
        i = 0
        while i < len(data):
            best = max(
                (t for t in range(len(VOCAB)) if data.startswith(VOCAB[t], i)),
                key=lambda t: len(VOCAB[t]),
                default=None,
            )
            if best is None:
                raise ValueError(f"fake vocabulary cannot spell {text!r}")
            out.append(best)
            i += len(VOCAB[best])
        return out

    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        for n in range(settings.n):
            ids = self._ids(context)
            gen = torch.Generator().manual_seed((settings.seed or 0) * 31 + n)
            for _ in range(settings.max_tokens):
                lp = self._logprobs(ids)
                if settings.temperature == 0:
                    tid = int(torch.argmax(lp))
                else:
                    probs = torch.softmax(lp / settings.temperature, -1)
                    tid = int(torch.multinomial(probs, 1, generator=gen))
                yield TokenEvent(n, token=self._token(ids, tid, settings.logprobs_k))
                ids.append(tid)
            yield TokenEvent(n, finish_reason="length")

    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        pre = self._ids(prefix) if prefix is not None else []
        ids = self.tokenize(text)
        if not self.scores:
            toks = [Token(VOCAB[t].decode(), VOCAB[t], t) for t in ids]
            return ScoreResult([], toks, note="this server cannot score a prompt")
        toks = []
        for j, tid in enumerate(ids):
            ctx = pre + ids[:j]
            if not ctx:
                toks.append(Token(VOCAB[tid].decode(), VOCAB[tid], tid))
            else:
                toks.append(self._token(ctx, tid, top_k))
        return ScoreResult(prefix_token_ids=pre, tokens=toks)

    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        self.calls += 1
        lp = self._logprobs(self._ids(context))
        ent = float(-(lp.exp() * lp).sum()) if self.full else None
        return Distribution(self._alts(lp, top_k), ent, len(VOCAB))

    def next_distributions(self, contexts, top_k: int = 20):
        out = [self.next_distribution(c, top_k) for c in contexts]
        self.calls -= len(contexts) - 1  # one batched call
        return out


class FullBackend(TopKBackend, FullDistribution):
    """The fake with whole-vocabulary distributions, so the instruments' exact paths run."""

    full = True
    full_batch = FULL_BATCH

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.masks_built = 0

    def full_logprobs(self, sequences, start):
        out = []
        for seq in sequences:
            rows = [self._logprobs(seq[:p]) for p in range(start, len(seq) + 1)]
            out.append(torch.stack(rows).float().numpy())
        return out

    def vocab_bytes(self):
        return list(VOCAB)

    def digit_start_mask(self):
        if not hasattr(self, "_mask"):
            self.masks_built += 1
            self._mask = np.array([starts_with_digit(b) for b in VOCAB], dtype=bool)
        return self._mask


class SlowBackend(FullBackend):
    """The fake with a cost per model pass (a scoring or a batch of distributions) and per
    generated token, so a run lasts long enough to watch its progress and cancel it.
    ``batches`` counts the passes; ``fail`` (an exception) makes the next pass raise it."""

    def __init__(self, *args, batch_s: float = 0.0, token_s: float = 0.0, **kw) -> None:
        super().__init__(*args, **kw)
        self.batch_s, self.token_s = batch_s, token_s
        self.batches = 0
        self.fail: Exception | None = None

    def _pass(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.batches += 1
        time.sleep(self.batch_s)

    def score(self, text, top_k=20, prefix=None):
        self._pass()
        return super().score(text, top_k, prefix)

    def full_logprobs(self, sequences, start):
        self._pass()
        return super().full_logprobs(sequences, start)

    def generate(self, context, settings, cancel=None):
        for ev in super().generate(context, settings, cancel):
            if cancel is not None and cancel.is_set():
                yield TokenEvent(0, finish_reason="cancelled")
                return
            time.sleep(self.token_s)
            yield ev


def make_fake_backend(*args, full: bool = True, **kwargs) -> TopKBackend:
    """A fake backend; ``full=False`` gives one with top-k lists only."""
    return (FullBackend if full else TopKBackend)(*args, **kwargs)
