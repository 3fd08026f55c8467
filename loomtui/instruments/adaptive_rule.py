"""Adaptive looming's rule and its pieces: the settings, a grown node, and the decision at
each position of a growing node (take the greedy token, branch, or end, and why), shared
by both ways of decoding in :mod:`loomtui.instruments.adaptive`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import BackendError
from ..core.metrics import entropy_bounds
from ..core.tokens import Alt, Token, decode, join_bytes
from .progress import Progress, report

#: The reasons a node ends that are not a branch point.
STOP_REASONS = ("max tokens", "eos", "stop", "budget", "depth")


@dataclass(frozen=True)
class AdaptiveSettings:
    """How to grow the tree. ``entropy`` (H, nats) and ``p`` (P) are the branch thresholds
    (None: not used; at least one must be set); ``top_k`` (K) children per branch point,
    only those with p >= ``min_p``; ``max_depth`` (D) branch points on any path;
    ``max_tokens`` (T) per node; ``max_nodes`` the whole tree's budget."""

    entropy: float | None = 2.0
    p: float | None = None
    top_k: int = 3
    max_depth: int = 2
    max_tokens: int = 24
    max_nodes: int = 64
    min_p: float = 0.0
    stop: tuple[str, ...] = ()
    logprobs_k: int = 20

    def check(self) -> None:
        """Refuse settings that cannot grow a tree, with a one-line reason."""
        if self.entropy is None and self.p is None:
            raise ValueError("give a branch entropy (H) or a branch probability (P)")
        if self.entropy is not None and self.entropy < 0:
            raise ValueError("the branch entropy must be 0 or more (nats)")
        if self.p is not None and not 0 < self.p <= 1:
            raise ValueError("the branch probability must be in (0, 1]")
        if self.top_k < 1 or self.max_depth < 0 or self.max_tokens < 1 or self.max_nodes < 1:
            raise ValueError("top-K, max tokens and max nodes must be at least 1, depth 0 or more")
        if not 0 <= self.min_p <= 1:
            raise ValueError("the minimum probability must be in [0, 1]")

    @property
    def k(self) -> int:
        """How many alternatives each distribution must list (at least K)."""
        return max(self.top_k, self.logprobs_k, 1)

    def bound(self) -> int:
        """The most nodes the tree can have: the budget, or 1 + K + ... + K^D if smaller."""
        total, level = 0, 1
        for _ in range(self.max_depth + 1):
            total += level
            level *= self.top_k
            if total >= self.max_nodes:
                return self.max_nodes
        return min(total, self.max_nodes)

    def to_dict(self) -> dict[str, Any]:
        """What each node records of the run (``settings``; ``instrument`` marks it as
        grown, not sampled, so a replay does not re-run it)."""
        return {
            "instrument": "adaptive",
            "temperature": 0.0,
            "branch_entropy": self.entropy,
            "branch_p": self.p,
            "top_k": self.top_k,
            "max_depth": self.max_depth,
            "max_tokens": self.max_tokens,
            "max_nodes": self.max_nodes,
            "min_p": self.min_p,
            "stop": list(self.stop),
            "logprobs_k": self.k,
        }


@dataclass(eq=False)
class Grown:
    """A node the run grew (not yet in the tree). ``depth`` counts the branch points above
    it; ``prior`` is the text generated before it since the start point (stop strings may
    straddle a node boundary). At a branch point ``branch`` holds the distribution's
    numbers there: ``{"entropy", "entropy_exact", "p"}``."""

    parent: Grown | None
    depth: int
    tokens: list[Token] = field(default_factory=list)
    prior: bytes = b""
    reason: str | None = None
    finish_reason: str | None = None
    branch: dict[str, Any] | None = None
    children: list[Grown] = field(default_factory=list)
    node_id: str | None = None  # its id in the session, once committed

    @property
    def data(self) -> bytes:
        return join_bytes(self.tokens)

    @property
    def text(self) -> str:
        return decode(self.data)

    @property
    def hangs_at_point(self) -> bool:
        """An empty root that branched at once: its children hang at the start point and
        it is no node of its own."""
        return self.parent is None and not self.tokens and self.finish_reason == "branch"

    def meta(self) -> dict[str, Any]:
        """What the node records (``meta["adaptive"]``): why it ended, its depth, the
        numbers where it branched or would have, and why its parent branched (``after``;
        for the first nodes of a point that was itself uncertain, the only record of it)."""
        out: dict[str, Any] = {"reason": self.reason, "depth": self.depth}
        if self.branch is not None:
            out.update(self.branch)
        if self.parent is not None:
            out["after"] = self.parent.reason
        return out


def branch_reason(
    top: Sequence[Alt], entropy: float | None, vocab_size: int | None, s: AdaptiveSettings
) -> tuple[str, dict[str, Any]] | None:
    """Why the distribution ``(top, entropy)`` is a branch point, and its numbers; None
    when it is not. Without an exact entropy its lower bound from ``top`` is used."""
    exact = entropy is not None
    h = entropy if exact else (entropy_bounds(top, vocab_size).lower if top else None)
    p = top[0].prob if top else None
    numbers = {"entropy": h, "entropy_exact": exact, "p": p}
    if s.entropy is not None and h is not None and h >= s.entropy:
        bound = "" if exact else " (lower bound)"
        return f"entropy {h:.2f} >= {float(s.entropy)}{bound}", numbers
    if s.p is not None and p is not None and p < s.p:
        return f"p {p:.2f} < {float(s.p)}", numbers
    return None


def stop_cut(g: Grown, stops: Sequence[bytes]) -> int | None:
    """How many of ``g``'s tokens come before a stop string that ends in them (None: no
    stop string there). The stop string and what follows it are not kept."""
    if not stops:
        return None
    data = g.prior + g.data
    first = None
    for s in stops:
        at = data.find(s, max(0, len(g.prior) - len(s) + 1))
        if at >= 0 and (first is None or at < first):
            first = at
    if first is None:
        return None
    keep, end = 0, len(g.prior)
    for tok in g.tokens:
        end += len(tok.bytes)
        if end > first:
            break
        keep += 1
    return keep


class Grower:
    """The rule, applied position by position to every growing node (both paths)."""

    def __init__(
        self,
        s: AdaptiveSettings,
        vocab_size: int | None,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> None:
        self.s = s
        self.vocab_size = vocab_size
        self.progress = progress
        self.cancel = cancel
        self.stops = [x.encode("utf-8") for x in s.stop if x]
        self.nodes: list[Grown] = []
        self.created = 0  # nodes that will be in the tree (the budget counts these)
        self.done = 0
        self.total = s.bound()

    def new(self, parent: Grown | None, first: Token | None = None) -> Grown:
        g = Grown(
            parent=parent,
            depth=0 if parent is None else parent.depth + 1,
            prior=b"" if parent is None else parent.prior + parent.data,
        )
        if first is not None:
            g.tokens.append(first)
        self.nodes.append(g)
        if parent is not None:
            parent.children.append(g)
            self.created += 1
        return g

    def finish(self, g: Grown, reason: str, finish_reason: str) -> None:
        g.reason, g.finish_reason = reason, finish_reason
        if g.hangs_at_point:
            return
        if g.parent is None:
            self.created += 1  # the root counts once it is a node of its own
        self.done += 1
        report(self.progress, min(self.done, self.total), max(self.total, self.done))

    def after_token(self, g: Grown) -> bool:
        """Check the node after a token was added: False when a stop string ended it."""
        cut = stop_cut(g, self.stops)
        if cut is not None:
            del g.tokens[cut:]
            self.finish(g, "stop", "stop")
            return False
        return True

    def at(
        self, g: Grown, top: Sequence[Alt], entropy: float | None, dist: str
    ) -> tuple[str, list[Alt]]:
        """Decide at the next position of ``g`` from its distribution: ``("token", [])``
        to take the greedy token, ``("branch", alternatives)`` or ``("end", [])``."""
        s = self.s
        if len(g.tokens) >= s.max_tokens:
            self.finish(g, "max tokens", "length")
            return "end", []
        why = branch_reason(top, entropy, self.vocab_size, s)
        if why is not None:
            reason, numbers = why
            # The greedy token always; the others only from min_p up.
            alts = [a for i, a in enumerate(top[: s.top_k]) if i == 0 or a.prob >= s.min_p]
            if g.depth >= s.max_depth:
                g.branch = numbers
                self.finish(g, "depth", "depth")
                return "end", []
            budget_root = 1 if g.parent is None and g.tokens else 0
            if self.created + budget_root + len(alts) > s.max_nodes:
                g.branch = numbers
                self.finish(g, "budget", "budget")
                return "end", []
            g.branch = {**numbers, "top": len(alts)}
            self.finish(g, reason, "branch")
            return "branch", alts
        if not top:
            raise BackendError("the backend gave no top-k list to decode greedily from")
        return "token", []

    @staticmethod
    def token(alt: Alt, top: Sequence[Alt], entropy: float | None, dist: str) -> Token:
        """``alt`` as a token drawn from the distribution ``(top, entropy)``."""
        return Token(alt.text, alt.bytes, alt.token_id, alt.logprob, top, entropy, dist)
