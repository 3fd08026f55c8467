"""What ``loomtui collapse`` finds, as data: per model and prompt, the next token, the answers,
the samples, the greedy trace; and the JSON shape (``--json``) each result writes. The
measuring is :mod:`loomtui.instruments.collapse`'s."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.tokens import Alt, Token
from .probe import RULE_TEXT, ProbeResult

if TYPE_CHECKING:
    from ..backends.base import Backend

MATCH_METHOD = (
    "bisection on log T over [0.05, 20] of the entropy of softmax(logits / T), which never "
    "decreases as T grows (dH/dT = Var_T(logits) / T^3)"
)


@dataclass
class Side:
    """One of the two models and how it reads the prompts (``chat``: through its template)."""

    backend: Backend
    chat: bool = False


@dataclass
class NextToken:
    """The next-token distribution right after the prompt."""

    entropy: float | None  # exact (nats), None when only bounds are known
    bounds: tuple[float, float] | None  # (lo, hi) when not exact
    top: list[Alt]  # most likely first
    rows: Any = None  # the whole-vocabulary logprobs (numpy), when the backend gives them

    @property
    def top1_p(self) -> float | None:
        return self.top[0].prob if self.top else None

    @property
    def shown_entropy(self) -> float | None:
        """The exact entropy, else the midpoint of finite bounds (for display only)."""
        if self.entropy is not None:
            return self.entropy
        if self.bounds and math.isfinite(self.bounds[1]):
            return (self.bounds[0] + self.bounds[1]) / 2
        return None


@dataclass
class SampleSet:
    """``n`` samples of one model at one temperature, as branches of the tree."""

    t: float
    node_ids: list[str]
    texts: list[str]
    keys: list[list[object]]  # each sample's tokens (id, or bytes when no id)
    next_token_entropy: float | None  # of softmax(logits / t) right after the prompt
    ngram: int = 3
    answers: list[str | None] = field(default_factory=list)  # the answer each sample gives

    def answer_counts(self) -> dict[str, int]:
        """How many samples give each answer (samples that give none are not counted)."""
        return dict(Counter(a for a in self.answers if a is not None).most_common())

    @property
    def distinct(self) -> int:
        return len(set(self.texts))

    @property
    def top_share(self) -> float:
        """The share of the most common completion (exact text)."""
        if not self.texts:
            return 0.0
        return Counter(self.texts).most_common(1)[0][1] / len(self.texts)

    @property
    def top_text(self) -> str:
        return Counter(self.texts).most_common(1)[0][0] if self.texts else ""

    @property
    def mean_overlap(self) -> float:
        """Mean pairwise Jaccard overlap of the samples' token n-grams (1: all alike)."""
        return mean_pairwise_overlap(self.keys, self.ngram)


@dataclass
class Greedy:
    """A model's greedy continuation and the entropy at each of its positions."""

    node_id: str
    text: str
    tokens: list[Token]
    entropies: list[tuple[float, float]]  # (lo, hi) per token; lo == hi when exact
    exact: bool

    @property
    def token_ids(self) -> list[int | None]:
        return [t.token_id for t in self.tokens]


@dataclass
class ModelResult:
    """Everything measured for one model on one prompt."""

    model: str
    chat: bool
    prompt_token_ids: list[int] | None
    next_token: NextToken
    answers: ProbeResult | None
    answer_labels: list[str]  # the answers as given (scored texts are in ``answers``)
    samples: list[SampleSet]
    greedy: Greedy | None
    match_t: float | None = None  # T at which this model's entropy equals the other's at 1
    match_target: float | None = None

    def samples_at(self, t: float) -> SampleSet | None:
        for s in self.samples:
            if s.t == t:
                return s
        return None

    def reference_samples(self) -> SampleSet | None:
        """The samples at T=1 when they were drawn, else at the first temperature."""
        return self.samples_at(1.0) or (self.samples[0] if self.samples else None)

    def favourite(self) -> tuple[str, float] | None:
        if self.answers is None:
            return None
        shares = self.answers.shares()
        if not shares or self.answers.covered_mass <= 0:
            return None
        i = max(range(len(shares)), key=shares.__getitem__)
        return self.answer_labels[i], shares[i]

    def to_json(self) -> dict[str, Any]:
        nt = self.next_token
        ref = self.reference_samples()
        fav = self.favourite()
        out: dict[str, Any] = {
            "model": self.model,
            "chat": self.chat,
            "prompt_token_ids": self.prompt_token_ids,
            "next_token": {
                "entropy": nt.entropy,
                "entropy_bounds": None if nt.bounds is None else list(nt.bounds),
                "exact": nt.entropy is not None,
                "top1_p": nt.top1_p,
                "top": [
                    {"text": a.text, "token_id": a.token_id, "logprob": a.logprob, "p": a.prob}
                    for a in nt.top
                ],
            },
            "answers": [],
            "answer_covered_mass": None,
            "answer_entropy": None,
            "answer_kl_uniform": None,
            "favourite": None if fav is None else {"answer": fav[0], "share": fav[1]},
            "samples_t": None if ref is None else ref.t,
            "samples": [] if ref is None else list(ref.texts),
            "distinct": None if ref is None else ref.distinct,
            "top_sample_share": None if ref is None else ref.top_share,
            "mean_ngram_overlap": None if ref is None else ref.mean_overlap,
            "by_temperature": [
                {
                    "t": s.t,
                    "next_token_entropy": s.next_token_entropy,
                    "samples": list(s.texts),
                    "sample_node_ids": list(s.node_ids),
                    "distinct": s.distinct,
                    "top_sample_share": s.top_share,
                    "mean_ngram_overlap": s.mean_overlap,
                    "sample_answers": list(s.answers) if self.answers is not None else None,
                    "answer_counts": s.answer_counts() if self.answers is not None else None,
                }
                for s in self.samples
            ],
            "matching_temperature": {
                "t": self.match_t,
                "target_entropy": self.match_target,
                "method": MATCH_METHOD,
            },
            "greedy": None,
        }
        if self.answers is not None:
            res = self.answers
            out["answers"] = [
                {
                    "answer": label,
                    "scored_text": c.text,
                    "token_ids": c.token_ids,
                    "p": c.prob,
                    "p_bounds": None if c.exact else list(c.prob_bounds),
                    "share": share,
                }
                for label, c, share in zip(
                    self.answer_labels, res.candidates, res.shares(), strict=True
                )
            ]
            out["answer_covered_mass"] = res.covered_mass
            out["answer_entropy"] = res.entropy
            out["answer_kl_uniform"] = res.kl_uniform
            out["answer_notes"] = list(dict.fromkeys(res.notes))
        if self.greedy is not None:
            g = self.greedy
            out["greedy"] = {
                "node_id": g.node_id,
                "text": g.text,
                "token_ids": g.token_ids,
                "tokens": [t.text for t in g.tokens],
                "entropy": [lo if lo == hi else None for lo, hi in g.entropies],
                "entropy_bounds": None if g.exact else [list(b) for b in g.entropies],
            }
        return out


@dataclass
class PromptResult:
    prompt: str
    node_id: str  # the prompt's node: every sample and continuation hangs below it
    by_model: list[ModelResult]
    kl_answers_a_b: float | None = None
    kl_answers_b_a: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "node_id": self.node_id,
            "by_model": [m.to_json() for m in self.by_model],
            "kl_answers_a_b": self.kl_answers_a_b,
            "kl_answers_b_a": self.kl_answers_b_a,
        }


@dataclass
class CollapseResult:
    models: list[str]
    prompts: list[PromptResult]
    rule: str | None  # the probe's end rule when answers were given
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "rule": None if self.rule is None else RULE_TEXT[self.rule],
            "settings": dict(self.settings),
            "prompts": [p.to_json() for p in self.prompts],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------- sample statistics


def ngrams(keys: Sequence[object], n: int) -> set[tuple[object, ...]]:
    """The token n-grams of one sample; a sample shorter than ``n`` is one gram of itself."""
    if len(keys) < n:
        return {tuple(keys)} if keys else set()
    return {tuple(keys[i : i + n]) for i in range(len(keys) - n + 1)}


def mean_pairwise_overlap(samples: Sequence[Sequence[object]], n: int = 3) -> float:
    """Mean Jaccard overlap |A∩B| / |A∪B| of token n-grams over all pairs of samples
    (two empty samples overlap fully; fewer than two samples: 1)."""
    grams = [ngrams(s, n) for s in samples]
    total, pairs = 0.0, 0
    for i in range(len(grams)):
        for j in range(i + 1, len(grams)):
            union = grams[i] | grams[j]
            total += len(grams[i] & grams[j]) / len(union) if union else 1.0
            pairs += 1
    return total / pairs if pairs else 1.0
