"""Model diff: one text teacher-forced under two backends, token by token.

The two models may tokenize differently, so the text is cut into *segments*: the shortest
runs of tokens whose byte boundaries agree in both tokenizations (a single token each when
the tokenizers agree). A segment's logprob under a model is the sum of its tokens'. Where
both backends give full distributions over the same vocabulary and the tokenizations are
identical, each position also gets KL(A || B). A logprob (a segment's or a side's total) is
None when any of its tokens has none (see :func:`loomtui.core.metrics.joint_logprob`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, Context, FullDistribution
from ..core.metrics import joint_logprob, kl_rows
from ..core.tokens import Token, decode
from .context import reply_context
from .progress import Progress, check, report


@dataclass
class Segment:
    text: str
    bytes: bytes
    a_logprob: float | None
    b_logprob: float | None
    kl: float | None = None  # KL(A || B) of the distribution before this token, nats

    @property
    def diff(self) -> float | None:
        """logprob under B minus logprob under A (positive: B likes it more)."""
        if self.a_logprob is None or self.b_logprob is None:
            return None
        return self.b_logprob - self.a_logprob


@dataclass
class Side:
    name: str
    tokens: list[Token]
    exact_entropy: bool

    @property
    def total_logprob(self) -> float | None:
        """The text's joint logprob under this model (None if a token has no logprob)."""
        return joint_logprob(t.logprob for t in self.tokens)

    @property
    def mean_entropy(self) -> float | None:
        ents = [t.entropy for t in self.tokens if t.entropy is not None]
        return sum(ents) / len(ents) if ents else None


@dataclass
class Comparison:
    text: str
    a: Side
    b: Side
    segments: list[Segment]
    same_tokens: bool
    notes: list[str] = field(default_factory=list)

    def disagreements(self, n: int = 10) -> list[Segment]:
        """The segments where the two models' logprobs differ most."""
        scored = [s for s in self.segments if s.diff is not None]
        return sorted(scored, key=lambda s: abs(s.diff or 0.0), reverse=True)[:n]

    def to_json(self, top: int = 10) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            return {
                "model": s.name,
                "tokens": len(s.tokens),
                "total_logprob": s.total_logprob,
                "mean_entropy": s.mean_entropy,
                "entropy_exact": s.exact_entropy,
            }

        def seg(s: Segment) -> dict[str, Any]:
            return {
                "text": s.text,
                "bytes": s.bytes.hex(),
                "a_logprob": s.a_logprob,
                "b_logprob": s.b_logprob,
                "diff": s.diff,
                "kl": s.kl,
            }

        kls = [s.kl for s in self.segments if s.kl is not None]
        return {
            "text": self.text,
            "a": side(self.a),
            "b": side(self.b),
            "same_tokenization": self.same_tokens,
            "mean_kl": sum(kls) / len(kls) if kls else None,
            "segments": [seg(s) for s in self.segments],
            "top_disagreements": [seg(s) for s in self.disagreements(top)],
            "notes": self.notes,
        }


def segments(a: list[Token], b: list[Token]) -> list[tuple[list[Token], list[Token]]]:
    """Pair up runs of tokens of ``a`` and ``b`` that cover the same bytes."""
    out: list[tuple[list[Token], list[Token]]] = []
    i = j = 0
    pa = pb = 0
    run_a: list[Token] = []
    run_b: list[Token] = []
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and pa <= pb):
            run_a.append(a[i])
            pa += len(a[i].bytes)
            i += 1
        else:
            run_b.append(b[j])
            pb += len(b[j].bytes)
            j += 1
        if pa == pb and run_a and run_b:
            out.append((run_a, run_b))
            run_a, run_b = [], []
    if run_a or run_b:
        out.append((run_a, run_b))
    return out


def compare(
    backend_a: Backend,
    backend_b: Backend,
    text: str,
    top_k: int = 20,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    prefixes: tuple[Context | None, Context | None] = (None, None),
) -> Comparison:
    """Score ``text`` under both backends and line the numbers up.

    ``prefixes``: the context each backend reads before the text (in a chat session the
    chat template's prompt of the turns before the reply: :func:`compare_branch`); None: the
    backend's default (its BOS or document separator).

    The run is a few model passes (A scores, B scores, and with full distributions on both
    sides one more pass each for the per-position KL); ``progress`` is told ``(passes done,
    passes)`` after each, and a set ``cancel`` stops the run between them with
    :class:`~.progress.Cancelled`. Nothing is written anywhere, so a cancel leaves nothing.
    """
    full = isinstance(backend_a, FullDistribution) and isinstance(backend_b, FullDistribution)
    # Known before the scores: KL needs both full and (checked later) the same tokens.
    total = 4 if full else 2
    check(cancel)
    info_a, info_b = backend_a.info(), backend_b.info()
    score_a = backend_a.score(text, top_k=top_k, prefix=prefixes[0])
    report(progress, 1, total)
    check(cancel)
    score_b = backend_b.score(text, top_k=top_k, prefix=prefixes[1])
    report(progress, 2, total)
    a = Side(info_a.name, list(score_a.tokens), info_a.exact_entropy)
    b = Side(info_b.name, list(score_b.tokens), info_b.exact_entropy)
    notes = [n for n in (score_a.note, score_b.note) if n]
    ids_a = [t.token_id for t in a.tokens]
    ids_b = [t.token_id for t in b.tokens]
    same = ids_a == ids_b and None not in ids_a and bool(ids_a)
    segs = [
        Segment(
            text=decode(b"".join(t.bytes for t in ra or rb)),
            bytes=b"".join(t.bytes for t in ra or rb),
            a_logprob=joint_logprob(t.logprob for t in ra),
            b_logprob=joint_logprob(t.logprob for t in rb),
        )
        for ra, rb in segments(a.tokens, b.tokens)
    ]
    # With a context before the text, every text token has a distribution before it (the
    # same context on both sides, or no KL); without one, the first token has none.
    head = list(score_a.prefix_token_ids) if any(p is not None for p in prefixes) else None
    if head is not None and head != list(score_b.prefix_token_ids):
        same = False
    kl_passes = same and full and (len(ids_a) > 1 or bool(head))
    if kl_passes:
        check(cancel)
        kls = _position_kl(backend_a, backend_b, ids_a, progress, cancel, head)  # type: ignore[arg-type]
        if kls is None:
            notes.append("per-position KL needs the same vocabulary in both models")
        else:
            for seg, kl in zip(segs if head else segs[1:], kls, strict=False):
                seg.kl = kl
    elif not same:
        notes.append("the models tokenize differently: numbers are per aligned segment, no KL")
    else:
        notes.append("per-position KL needs full distributions from both backends")
    for side in (a, b):
        if side.tokens and side.total_logprob is None:
            notes.append(f"{side.name} gave no logprob for some tokens: its total is unknown")
    if total > 2 and not kl_passes:
        report(progress, total, total)  # the KL passes were skipped: the run is done
    return Comparison(text=text, a=a, b=b, segments=segs, same_tokens=same, notes=notes)


def _position_kl(
    backend_a: FullDistribution,
    backend_b: FullDistribution,
    ids: list[int],
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    head: list[int] | None = None,
) -> list[float] | None:
    """KL(A || B) at each position 1..len-1 (the distribution each token was drawn from),
    or at every position after ``head`` (the context before the text); passes 3 and 4 of
    the comparison's 4."""
    seq, start = (head + ids, len(head)) if head else (ids, 1)
    rows_a = backend_a.full_logprobs([seq], start)[0][:-1]
    report(progress, 3, 4)
    check(cancel)
    rows_b = backend_b.full_logprobs([seq], start)[0][:-1]
    report(progress, 4, 4)
    if rows_a.shape != rows_b.shape:
        return None
    return kl_rows(rows_a, rows_b)


def compare_branch(
    session: Any,
    node_id: str,
    backend_a: Backend,
    backend_b: Backend,
    top_k: int = 20,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Comparison:
    """Compare the branch ending at ``node_id`` under both backends: in a chat session its
    last assistant turn after the chat prompt each model reads
    (:func:`~.context.reply_context`), else the branch's text."""
    text, prefix_a = reply_context(session, backend_a, node_id)
    prefix_b = reply_context(session, backend_b, node_id)[1] if prefix_a is not None else None
    return compare(backend_a, backend_b, text, top_k, progress, cancel, (prefix_a, prefix_b))
