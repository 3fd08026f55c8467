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

The rule at each position (:class:`~.adaptive_rule.Grower`) lives in :mod:`.adaptive_rule`.
Two paths, the same tree: a backend with a forking decoder (the local one,
``fork_decoder``) decodes a branch point's K children as one batch from the parent's KV
cache; any other backend is asked for one greedy generation per node, one child at a time.

The run computes without touching the tree; :func:`commit` hangs the result at the point
in one change (one save). A cancelled run keeps nothing: it raises
:class:`~.progress.Cancelled` before anything was added.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..backends.base import Backend, BackendError, Context, GenerationSettings
from ..core.tokens import DIST_RAW, Token
from ..core.tree import Node, Session
from ..engine import Engine
from ..engine_history import as_one_step
from .adaptive_rule import STOP_REASONS, AdaptiveSettings, Grower, Grown, branch_reason
from .context import extend, point_context
from .progress import Cancelled, Progress, check, report

__all__ = [
    "STOP_REASONS",
    "AdaptiveResult",
    "AdaptiveSettings",
    "ForkingBackend",
    "Grown",
    "branch_reason",
    "commit",
    "extend",
    "loom",
    "point_context",
]


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


# ---------------------------------------------------------------------------------- paths
def _grow_batched(grower: Grower, decoder: Any, context: Context) -> None:
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
    grower: Grower,
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
    grower: Grower, backend: Backend, context: Context, chat: bool
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
    grower = Grower(settings, info.vocab_size, progress, cancel)
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


@as_one_step("adaptive")  # the grown tree: one undo step
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
