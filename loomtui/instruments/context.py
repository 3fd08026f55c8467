"""The context an instrument reads at a point of the tree: one function for all of them.

Multiverse, probe, compare, sweep, adaptive looming and the app's instrument screens ask
:func:`instrument_context` what the model reads just before a point. In a chat session that
is the branch's chat context (:func:`loomtui.engine.branch_context` with ``chat=True``): the
turns before the reply, then the assistant's partial reply as the model's own turn, never a
completion context of the raw text. A backend that can say the exact ids it reads (the local
one: ``context_ids``, chat template included) gets them, so the exact paths (batched
distributions, full-vocabulary probes) apply; a server gets the chat context itself
(messages plus prefill). :func:`extend` moves a context on by some tokens: in chat, inside
the assistant's reply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from ..backends.base import Backend, Context, FullDistribution
from ..core.tokens import decode
from ..core.tree import Node, Session
from ..engine import branch_context


class _Piece(Protocol):
    """A token or an alternative: what extending a context needs of it."""

    @property
    def bytes(self) -> bytes: ...

    @property
    def token_id(self) -> int | None: ...


def instrument_context(
    session: Session, backend: Backend, node_id: str, offset: int | None
) -> Context:
    """The context ending just before the point ``(node_id, offset)`` (at a token: that
    token excluded; None: the node's end), read without changing the tree. A chat session is
    read as its turns; with the exact ids where the backend can say them."""
    if session.is_chat():
        ctx = point_context(session, backend, node_id, offset)
        return exact(ctx, backend)
    return completion_context(session, backend, node_id, offset)


def exact(ctx: Context, backend: Backend) -> Context:
    """``ctx`` as the exact ids the backend will read, where it can say them (a local model:
    BOS, chat template); else ``ctx`` itself."""
    ids_of = getattr(backend, "context_ids", None)
    if ids_of is None or not isinstance(backend, FullDistribution):
        return ctx
    return Context(text=ctx.text, token_ids=list(ids_of(ctx)))


def completion_context(
    session: Session, backend: Backend, node_id: str, offset: int | None
) -> Context:
    """The raw text before the point as a completion context (a model's own ids kept)."""
    node = session.node(node_id)
    if offset is None or offset >= len(node):
        return branch_context(session, node_id, backend, chat=False)
    parent = branch_context(session, node.parent, backend, chat=False) if node.parent else None
    before = b"".join(n.data for n in session.path(node_id)[:-1])
    if node.tokens is not None:
        head = node.tokens[:offset]
        text = (before + b"".join(t.bytes for t in head)).decode("utf-8", "replace")
        same_model = node.model == backend.info().name
        if parent is not None and parent.token_ids is not None and same_model:
            ids = list(parent.token_ids) + [t.token_id for t in head]
            if None not in ids:
                return Context(text=text, token_ids=ids)  # type: ignore[arg-type]
    else:
        text = before.decode("utf-8", "replace") + node.plain[:offset]
    return Context(text=text, token_ids=backend.tokenize(text))


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


def extend(context: Context, pieces: Sequence[_Piece]) -> Context:
    """``context`` followed by ``pieces`` (tokens or alternatives; their ids kept when every
    one has an id). In a chat context they continue the assistant's reply."""
    data = b"".join(p.bytes for p in pieces)
    ids = [p.token_id for p in pieces]
    known = None not in ids
    if context.chat:
        pre = context.prefill_ids
        if pre is None and not context.prefill:
            pre = []
        new_pre = list(pre) + ids if pre is not None and known else None  # type: ignore[operator]
        return dataclasses.replace(
            context, prefill=context.prefill + decode(data), prefill_ids=new_pre
        )
    new_ids = list(context.token_ids) + ids if context.token_ids is not None and known else None
    return Context(text=context.text + decode(data), token_ids=new_ids)  # type: ignore[arg-type]


def reply_context(session: Session, backend: Backend, node_id: str) -> tuple[str, Context | None]:
    """What an instrument that scores a whole text (compare) scores on the branch ending at
    ``node_id``: in a chat session whose branch ends in an assistant turn, that turn's text,
    after the chat context of the turns before it (the reply empty); else the branch's text
    with no context before it."""
    if session.is_chat():
        turns = session.turn_nodes(node_id, True)
        if turns and turns[-1][0] == "assistant":
            nodes = turns[-1][1]
            text = decode(b"".join(n.data for n in nodes))
            return text, point_context(session, backend, nodes[0].id, 0)
    return session.branch_text(node_id), None
