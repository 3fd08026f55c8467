"""Adaptive looming: decode greedily, branch where the model is unsure.

From a point, a branch is decoded greedily. Wherever the next-token distribution's entropy
reaches ``H`` nats (exact on a local model; on an API only its *lower bound* from the top-k
list, :func:`~loomtui.core.metrics.entropy_bounds`, so a branch point there is certain and
some uncertain points are missed), or the greedy token's probability falls below ``P``, the
node ends and the top-K alternatives there (optionally only those with p >= a minimum)
each start a child, whose first token is that alternative; each child goes on the same way,
down to ``D`` branch points. A node also ends at ``T`` tokens, at the end of the text, at a
stop string, where it would branch below depth ``D`` ("depth") or where its children would
not fit the node budget ("budget"). So every token that is not a branch point's alternative
is the greedy token of a distribution under the thresholds.

Every token keeps the numbers of the distribution it was drawn from (its top-k, entropy and
logprob): a greedy token those of its own position, a child's first token those of the
branch point. Each node records why it ended in ``node.meta["adaptive"]`` (``reason``:
``"entropy 2.31 >= 2.0"``, ``"p 0.08 < 0.1"``, ``"max tokens"``, ``"eos"``, ``"stop"``,
``"budget"`` or ``"depth"``) and in ``finish_reason`` (``"branch"`` at a branch point).

Two paths, the same tree: a backend with a forking decoder (the local one,
``fork_decoder``) decodes a branch point's K children as one batch from the parent's KV
cache; any other backend is asked for one greedy generation per node, one child at a time.

The run computes without touching the tree; :func:`commit` hangs the result at the point
in one change (one save). A cancelled run keeps nothing: it raises
:class:`~.progress.Cancelled` before anything was added.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..backends.base import Backend, BackendError, Context, GenerationSettings
from ..core.metrics import entropy_bounds
from ..core.tokens import DIST_RAW, Alt, Token, decode, join_bytes
from ..core.tree import Node, Session
from ..engine import Engine, branch_context
from .progress import Cancelled, Progress, check, report

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
        out: dict[str, Any] = {"reason": self.reason, "depth": self.depth}
        if self.branch is not None:
            out.update(self.branch)
        return out


@dataclass(eq=False)
class AdaptiveResult:
    """A grown tree: ``nodes`` parents first, the root (``nodes[0]``) at the start point."""

    context: Context
    prompt_token_ids: list[int] | None
    settings: AdaptiveSettings
    nodes: list[Grown]
    exact: bool  # False: entropies are lower bounds from top-k lists (an API)
    batched: bool  # decoded with the forking decoder
    model_calls: int  # forward passes (batched) or generation requests (one at a time)
    elapsed_s: float = 0.0

    @property
    def root(self) -> Grown:
        return self.nodes[0]

    def kept(self) -> list[Grown]:
        """The nodes that go into the tree (all but an empty root that branched at once)."""
        return [g for g in self.nodes if not g.hangs_at_point]

    def branch_points(self) -> list[Grown]:
        return [g for g in self.nodes if g.finish_reason == "branch"]

    @property
    def tokens(self) -> int:
        return sum(len(g.tokens) for g in self.nodes)


@runtime_checkable
class ForkingBackend(Protocol):
    """A backend that decodes greedy rows forking from shared caches (the local one)."""

    def fork_decoder(self, top_k: int = 20) -> Any: ...


# ---------------------------------------------------------------------------------- context
def point_context(session: Session, backend: Backend, node_id: str, offset: int | None) -> Context:
    """The context ending at the point ``(node_id, offset)`` (None: the node's end), read
    without changing the tree; a chat session is read as its turns."""
    chat = session.is_chat()
    node = session.node(node_id)
    if offset is None or offset >= len(node):
        return branch_context(session, node_id, backend, chat)
    # Inside a node: the path on a scratch copy, its last node cut at the offset.
    path = session.path(node_id)
    nodes: dict[str, Node] = {}
    for n in path:
        nodes[n.id] = dataclasses.replace(
            n,
            children=[],
            tokens=list(n.tokens) if n.tokens is not None else None,
            meta=dict(n.meta),
        )
    last = nodes[node_id]
    if last.tokens is not None:
        last.tokens = last.tokens[:offset]
    else:
        last.plain = last.plain[:offset]
    for n in path[1:]:
        nodes[n.parent].children.append(n.id)  # type: ignore[index]
    scratch = Session(nodes=nodes, root_id=path[0].id, current_id=node_id, meta=session.meta)
    return branch_context(scratch, node_id, backend, chat)


def extend(context: Context, tokens: Sequence[Token]) -> Context:
    """``context`` followed by ``tokens`` (their ids kept when every one has an id)."""
    data = decode(join_bytes(tokens))
    ids = [t.token_id for t in tokens]
    known = None not in ids
    if context.chat:
        pre = context.prefill_ids
        if pre is None and not context.prefill:
            pre = []
        new_pre = list(pre) + ids if pre is not None and known else None  # type: ignore[operator]
        return dataclasses.replace(context, prefill=context.prefill + data, prefill_ids=new_pre)
    new_ids = list(context.token_ids) + ids if context.token_ids is not None and known else None
    return Context(text=context.text + data, token_ids=new_ids)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- the rule
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
        return f"entropy {h:.2f} >= {s.entropy:g}{bound}", numbers
    if s.p is not None and p is not None and p < s.p:
        return f"p {p:.2f} < {s.p:g}", numbers
    return None


def _stop_cut(g: Grown, stops: Sequence[bytes]) -> int | None:
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


class _Grower:
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
        """Check the node after a token was added: False when it ended (T or a stop)."""
        cut = _stop_cut(g, self.stops)
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


# ---------------------------------------------------------------------------------- paths
def _grow_batched(grower: _Grower, decoder: Any, context: Context) -> None:
    """The forking decoder: a branch point's children as one batch, from its cache."""
    root = grower.new(None)
    queue: deque[tuple[Grown, Any, list[Grown]]] = deque()
    rows = decoder.root(context)
    _decode(grower, decoder, rows, [root], queue)
    while queue:
        check(grower.cancel)
        _, prefix, kids = queue.popleft()
        live = []
        for kid in kids:
            if decoder.is_eos(kid.tokens[0].token_id):
                kid.tokens.clear()  # the end of the text is no token
                grower.finish(kid, "eos", "eos")
            elif not grower.after_token(kid):
                continue  # a stop string in its first token
            elif len(kid.tokens) >= grower.s.max_tokens:
                grower.finish(kid, "max tokens", "length")
            else:
                live.append(kid)
        if live:
            rows = decoder.children(prefix, [k.tokens[0].token_id for k in live])
            _decode(grower, decoder, rows, live, queue)


def _decode(
    grower: _Grower,
    decoder: Any,
    rows: Any,
    live: list[Grown],
    queue: deque[tuple[Grown, Any, list[Grown]]],
) -> None:
    """Decode ``live`` (one per row) in lockstep until every one has ended."""
    while live:
        check(grower.cancel)
        feed: list[int | None] = []
        for r, (g, step) in enumerate(zip(live, rows.steps, strict=True)):
            action, alts = grower.at(g, step.top, step.entropy, step.dist)
            if action == "branch":
                kids = [
                    grower.new(g, grower.token(a, step.top, step.entropy, step.dist)) for a in alts
                ]
                queue.append((g, rows.fork(r), kids))
                feed.append(None)
            elif action == "end":
                feed.append(None)
            elif decoder.is_eos(step.top[0].token_id):
                grower.finish(g, "eos", "eos")
                feed.append(None)
            else:
                g.tokens.append(grower.token(step.top[0], step.top, step.entropy, step.dist))
                feed.append(step.top[0].token_id if grower.after_token(g) else None)
        rows.feed(feed)
        live = [g for g, t in zip(live, feed, strict=True) if t is not None]


def _grow_one_at_a_time(
    grower: _Grower, backend: Backend, context: Context, chat: bool
) -> tuple[int, list[int] | None]:
    """Any backend: one greedy generation per node, children one after another. Returns
    the requests made and the prompt's ids (as the backend reported them, if it did)."""
    s = grower.s
    calls = 0
    prompt_ids: list[int] | None = None
    pending: deque[Grown] = deque([grower.new(None)])
    while pending:
        check(grower.cancel)
        g = pending.popleft()
        if g.parent is not None and not grower.after_token(g):
            continue
        ctx = extend(context, _path_tokens(g))
        settings = GenerationSettings(
            max_tokens=s.max_tokens - len(g.tokens),
            n=1,
            temperature=0.0,
            logprobs_k=s.k,
            chat=chat,
        )
        ended = False
        events: Iterator[Any] | None = None
        if settings.max_tokens > 0:
            calls += 1
            events = backend.generate(ctx, settings, grower.cancel)
        try:
            for ev in events or ():
                if ev.token is not None:
                    tok = ev.token
                    action, alts = grower.at(g, tok.top, tok.entropy, tok.dist)
                    if action == "branch":
                        pending.extend(
                            grower.new(g, grower.token(a, tok.top, tok.entropy, tok.dist))
                            for a in alts
                        )
                    if action != "token":
                        ended = True
                        break
                    g.tokens.append(tok)
                    if not grower.after_token(g):
                        ended = True
                        break
                    continue
                if ev.finish_reason == "cancelled" or (grower.cancel and grower.cancel.is_set()):
                    raise Cancelled()
                if ev.finish_reason == "error":
                    raise BackendError(ev.error or "the generation failed")
                if ev.finish_reason == "length" or len(g.tokens) >= s.max_tokens:
                    break
                # The end of the text: was the model unsure there? (Then it branches.)
                calls += 1
                dist = backend.next_distribution(extend(context, _path_tokens(g)), s.k)
                action, alts = grower.at(g, dist.top, dist.entropy, DIST_RAW)
                if action == "branch":
                    pending.extend(
                        grower.new(g, grower.token(a, dist.top, dist.entropy, DIST_RAW))
                        for a in alts
                    )
                elif action == "token":
                    grower.finish(g, "eos", "eos")
                ended = True
                break
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        if prompt_ids is None and calls:
            stats = getattr(backend, "last_stats", None) or {}
            ids = stats.get("prompt_token_ids")
            if ids is not None and g.parent is None:
                prompt_ids = list(ids)
        if not ended:  # T tokens (or the backend's window) reached
            check(grower.cancel)
            grower.finish(g, "max tokens", "length")
    return calls, prompt_ids


def _path_tokens(g: Grown) -> list[Token]:
    """Every token from the start point to the end of ``g``."""
    chain: list[Grown] = []
    node: Grown | None = g
    while node is not None:
        chain.append(node)
        node = node.parent
    return [t for n in reversed(chain) for t in n.tokens]


# ---------------------------------------------------------------------------------- entry
def loom(
    engine: Engine,
    node_id: str,
    offset: int | None,
    settings: AdaptiveSettings,
    *,
    batched: bool = True,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> AdaptiveResult:
    """Grow an adaptive tree from the point ``(node_id, offset)`` (None: the node's end).

    Nothing in the tree changes: :func:`commit` adds the result. ``batched=False`` asks for
    one generation per node even where the backend could fork (the benchmark's baseline).
    ``progress`` is told ``(nodes done, most nodes possible)``; a set ``cancel`` raises
    :class:`~.progress.Cancelled` at the next step, and nothing is kept.
    """
    settings.check()
    backend = engine.require_backend()
    info = backend.info()
    session = engine.session
    context = point_context(session, backend, node_id, offset)
    grower = _Grower(settings, info.vocab_size, progress, cancel)
    check(cancel)
    start = time.perf_counter()
    if batched and isinstance(backend, ForkingBackend):
        decoder = backend.fork_decoder(settings.k)
        _grow_batched(grower, decoder, context)
        calls, prompt_ids, forked = decoder.forward_passes, list(decoder.prompt_ids), True
    else:
        calls, prompt_ids = _grow_one_at_a_time(grower, backend, context, session.is_chat())
        forked = False
        if prompt_ids is None:
            prompt_ids = list(context.token_ids) if context.token_ids is not None else None
    report(progress, grower.done, grower.done)
    return AdaptiveResult(
        context=context,
        prompt_token_ids=prompt_ids,
        settings=settings,
        nodes=grower.nodes,
        exact=info.exact_entropy,
        batched=forked,
        model_calls=calls,
        elapsed_s=time.perf_counter() - start,
    )


def commit(engine: Engine, node_id: str, offset: int | None, result: AdaptiveResult) -> list[Node]:
    """Hang ``result`` at the point ``(node_id, offset)`` (the node is split there if need
    be), in one change of the tree: the nodes, parents first, each with its tokens, its
    ``finish_reason`` and ``meta["adaptive"]``. Sets each grown node's ``node_id``; returns
    the new nodes. The current node does not move."""
    session = engine.session
    head = engine.split(node_id, len(session.node(node_id)) if offset is None else offset)
    info = engine.require_backend().info()
    role = "assistant" if session.is_chat() else None
    record = result.settings.to_dict()
    scratch = Session(nodes={head.id: Node(id=head.id)}, root_id=head.id, current_id=head.id)
    order: list[tuple[Grown, str]] = []
    for g in result.kept():
        parent = g.parent
        parent_id = head.id if parent is None or parent.hangs_at_point else parent.node_id
        node = scratch.add_child(
            parent_id,  # type: ignore[arg-type]
            tokens=g.tokens,
            origin="model",
            settings=record,
            model=info.name,
            backend=info.backend,
            role=role,
            finish_reason=g.finish_reason,
            meta={"adaptive": g.meta()},
        )
        g.node_id = node.id
        order.append((g, node.id))
    added = engine.graft(scratch, [nid for _, nid in order])
    for (g, _), node in zip(order, added, strict=True):
        g.node_id = node.id
    return added
