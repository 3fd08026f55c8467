"""A probe reads its prompt once: the answers run as right-padded batches on the prompt's KV
cache (issue 19). The numbers must be the ones a plain forward pass of prompt + answer gives,
and the ones the probe gave before (every sequence read whole), on the tiny random model
(fast) and on the real embedded model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from loomtests.reference import plain_logprobs

from loomtui.instruments import probe


def _answers(backend, prompt: str, texts: list[str]) -> tuple[list[int], list[list[int]]]:
    pre = backend.tokenize(prompt)
    return pre, [pre + backend.tokenize(t) for t in texts]


def _reference_rows(backend, seq: list[int], start: int) -> np.ndarray:
    """Rows start-1 .. end of a plain, cache-free forward pass (float64 log_softmax)."""
    return plain_logprobs(backend, seq)[start - 1 :].numpy()


class _Counting:
    """Wraps a model's forward and counts the token positions it is given."""

    def __init__(self, backend) -> None:
        self.backend, self.fed, self.calls = backend, 0, 0
        self.inner = backend.model.forward

    def __enter__(self) -> _Counting:
        def forward(*args, **kw):
            ids = kw.get("input_ids", args[0] if args else None)
            self.fed += int(ids.numel())
            self.calls += 1
            return self.inner(*args, **kw)

        self.backend.model.forward = forward
        return self

    def __exit__(self, *exc) -> None:
        del self.backend.model.forward  # back to the class's method


def test_shared_prefix_rows_equal_a_plain_forward_pass(tiny_backend):
    texts = [" fox", " quick brown", " lazy dog.", " café naïve", "😀", " The"]
    pre, seqs = _answers(tiny_backend, "Are bugs real? The", texts)
    assert len({len(s) for s in seqs}) > 2  # tails of different lengths share a batch
    rows = tiny_backend.full_logprobs(seqs, len(pre), batch_size=4)  # two batches
    whole = tiny_backend._whole_logprobs(seqs, len(pre), 4)  # the path before issue 19
    for seq, got, before in zip(seqs, rows, whole, strict=True):
        want = _reference_rows(tiny_backend, seq, len(pre))
        assert got.shape == want.shape == before.shape == (len(seq) - len(pre) + 1, len(want[0]))
        # fp32 logprobs to 1e-4 (the tolerance), probabilities to 1e-5.
        assert np.abs(got - want).max() < 1e-4
        assert np.abs(np.exp(got.astype(np.float64)) - np.exp(want)).max() < 1e-5
        assert (
            np.abs(np.exp(got.astype(np.float64)) - np.exp(before.astype(np.float64))).max() < 1e-5
        )


def test_sequences_with_different_prefixes_keep_their_order(tiny_backend):
    a_pre, a = _answers(tiny_backend, "The quick", [" brown", " fox jumps"])
    b_pre, b = _answers(tiny_backend, "Are bugs", [" real?", " lazy"])
    assert len(a_pre) == len(b_pre)
    seqs = [a[0], b[0], a[1], b[1]]
    rows = tiny_backend.full_logprobs(seqs, len(a_pre))
    for seq, got in zip(seqs, rows, strict=True):
        want = _reference_rows(tiny_backend, seq, len(a_pre))
        assert np.abs(got - want).max() < 1e-4
        assert np.abs(np.exp(got.astype(np.float64)) - np.exp(want)).max() < 1e-5


def test_the_prompt_is_read_once_not_once_per_answer(tiny_backend):
    prompt = "Are bugs real? The quick brown fox jumps over the lazy dog. " * 3
    answers = probe.range_candidates(1, 40)
    tiny_backend.kv.clear()
    with _Counting(tiny_backend) as count:
        res = probe.probe(tiny_backend, prompt, answers, probe.RULE_DIGIT)
    pre = tiny_backend.tokenize(prompt)
    tails = [tiny_backend.tokenize(a) for a in answers]
    # Whole sequences would feed the prompt 40 times; read once, the model sees it once, then
    # one token per later batch (the stored prefix's last token) and the padded answers.
    step = tiny_backend.full_batch
    batches = math.ceil(len(answers) / step)
    padded = sum(
        max(len(t) for t in tails[b : b + step]) * len(tails[b : b + step])
        for b in range(0, len(tails), step)
    )
    assert count.fed <= len(pre) + batches + padded
    assert count.fed < 2 * len(pre) + padded < len(answers) * len(pre)
    assert len(res.candidates) == 40 and res.exact


def test_probe_numbers_are_the_same_as_before(tiny_backend, monkeypatch):
    prompt = "The quick brown fox jumps over"
    answers = probe.range_candidates(1, 24) + [" the lazy dog", " café"]
    tiny_backend.kv.clear()
    batched = probe.probe(tiny_backend, prompt, answers, probe.RULE_DIGIT)
    # The path before issue 19: every prompt + answer read whole.
    monkeypatch.setattr(type(tiny_backend), "_tails_logprobs", lambda *a, **k: None)
    whole = probe.probe(tiny_backend, prompt, answers, probe.RULE_DIGIT)
    for got, want in zip(batched.candidates, whole.candidates, strict=True):
        assert got.token_ids == want.token_ids
        assert got.prob == pytest.approx(want.prob, abs=1e-5, rel=1e-4)
        assert got.end_prob[0] == pytest.approx(want.end_prob[0], abs=1e-5)
    assert batched.next_entropy[0] == pytest.approx(whole.next_entropy[0], abs=1e-5)


def test_probe_of_100_answers_on_the_real_model(smollm):
    """The issue's case: " 1" .. " 100" after the prompt, digit end rule, with progress."""
    prompt = "Pick a number from 1 to 100:"
    answers = probe.range_candidates(1, 100)
    seen: list[tuple[int, int]] = []
    smollm.kv.clear()
    res = probe.probe(
        smollm, prompt, answers, probe.RULE_DIGIT, progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(64, 100), (100, 100)]  # told after each batch of answers
    pre = smollm.tokenize(prompt)
    digit = torch.tensor(smollm.digit_start_mask())
    for c in res.candidates[::9]:  # 1-, 2- and 3-digit answers
        ids = pre + smollm.tokenize(c.text)
        rows = plain_logprobs(smollm, ids)  # float64 log_softmax of a plain forward pass
        tokens = sum(float(rows[i - 1, ids[i]]) for i in range(len(pre), len(ids)))
        p_end = 1.0 - float(rows[-1].exp()[digit].sum())
        assert c.tokens_logprob == pytest.approx(tokens, abs=1e-4)
        assert c.prob == pytest.approx(math.exp(tokens) * p_end, abs=1e-5, rel=1e-4)
    # And the same numbers as the probe gave before, every answer read whole.
    subset = answers[:20] + answers[90:]
    smollm.kv.clear()
    seqs = [pre + smollm.tokenize(a) for a in subset]
    whole = smollm._whole_logprobs(seqs, len(pre), 16)
    batched = smollm.full_logprobs(seqs, len(pre))
    for seq, got, want in zip(seqs, batched, whole, strict=True):
        tail = seq[len(pre) :]
        got_p = np.exp(np.array([got[i, t] for i, t in enumerate(tail)], dtype=np.float64))
        want_p = np.exp(np.array([want[i, t] for i, t in enumerate(tail)], dtype=np.float64))
        assert np.abs(got_p - want_p).max() < 1e-5
        assert np.abs(np.exp(got[-1].astype(np.float64)) - np.exp(want[-1])).max() < 1e-5


def test_a_small_logits_budget_cuts_batches_not_numbers(tiny_backend, monkeypatch):
    pre, seqs = _answers(tiny_backend, "The lazy", [" dog.", " fox jumps over", " café"])
    wide = tiny_backend.full_logprobs(seqs, len(pre))
    monkeypatch.setattr(tiny_backend, "tails_logits_bytes", 1)  # one answer a pass
    with _Counting(tiny_backend) as count:
        narrow = tiny_backend.full_logprobs(seqs, len(pre))
    assert count.calls == 1 + len(seqs)  # the stored prompt's last token, then each answer
    for a, b in zip(wide, narrow, strict=True):
        assert np.abs(np.exp(a.astype(np.float64)) - np.exp(b.astype(np.float64))).max() < 1e-5


def test_the_probe_measure_runs_on_tiny_inputs(smollm):
    """benchmarks/run.py's probe_100_batch_ratio in smoke mode (12 answers, one run)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "run.py"), "--quick", "--json", "--only"]
        + ["probe_100_batch_ratio"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["probe_100_batch_ratio"]
    assert "error" not in result, result.get("error")
    assert result["value"] > 0 and result["goal"] == "<= 2" and result["met"] in (True, False)
    assert "12 answers" in result["baseline"]
    detail = result["detail"]
    assert detail["answers"] == 12 and detail["progress_reports"] >= 1
    assert 0 < detail["covered_mass"] <= 1
