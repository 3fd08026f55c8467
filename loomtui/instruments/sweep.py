"""Attractor sweep: perturb one token, continue greedily, see where the futures re-converge.

At a point, the token is replaced by each of its top-k alternatives (or by texts the user
lists) and every variant is continued at temperature 0. All variants stay in the tree as
branches (through :class:`Engine`), and the continuations are compared: the final sentence
they end in ("k of m perturbations ended in the same sentence"), their word n-gram overlap,
and where each one first rejoins the most common ending.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import GenerationSettings
from ..core.tokens import Alt
from ..core.tree import Node
from ..engine import Engine
from ..engine_history import as_one_step
from .progress import Cancelled, Progress, check, report

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class Variant:
    label: str  # the substituted token or edit, as text
    node_id: str  # the node holding the substituted token (its continuation is below)
    cont_node_id: str | None
    continuation: str
    is_original: bool = False
    finish_reason: str | None = None


@dataclass
class SweepResult:
    variants: list[Variant]
    head_id: str  # the node the variants branch from
    ngram: int = 3
    notes: list[str] = field(default_factory=list)

    def final_sentences(self) -> list[str]:
        return [final_sentence(v.continuation) for v in self.variants]

    def attractor(self) -> tuple[str, int]:
        """The most common final sentence and how many variants ended in it."""
        counts = Counter(s for s in self.final_sentences() if s)
        if not counts:
            return "", 0
        return counts.most_common(1)[0]

    def overlap(self) -> list[list[float]]:
        """Pairwise Jaccard overlap of word n-grams between continuations."""
        grams = [_ngrams(v.continuation, self.ngram) for v in self.variants]
        return [[_jaccard(x, y) for y in grams] for x in grams]

    def mean_overlap(self) -> float:
        m = self.overlap()
        pairs = [m[i][j] for i in range(len(m)) for j in range(i + 1, len(m))]
        return sum(pairs) / len(pairs) if pairs else 1.0

    def rejoin_offsets(self) -> list[int | None]:
        """Where each continuation's text reaches the shared final sentence (char offset)."""
        sentence, count = self.attractor()
        if count < 2:
            return [None] * len(self.variants)
        return [
            (v.continuation.rfind(sentence) if sentence in v.continuation else None)
            for v in self.variants
        ]

    def summary(self) -> str:
        sentence, count = self.attractor()
        m = len(self.variants)
        if count >= 2:
            return f"{count} of {m} perturbations ended in the same sentence: {sentence!r}"
        return f"no two of {m} perturbations ended in the same sentence"

    def to_json(self) -> dict[str, Any]:
        sentence, count = self.attractor()
        finals = self.final_sentences()
        rejoin = self.rejoin_offsets()
        return {
            "head_id": self.head_id,
            "summary": self.summary(),
            "attractor": {"sentence": sentence, "count": count, "of": len(self.variants)},
            "mean_ngram_overlap": self.mean_overlap(),
            "ngram": self.ngram,
            "variants": [
                {
                    "label": v.label,
                    "original": v.is_original,
                    "node_id": v.node_id,
                    "continuation_node_id": v.cont_node_id,
                    "continuation": v.continuation,
                    "final_sentence": f,
                    "rejoins_at": r,
                    "finish_reason": v.finish_reason,
                }
                for v, f, r in zip(self.variants, finals, rejoin, strict=True)
            ],
            "notes": self.notes,
        }


def final_sentence(text: str) -> str:
    """The last complete-looking sentence of ``text`` (stripped), or its last line."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    if not parts:
        return ""
    # A trailing fragment cut off by max_tokens is not a sentence; prefer the one before.
    if len(parts) > 1 and not re.search(r"[.!?]$", parts[-1]):
        return parts[-2]
    return parts[-1]


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1))}


def _jaccard(x: set[Any], y: set[Any]) -> float:
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


@as_one_step("sweep")  # every variant it adds: one undo step
def sweep(
    engine: Engine,
    node_id: str,
    offset: int,
    top_k: int = 5,
    edits: Sequence[str] | None = None,
    max_tokens: int = 48,
    include_original: bool = True,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> SweepResult:
    """Replace the token at ``(node_id, offset)`` and continue each variant greedily.

    ``edits`` replaces the top-k alternatives with texts the user typed. The original token
    is continued too (greedily, from itself) unless ``include_original`` is False, so every
    variant is compared on equal terms.

    ``progress`` is told ``(variants done, variants)``. A set ``cancel`` stops the sweep
    (within the running continuation) and raises :class:`~.progress.Cancelled` after every
    branch it added is deleted again and the current node restored: a cancelled sweep
    leaves the tree as it found it, but for the node boundary at the token.
    """
    session = engine.session
    node = session.node(node_id)
    if node.tokens is None or not 0 <= offset < len(node.tokens):
        raise ValueError("the sweep needs a model token at the point (none there)")
    check(cancel)
    original = node.tokens[offset]
    # Make the token the first of its own node, so every pick below is at offset 0.
    head = engine.split(node_id, offset)
    orig_node: Node = node if offset == 0 else session.node(head.children[0])
    head_id = orig_node.parent or orig_node.id
    # In a chat session each variant continues the assistant's reply as the model's turn.
    settings = GenerationSettings(
        max_tokens=max_tokens,
        n=1,
        temperature=0.0,
        logprobs_k=max(top_k, 5),
        chat=session.is_chat(),
    )
    if include_original:
        engine.split(orig_node.id, 1)  # where its continuation hangs (generate would cut it)
    # What a cancel must leave (the split is kept: it changes no text); the rest is ours.
    before, current = set(session.nodes), session.current_id
    variants: list[Variant] = []
    alts: list[Alt] = []
    if not edits:
        alts = [
            a
            for a in original.top
            if not (a.token_id == original.token_id and a.bytes == original.bytes)
        ][:top_k]
    total = int(include_original) + (len(edits) if edits else len(alts))

    def generate(start_id: str, offset: int | None) -> Node:
        res = engine.generate(start_id, offset, settings, cancel=cancel)
        check(cancel)  # a continuation cut short by the cancel is not a variant
        return res.nodes[0]

    def run(start: Node, label: str, is_original: bool) -> None:
        cont = generate(start.id, 1)  # after the variant's one token
        variants.append(
            Variant(
                label=label,
                node_id=start.id if not is_original else orig_node.id,
                cont_node_id=cont.id,
                continuation=cont.text,
                is_original=is_original,
                finish_reason=cont.finish_reason,
            )
        )
        report(progress, len(variants), total)

    try:
        if include_original:
            check(cancel)
            run(orig_node, original.text, True)
        if edits:
            for text in edits:
                check(cancel)
                new = engine.add(head_id, plain=text, origin="edit", goto=False)
                cont = generate(new.id, None)
                variants.append(
                    Variant(text, new.id, cont.id, cont.text, finish_reason=cont.finish_reason)
                )
                report(progress, len(variants), total)
        else:
            for alt in alts:
                check(cancel)
                picked = engine.pick(orig_node.id, 0, alt)
                run(picked, alt.text, False)
    except Cancelled:
        engine.take_back(before, current)
        raise
    return SweepResult(variants=variants, head_id=head_id)
