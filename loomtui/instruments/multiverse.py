"""Block multiverse: the top-k next tokens expanded to a depth, with path probabilities.

Expansion is breadth-first and batched: one :meth:`Backend.next_distributions` call per
level (one padded forward pass on the local backend), so depth ``d`` costs ``d`` calls
however wide the tree is. A branch's ``path_logprob`` is the sum of the conditional
logprobs from the prompt, so its probability is the product along the path.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, Context, Distribution
from ..core.tokens import Alt, Token
from ..core.tree import Node
from ..engine import Engine
from ..engine_history import as_one_step
from .context import extend
from .progress import Progress, check, report


@dataclass(eq=False)
class Branch:
    """One token in the multiverse, reached by the path of its ancestors."""

    alt: Alt  # the token and its conditional logprob given the path before it
    path_logprob: float
    parent: Branch | None = None
    children: list[Branch] = field(default_factory=list)
    dist: Distribution | None = None  # the distribution after this token (None at a leaf)

    @property
    def prob(self) -> float:
        """Probability of the whole path from the prompt to this token."""
        return math.exp(self.path_logprob)

    def path(self) -> list[Branch]:
        """Branches from the first token after the prompt down to this one."""
        out: list[Branch] = []
        node: Branch | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        return out[::-1]

    def path_bytes(self) -> bytes:
        return b"".join(b.alt.bytes for b in self.path())

    def covered(self) -> float:
        """Conditional mass of this token's listed children (1 - what 'other' holds)."""
        return sum(c.alt.prob for c in self.children)


@dataclass(eq=False)
class Multiverse:
    """The expansion from one context."""

    context: Context
    prompt_token_ids: list[int] | None
    depth: int
    top_k: int
    children: list[Branch]
    dist: Distribution  # the distribution right after the prompt
    calls: int = 0  # backend calls made (one per level when batched)
    exact: bool = True  # False when the backend's entropies are only bounds

    def walk(self) -> Iterator[Branch]:
        stack = list(reversed(self.children))
        while stack:
            b = stack.pop()
            yield b
            stack.extend(reversed(b.children))

    def leaves(self) -> list[Branch]:
        return [b for b in self.walk() if not b.children]

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (``prob``/``logprob`` are of the whole path)."""

        def one(b: Branch) -> dict[str, Any]:
            return {
                "text": b.alt.text,
                "bytes": b.alt.bytes.hex(),
                "token_id": b.alt.token_id,
                "logprob": b.path_logprob,
                "prob": b.prob,
                "token_logprob": b.alt.logprob,
                "children": [one(c) for c in b.children],
            }

        return {
            "prompt": self.context.text,
            "prompt_token_ids": self.prompt_token_ids,
            "depth": self.depth,
            "top_k": self.top_k,
            "backend_calls": self.calls,
            "children": [one(b) for b in self.children],
        }


def _effective_k(backend: Backend, top_k: int) -> int:
    cap = backend.info().max_logprobs
    return min(top_k, cap) if cap else top_k


def expand(
    backend: Backend,
    context: Context,
    depth: int,
    top_k: int,
    batched: bool = True,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Multiverse:
    """Expand the ``top_k`` most likely tokens to ``depth`` levels after ``context``.

    ``batched=False`` asks for one distribution at a time (the benchmark's baseline); the
    numbers are the same either way. ``progress`` is told ``(levels done, depth)``; a set
    ``cancel`` stops the expansion between levels with :class:`~.progress.Cancelled`.
    """
    if depth < 1 or top_k < 1:
        raise ValueError("depth and top-k must be at least 1")
    k = _effective_k(backend, top_k)
    info = backend.info()

    def fetch(contexts: list[Context]) -> list[Distribution]:
        if batched:
            return backend.next_distributions(contexts, top_k=k)
        return [backend.next_distribution(c, top_k=k) for c in contexts]

    check(cancel)
    root_dist = fetch([context])[0]
    calls = 1
    report(progress, 1, depth)
    mv = Multiverse(
        context=context,
        prompt_token_ids=list(context.token_ids) if context.token_ids is not None else None,
        depth=depth,
        top_k=k,
        children=[],
        dist=root_dist,
        exact=info.exact_entropy,
    )
    mv.children = [Branch(alt=a, path_logprob=a.logprob) for a in root_dist.top[:k]]
    frontier = list(mv.children)
    for level in range(1, depth):
        if not frontier:
            break
        check(cancel)
        contexts = [extend(context, [b.alt for b in br.path()]) for br in frontier]
        dists = fetch(contexts)
        calls += 1 if batched else len(contexts)
        nxt: list[Branch] = []
        for br, dist in zip(frontier, dists, strict=True):
            br.dist = dist
            br.children = [
                Branch(alt=a, path_logprob=br.path_logprob + a.logprob, parent=br)
                for a in dist.top[:k]
            ]
            nxt.extend(br.children)
        frontier = nxt
        report(progress, level + 1, depth)
    mv.calls = calls
    return mv


@as_one_step("insert")  # the split and the path: one undo step
def insert_path(
    engine: Engine,
    node_id: str,
    offset: int | None,
    mv: Multiverse,
    branch: Branch,
    model: str | None = None,
    backend_kind: str | None = None,
) -> Node:
    """Insert the path to ``branch`` as a new branch at the point ``(node_id, offset)``.

    Each inserted token keeps the top-k and entropy of its own position (the distribution
    it was chosen from), so the token view's menus stay right. The node is complete
    (``finish_reason`` "inserted", never an interrupted generation) and saved. Returns it.
    """
    tokens: list[Token] = []
    before = mv.dist
    for b in branch.path():
        tokens.append(
            Token(
                text=b.alt.text,
                bytes=b.alt.bytes,
                token_id=b.alt.token_id,
                logprob=b.alt.logprob,
                top=tuple(before.top),
                entropy=before.entropy,
            )
        )
        before = b.dist  # type: ignore[assignment]
        if before is None:
            break
    return engine.add(
        node_id,
        offset,
        tokens=tokens,
        origin="model",
        model=model,
        backend=backend_kind,
        settings={"instrument": "multiverse", "depth": mv.depth, "top_k": mv.top_k},
        finish_reason="inserted",
    )


@dataclass
class Block:
    """A block drawn for one branch: rows ``[start, start + rows)`` of a column."""

    branch: Branch | None  # None for the mass outside the listed tokens
    start: int
    rows: int
    share: float  # of the column's total (after renormalising to the zoom)


def layout(branches: list[Branch], parent_prob: float, rows: int) -> list[Block]:
    """Split ``rows`` among ``branches`` by probability relative to ``parent_prob``.

    Boundaries are rounded from cumulative shares, so the blocks always tile the column
    and a block's height is its probability to within one row. What the listed tokens do
    not cover is one trailing block with ``branch=None``.
    """
    out: list[Block] = []
    cum = 0.0
    prev = 0
    for b in branches:
        share = b.prob / parent_prob if parent_prob > 0 else 0.0
        cum += share
        end = min(rows, round(cum * rows))
        out.append(Block(branch=b, start=prev, rows=max(0, end - prev), share=share))
        prev = max(prev, end)
    rest = max(0.0, 1.0 - cum)
    out.append(Block(branch=None, start=prev, rows=rows - prev, share=rest))
    return out
