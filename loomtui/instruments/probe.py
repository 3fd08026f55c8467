"""Distribution probe: how a model spreads its probability over a set of answers.

Each answer is teacher-forced after the prompt as a multi-token sequence (its tokens are the
answer tokenized on its own, appended to the prompt's tokens) and its logprob is the sum of
its tokens' logprobs. With the *digit end rule* (numeric ranges) an answer also has to end
there: the next token must not start with a digit, so " 4" does not absorb " 42":

    P(" 4" as an answer) = P(tokens of " 4") * (1 - P(next token starts with a digit))

On a backend with full distributions that last factor is exact (the digit-start tokens'
mass summed over the whole vocabulary); from a top-k list it is only bounded, and the
result says so.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import (
    Backend,
    BackendError,
    Context,
    FullDistribution,
    starts_with_digit,
)
from ..core.metrics import (
    entropy,
    entropy_bounds,
    entropy_of_probs,
    is_known,
    joint_logprob,
    kl_from_uniform,
)
from ..core.tokens import Alt
from .context import extend
from .progress import Progress, check, report

RULE_DIGIT = "digit"
RULE_NONE = "none"
RULE_TEXT = {
    RULE_DIGIT: "an answer ends where the next token does not start with a digit: "
    "P(answer) = P(answer tokens) * (1 - P(next token starts with a digit))",
    RULE_NONE: "P(answer) = P(answer tokens) (no end condition)",
}


@dataclass
class Candidate:
    text: str
    token_ids: list[int] | None
    logprob: float | None  # log P(answer), end rule included (estimate when not exact)
    tokens_logprob: float | None  # log P(answer tokens), before the end rule
    end_prob: tuple[float, float] | None = None  # bounds on P(answer ends here)
    exact: bool = True
    tokens_bounds: tuple[float, float] | None = None  # bounds on P(answer tokens) if not exact

    @property
    def prob(self) -> float:
        return 0.0 if self.logprob is None else math.exp(self.logprob)

    @property
    def prob_bounds(self) -> tuple[float, float]:
        if self.tokens_bounds is not None:
            t_lo, t_hi = self.tokens_bounds
        elif self.tokens_logprob is None:
            return (0.0, 0.0)
        else:
            t_lo = t_hi = math.exp(self.tokens_logprob)
        lo, hi = self.end_prob or (1.0, 1.0)
        return (t_lo * lo, t_hi * hi)


@dataclass
class ProbeResult:
    prompt: str
    prompt_token_ids: list[int] | None
    rule: str
    candidates: list[Candidate]
    exact: bool
    next_entropy: tuple[float, float] | None = None  # next-token entropy (lo, hi)
    notes: list[str] = field(default_factory=list)
    model: str = ""

    @property
    def covered_mass(self) -> float:
        return sum(c.prob for c in self.candidates)

    def shares(self) -> list[float]:
        total = self.covered_mass
        return [c.prob / total if total > 0 else 0.0 for c in self.candidates]

    @property
    def entropy(self) -> float:
        return entropy_of_probs([c.prob for c in self.candidates])

    @property
    def kl_uniform(self) -> float:
        return kl_from_uniform([c.prob for c in self.candidates])

    def top(self) -> tuple[Candidate, float] | None:
        if not self.candidates or self.covered_mass <= 0:
            return None
        shares = self.shares()
        i = max(range(len(shares)), key=shares.__getitem__)
        return self.candidates[i], shares[i]

    def to_json(self) -> dict[str, Any]:
        top = self.top()
        return {
            "model": self.model,
            "prompt": self.prompt,
            "prompt_token_ids": self.prompt_token_ids,
            "rule": RULE_TEXT[self.rule],
            "exact": self.exact,
            "candidates": [
                {
                    "text": c.text,
                    "token_ids": c.token_ids,
                    "logprob": c.logprob,
                    "prob": c.prob,
                    "prob_bounds": None if c.exact else list(c.prob_bounds),
                    "share": s,
                }
                for c, s in zip(self.candidates, self.shares(), strict=True)
            ],
            "covered_mass": self.covered_mass,
            "entropy": self.entropy,
            "kl_uniform": self.kl_uniform,
            "top": None if top is None else {"text": top[0].text, "share": top[1]},
            "next_token_entropy": None if self.next_entropy is None else list(self.next_entropy),
            "notes": self.notes,
        }


def range_candidates(lo: int, hi: int, template: str = " {n}") -> list[str]:
    """Answers for a numeric range, e.g. ``" {n}"`` over 1..10 gives " 1" ... " 10"."""
    if hi < lo:
        raise ValueError("the range's end is below its start")
    return [template.format(n=n) for n in range(lo, hi + 1)]


def probe(
    backend: Backend,
    prompt: str | Context,
    candidates: Sequence[str],
    rule: str = RULE_NONE,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ProbeResult:
    """Score every answer in ``candidates`` after ``prompt`` (exactly where possible).

    ``progress`` is told ``(answers scored, answers)`` as batches finish; a set ``cancel``
    stops the run between batches with :class:`~.progress.Cancelled`.
    """
    if rule not in RULE_TEXT:
        raise ValueError(f"unknown end rule {rule!r}")
    if not candidates:
        raise ValueError("no answers to probe")
    context = prompt if isinstance(prompt, Context) else Context(text=prompt)
    if context.token_ids is None and not context.chat:
        ids = backend.tokenize(context.text)
        if ids is not None:
            context = Context(text=context.text, token_ids=ids)
    info = backend.info()
    result = ProbeResult(
        prompt=context.text,
        prompt_token_ids=context.token_ids,
        rule=rule,
        candidates=[],
        exact=True,
        model=info.name,
    )
    if isinstance(backend, FullDistribution) and context.token_ids:
        _probe_full(backend, context, list(candidates), rule, result, progress, cancel)
    else:
        _probe_topk(backend, context, list(candidates), rule, result, progress, cancel)
    return result


def _probe_full(
    backend: Backend,
    context: Context,
    answers: list[str],
    rule: str,
    result: ProbeResult,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> None:
    import numpy as np  # here, not at the top: the app imports the probe at start-up

    assert isinstance(backend, FullDistribution)  # the caller's test, for the type checker
    prompt_ids = list(context.token_ids or [])
    seqs: list[list[int]] = []
    for text in answers:
        ids = backend.tokenize(text)
        if not ids:
            raise BackendError(f"answer {text!r} has no tokens")
        seqs.append(prompt_ids + ids)
    start = len(prompt_ids)
    # As many answers a call as the backend reads best at once (the local one: 64, on the
    # prompt's cache); progress is told after each call.
    step = backend.full_batch
    rows_list: list[np.ndarray] = []
    for b in range(0, len(seqs), step):
        check(cancel)
        rows_list.extend(backend.full_logprobs(seqs[b : b + step], start))
        report(progress, len(rows_list), len(seqs))
    mask = backend.digit_start_mask() if rule == RULE_DIGIT else None
    for text, seq, rows in zip(answers, seqs, rows_list, strict=True):
        ans = seq[start:]
        tok_lp = joint_logprob(float(rows[i, t]) for i, t in enumerate(ans))
        lp = tok_lp
        end = None
        if mask is not None:
            digit = float(np.exp(rows[len(ans)][mask].astype(np.float64)).sum())
            p_end = max(0.0, 1.0 - digit)
            end = (p_end, p_end)
            lp = None if tok_lp is None else tok_lp + _log(p_end)
        result.candidates.append(
            Candidate(text=text, token_ids=ans, logprob=lp, tokens_logprob=tok_lp, end_prob=end)
        )
    h = entropy(rows_list[0][0].astype(np.float64).tolist())
    result.next_entropy = (h, h)


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


def _walk(backend: Backend, context: Context, text: str, k: int) -> tuple[float, float, bool]:
    """Bounds on P(answer tokens) from top-k lists alone (for servers that cannot score a
    prompt): follow the answer's bytes through the listed tokens; a step whose token is not
    listed is at most the last listed probability, and the walk stops there."""
    data = text.encode("utf-8")
    ctx = context
    lo = hi = 1.0
    while data:
        dist = backend.next_distribution(ctx, top_k=k)
        listed = [a for a in dist.top if is_known(a.logprob)]
        fits = [a for a in listed if a.bytes and data.startswith(a.bytes)]
        if not fits:
            p_k = min((a.prob for a in listed), default=1.0)
            return 0.0, hi * p_k, False
        best = max(fits, key=lambda a: (len(a.bytes), a.logprob))
        lo *= best.prob
        hi *= best.prob
        data = data[len(best.bytes) :]
        ctx = extend(ctx, [best])  # in chat: inside the assistant's reply
    return lo, hi, True


def _probe_topk(
    backend: Backend,
    context: Context,
    answers: list[str],
    rule: str,
    result: ProbeResult,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Scores from :meth:`Backend.score` (or, where the server cannot score a prompt, from
    top-k lists followed token by token); the end rule bounded from a top-k list."""
    info = backend.info()
    k = min(20, info.max_logprobs) if info.max_logprobs else 20
    for done, text in enumerate(answers):
        check(cancel)
        report(progress, done, len(answers))
        scored = backend.score(text, top_k=k, prefix=context)
        ids = [t.token_id for t in scored.tokens]
        t_bounds = None
        tok_lp = joint_logprob(t.logprob for t in scored.tokens)
        if tok_lp is not None:
            t_lo = t_hi = math.exp(tok_lp)
            walked = False
        else:
            if scored.note:
                result.notes.append(scored.note)
            t_lo, t_hi, _ = _walk(backend, context, text, k)
            t_bounds = (t_lo, t_hi)
            tok_lp = _log(t_hi)
            ids = []
            walked = True
        end = None
        exact = not walked or t_lo == t_hi
        e_lo = e_hi = 1.0
        if rule == RULE_DIGIT:
            pieces = scored.tokens if not walked else [Alt(text, text.encode(), None, 0.0)]
            after = extend(context, pieces)
            dist = backend.next_distribution(after, top_k=k)
            known = [a for a in dist.top if is_known(a.logprob)]
            listed = sum(a.prob for a in known)
            digit_lo = sum(a.prob for a in known if starts_with_digit(a.bytes))
            rest = max(0.0, 1.0 - listed)
            e_lo, e_hi = max(0.0, 1.0 - digit_lo - rest), max(0.0, 1.0 - digit_lo)
            end = (e_lo, e_hi)
            exact = exact and rest < 1e-9
        mid = (t_lo * e_lo + t_hi * e_hi) / 2
        result.candidates.append(
            Candidate(
                text,
                None if not ids or None in ids else ids,  # type: ignore[arg-type]
                _log(mid) if not exact else tok_lp + _log(e_lo if end else 1.0),
                tok_lp,
                end_prob=end,
                exact=exact,
                tokens_bounds=t_bounds,
            )
        )
        result.exact = result.exact and exact
    check(cancel)
    report(progress, len(answers), len(answers))
    if not result.exact:
        result.notes.append(
            "some numbers are bounds from top-k lists: prob is the midpoint of its bounds"
        )
    dist0 = backend.next_distribution(context, top_k=k)
    if dist0.entropy is not None and info.exact_entropy:
        result.next_entropy = (dist0.entropy, dist0.entropy)
    else:
        b = entropy_bounds(dist0.top, dist0.vocab_size or info.vocab_size)
        result.next_entropy = (b.lower, b.upper)
