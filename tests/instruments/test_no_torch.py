"""The instruments need no torch: every module imports, and the exact (full-distribution)
paths of probe and compare run, in a fresh interpreter where ``import torch`` fails. The
torch work lives in the backend behind :class:`FullDistribution`, which hands over numpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import importlib, math, pkgutil, sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError

import numpy as np
import loomtui.instruments as pkg

names = [m.name for m in pkgutil.walk_packages(pkg.__path__, "loomtui.instruments.")]
for name in names:
    importlib.import_module(name)
assert len(names) >= 5, names

from loomtui.backends.base import (
    Backend, Distribution, FullDistribution, ModelInfo, ScoreResult, starts_with_digit,
)
from loomtui.core.tokens import Alt, Token
from loomtui.instruments import compare, probe

VOCAB = [b"1", b"2", b"3", b" 1", b" 2", b" 3", b"I", b" pick", b":", b" cat"]


class NumpyBackend(Backend, FullDistribution):
    """Whole-vocabulary logprobs from a fixed random table (next token given the last)."""

    full_batch = 16

    def __init__(self, seed):
        logits = np.random.default_rng(seed).normal(0, 2, (len(VOCAB) + 1, len(VOCAB)))
        self.table = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        self.name = f"np{seed}"

    def _row(self, ids):
        return self.table[ids[-1] if ids else len(VOCAB)]

    def info(self):
        return ModelInfo(name=self.name, backend="local", vocab_size=len(VOCAB))

    def tokenize(self, text):
        data, out = text.encode(), []
        while data:
            best = max((i for i, b in enumerate(VOCAB) if data.startswith(b)),
                       key=lambda i: len(VOCAB[i]))
            out.append(best)
            data = data[len(VOCAB[best]):]
        return out

    def generate(self, context, settings, cancel=None):
        raise NotImplementedError

    def _token(self, ids, tid, k):
        row = self._row(ids)
        top = tuple(Alt(VOCAB[i].decode(), VOCAB[i], i, float(row[i]))
                    for i in np.argsort(-row)[:k])
        return Token(VOCAB[tid].decode(), VOCAB[tid], tid, float(row[tid]), top)

    def score(self, text, top_k=20, prefix=None):
        ids = self.tokenize(text)
        return ScoreResult([], [self._token(ids[:j], t, top_k) for j, t in enumerate(ids)])

    def next_distribution(self, context, top_k=20):
        return Distribution([], None, len(VOCAB))  # the exact paths never ask for one

    def full_logprobs(self, sequences, start):
        return [np.stack([self._row(s[:p]) for p in range(start, len(s) + 1)]).astype(np.float32)
                for s in sequences]

    def vocab_bytes(self):
        return list(VOCAB)

    def digit_start_mask(self):
        return np.array([starts_with_digit(b) for b in VOCAB])


a, b = NumpyBackend(1), NumpyBackend(2)
res = probe.probe(a, "I pick:", [" 1", " 2", " 3"], rule=probe.RULE_DIGIT)
assert res.exact and len(res.candidates) == 3
row = a.table[VOCAB.index(b" 1")]
p_end = 1 - sum(math.exp(row[i]) for i in range(3))  # "1", "2", "3" start with a digit
one = res.candidates[0]
assert abs(one.logprob - (a.table[8][3] + math.log(p_end))) < 1e-5, one

cmp = compare.compare(a, b, "I pick: 1 cat")
kls = [s.kl for s in cmp.segments[1:]]
assert cmp.same_tokens and kls and all(k is not None and k >= 0 for k in kls), cmp.notes
print("ok", len(names), "torch" in sys.modules and sys.modules["torch"] is not None)
'''


def test_instruments_import_and_run_without_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok") and proc.stdout.strip().endswith("False"), proc.stdout
