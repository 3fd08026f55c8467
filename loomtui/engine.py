"""One engine drives generation for the CLI and the app: backend events into the tree.

The CLI's verbs and the app's key presses both call :meth:`Engine.generate`, so there is one
code path from a backend's token to a node. The engine knows nothing of widgets: it reports
progress through callbacks, which the app turns into messages.

**One way in for every change that must be saved.** Every change to the tree that the app,
the verbs and the instruments make goes through an Engine method (generate, pick, add,
edit_branch, apply_scores, delete, set_bookmark, set_label, set_rating, checkout), and each
ends in exactly one save notification (``on_change``; :meth:`Engine.over` wires it to a
:class:`SessionStore`'s autosave and journal). Nothing else calls the save. The engine is not
thread-safe: a worker thread computes (a backend's scores, say) and the owner applies the
result here.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backends.base import Backend, BackendError, Context, GenerationSettings, TokenEvent
from .core.history import History
from .core.tokens import Alt, Token, decode, join_bytes
from .core.tree import Node, Session
from .engine_history import HistoryMethods, undoable

if TYPE_CHECKING:
    from .core.store import SessionStore

TokenCallback = Callable[[Node, Token], None]
FinishCallback = Callable[[Node], None]


@dataclass
class GenerationResult:
    nodes: list[Node]
    head: Node
    elapsed_s: float
    tokens: int
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _segment_ids(nodes: Sequence[Node], backend: Backend, model_name: str) -> list[int] | None:
    """Token ids of ``nodes`` in order: a model's own ids where the node carries them from
    ``model_name``, else the backend's tokenization (None if it cannot tokenize)."""
    ids: list[int] = []
    for node in nodes:
        if (
            node.tokens is not None
            and node.tokens
            and node.model == model_name
            and all(t.token_id is not None for t in node.tokens)
        ):
            ids.extend(t.token_id for t in node.tokens)  # type: ignore[misc]
            continue
        seg = node.text
        if not seg:
            continue
        seg_ids = backend.tokenize(seg)
        if seg_ids is None:
            return None
        ids.extend(seg_ids)
    return ids


def branch_context(session: Session, node_id: str, backend: Backend, chat: bool) -> Context:
    """The context for continuing after ``node_id``.

    Token segments that carry ids from this backend's model keep their ids, so the model
    sees exactly what it produced; plain text is tokenized. If any segment cannot be turned
    into ids, the backend gets the text alone and tokenizes it itself.

    In chat mode the branch is read as its turns (:meth:`Session.turns`): the messages before
    the reply, and, when the branch ends inside or after an assistant turn, that turn as the
    partial reply the model continues as its own (with its ids, as above).
    """
    text = session.branch_text(node_id)
    model_name = backend.info().name
    if chat:
        turns = session.turn_nodes(node_id)
        prefill_nodes: list[Node] = []
        if turns and turns[-1][0] == "assistant":
            prefill_nodes = turns.pop()[1]
        messages = [
            {"role": role, "content": decode(b"".join(n.data for n in nodes))}
            for role, nodes in turns
        ]
        prefill = decode(b"".join(n.data for n in prefill_nodes))
        prefill_ids = _segment_ids(prefill_nodes, backend, model_name) if prefill_nodes else None
        return Context(
            text=text, chat=True, messages=messages, prefill=prefill, prefill_ids=prefill_ids
        )
    ids = _segment_ids(session.path(node_id), backend, model_name)
    return Context(text=text, token_ids=ids)


CONTEXT_POLICIES = ("refuse", "truncate")


def fit_context(
    context: Context, backend: Backend, settings: GenerationSettings
) -> tuple[Context, int]:
    """Apply ``settings.context_policy`` when the context does not fit the model's window.

    Returns the context to use and how many of the oldest tokens were dropped. "refuse"
    raises a one-line :class:`BackendError`; "truncate" keeps the newest tokens, leaving room
    for ``max_tokens``. A backend that cannot count tokens, or a model with no known window,
    is left to refuse on its own.
    """
    policy = settings.context_policy
    if policy not in CONTEXT_POLICIES:
        raise BackendError(f"unknown context policy {policy!r} (use refuse or truncate)")
    limit = backend.info().context_length
    if not limit:
        return context, 0
    ids = context.token_ids
    if ids is None:
        ids = backend.tokenize(context.text)
        if ids is None:
            return context, 0
    if policy == "refuse":
        if len(ids) >= limit:
            raise BackendError(
                f"the context is {len(ids)} tokens but the model's window is {limit}: "
                "shorten the branch, or set the context policy to truncate "
                "(--context-policy truncate) to drop the oldest tokens"
            )
        return context, 0
    keep = limit - settings.max_tokens if settings.max_tokens < limit else limit // 2
    if len(ids) <= keep:
        return context, 0
    if context.chat:
        # Dropping the oldest tokens would cut a turn (or the template) in half.
        raise BackendError(
            f"the conversation is about {len(ids)} tokens but the model's window is {limit}: "
            "a chat context is not truncated; start a shorter branch"
        )
    # Find the shortest suffix of the text whose tokenization fits (binary search on chars).
    text = context.text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        n = len(backend.tokenize(text[mid:]) or ())
        if n <= keep:
            hi = mid
        else:
            lo = mid + 1
    kept_text = text[lo:]
    kept_ids = backend.tokenize(kept_text) or []
    new = Context(
        text=kept_text,
        token_ids=None if context.token_ids is None else kept_ids,
        chat=context.chat,
    )
    return new, len(ids) - len(kept_ids)


class Engine(HistoryMethods):
    """Runs generations from points in a session's tree."""

    def __init__(
        self,
        session: Session,
        backend: Backend | None,
        on_change: Callable[[Session], None] | None = None,
        on_token: TokenCallback | None = None,
        on_finish: FinishCallback | None = None,
    ) -> None:
        self.session = session
        self.backend = backend
        self.on_change = on_change  # called after every finished generation or edit
        # Called for every token and finish of every generation, before the per-call
        # callbacks (the session store journals them: a crash loses at most one token).
        self.on_token = on_token
        self.on_finish = on_finish
        #: undo/redo of every change (see loomtui.engine_history); None: not recorded
        self.history: History | None = None
        #: called after each change to the tree, after ``on_change`` and from the thread that
        #: made it (moving around, a hoist: not called); e.g. the app's search runs again
        self.watchers: list[Callable[[Session], None]] = []

    @classmethod
    def over(cls, store: SessionStore, backend: Backend | None) -> Engine:
        """An engine over ``store``'s session, wired to its journal (every token) and its
        autosave (every change): where the store and the engine meet."""
        from .core.historyfile import HistoryFile

        engine = cls(
            store.session,
            backend,
            on_change=store.autosave,
            on_token=store.on_token,
            on_finish=store.on_finish,
        )
        engine.keep_history(
            History(store.session, HistoryFile(store.path, readonly=store.readonly))
        )
        return engine

    def require_backend(self) -> Backend:
        if self.backend is None:
            raise BackendError(
                "no model attached: this session is open for replay "
                "(start loomtui with --model or --api-base to generate)"
            )
        return self.backend

    def _changed(self, tree: bool = True) -> None:
        """The one notification a change ends in (autosave + journal); ``tree``: the tree
        changed, not only the view (the watchers are told)."""
        if self.on_change is not None:
            self.on_change(self.session)
        for watch in list(self.watchers) if tree else ():
            watch(self.session)

    def save(self) -> None:
        """Save now (ctrl+s): the same notification every change ends in."""
        self._changed(tree=False)

    def generate(
        self,
        node_id: str,
        offset: int | None,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
        on_token: TokenCallback | None = None,
        on_finish: FinishCallback | None = None,
        backend: Backend | None = None,
    ) -> GenerationResult:
        """Generate ``settings.n`` continuations from the point ``(node_id, offset)``.

        Each continuation is a new child node of the point; tokens are appended as they
        arrive, so a cancel or a failure keeps what was generated. A continuation that
        produced nothing because of an error is kept as a visible failed node. ``backend``:
        another model than the engine's own (several models in one generate, see
        :mod:`loomtui.instruments.multimodel`).
        """
        backend = backend if backend is not None else self.require_backend()
        info = backend.info()
        session = self.session
        head = session.split(node_id, len(session.node(node_id)) if offset is None else offset)
        context = branch_context(session, head.id, backend, settings.chat)
        context, dropped = fit_context(context, backend, settings)
        record = settings.to_dict()
        # In chat mode what the model writes is the assistant's turn (continuing the partial
        # reply the context ends in, or a new reply after a user turn).
        role = "assistant" if settings.chat else None
        nodes = [
            session.add_generation(
                head.id, settings=record, model=info.name, backend=info.backend, role=role
            )
            for _ in range(settings.n)
        ]
        if dropped:
            for node in nodes:  # visible in info/the app: this continuation saw less
                node.meta["context_truncated"] = dropped
        session.goto(nodes[0].id)
        cancel = cancel or threading.Event()
        start = time.perf_counter()
        count = 0
        errors: list[str] = []
        self._streaming()  # the undo step so far, kept should a kill cut the stream
        events = backend.generate(context, settings, cancel)
        try:
            for ev in events:
                node = nodes[ev.index]
                if ev.token is not None:
                    node.tokens.append(ev.token)  # type: ignore[union-attr]
                    count += 1
                    if self.on_token is not None:
                        self.on_token(node, ev.token)
                    if on_token is not None:
                        on_token(node, ev.token)
                elif ev.finish_reason is not None:
                    self._finish(node, ev)
                    if ev.error:
                        errors.append(ev.error)
                    if self.on_finish is not None:
                        self.on_finish(node)
                    if on_finish is not None:
                        on_finish(node)
        except BackendError as exc:
            errors.append(str(exc))
            for node in nodes:
                if node.finish_reason is None:
                    self._finish(node, TokenEvent(0, finish_reason="error", error=str(exc)))
        finally:
            events_close = getattr(events, "close", None)
            if events_close is not None:
                events_close()
            for node in nodes:
                if node.finish_reason is None:
                    node.finish_reason = "cancelled" if cancel.is_set() else "error"
            self._changed()
        return GenerationResult(
            nodes=nodes,
            head=head,
            elapsed_s=time.perf_counter() - start,
            tokens=count,
            cancelled=cancel.is_set(),
            errors=errors,
        )

    @staticmethod
    def _finish(node: Node, ev: TokenEvent) -> None:
        node.finish_reason = ev.finish_reason
        if ev.error:
            node.error = ev.error
        elif not node.tokens and ev.finish_reason not in ("cancelled", "stop", "eos"):
            node.error = "the model returned no tokens"

    def find_pick(self, node_id: str, offset: int, alt: Alt) -> tuple[Node, int] | None:
        """Where a branch through ``(node_id, offset)`` already has ``alt`` at that point, as
        ``(node, offset in it)``; None when picking ``alt`` would make a new branch."""
        session = self.session
        node = session.node(node_id)

        def same(tok: Token) -> bool:
            if tok.bytes != alt.bytes:
                return False
            return tok.token_id is None or alt.token_id is None or tok.token_id == alt.token_id

        if offset > 0:
            toks = node.tokens
            return (node, offset) if toks and offset < len(toks) and same(toks[offset]) else None
        if node.parent is None:
            return None
        for sibling in session.children(node.parent):
            if sibling.tokens and same(sibling.tokens[0]):
                return sibling, 0
        return None

    def pick(self, node_id: str, offset: int, alt: Alt) -> Node:
        """Replace the token at ``(node_id, offset)`` with the alternative ``alt``.

        The new token keeps the numbers of its position (the same top-k and entropy); it is
        a new sibling of what followed, which stays. Returns the node holding the picked token.
        A branch that already starts with ``alt`` there is gone to instead (nothing is added,
        nothing saved): see :meth:`find_pick`.
        """
        session = self.session
        node = session.node(node_id)
        if node.tokens is None or not 0 <= offset < len(node.tokens):
            raise ValueError("no token at that position")
        existing = self.find_pick(node_id, offset, alt)
        if existing is not None:
            session.goto(existing[0].id)
            return existing[0]
        original = node.tokens[offset]
        # The same distribution (top-k, entropy, raw or sampled), another token drawn from it.
        token = dataclasses.replace(
            original, text=alt.text, bytes=alt.bytes, token_id=alt.token_id, logprob=alt.logprob
        )
        return self.add(
            node_id,
            offset,
            tokens=[token],
            origin="edit",
            model=node.model,
            backend=node.backend,
            settings={"picked_rank": token.rank()},
            role=session.role(node_id),  # a pick inside a reply is the same assistant turn
        )

    def add(
        self,
        node_id: str,
        offset: int | None = None,
        *,
        tokens: Sequence[Token] | None = None,
        plain: str = "",
        origin: str = "model",
        model: str | None = None,
        backend: str | None = None,
        settings: dict[str, Any] | None = None,
        finish_reason: str | None = None,
        goto: bool = True,
        role: str | None = None,
    ) -> Node:
        """Hang a new node at the point ``(node_id, offset)`` (None: the node's end), splitting
        there if needed: a prompt, an inserted path, a scored text, a typed variant. The new
        node becomes current unless ``goto`` is False. Saved.

        ``role`` is its chat turn (see :meth:`add_turn` for a new message); left out, in a
        chat session it is the turn of the point it hangs at (a model's node: the
        assistant's)."""
        session = self.session
        if role is None and session.is_chat():
            role = "assistant" if origin == "model" else session.role(node_id, True)
        head = session.split(node_id, len(session.node(node_id)) if offset is None else offset)
        new = session.add_child(
            head.id,
            tokens=tokens,
            plain=plain,
            origin=origin,
            model=model,
            backend=backend,
            settings=settings,
            finish_reason=finish_reason,
            role=role,
        )
        if goto:
            session.goto(new.id)
        self._changed()
        return new

    def add_turn(self, node_id: str, text: str, role: str = "user") -> Node:
        """A new chat message (a user's, by default) after the end of ``node_id``'s node: the
        turn before it ends there, and generating from the new node answers it. Becomes
        current; saved."""
        return self.add(node_id, None, plain=text, origin="prompt", role=role)

    def split(self, node_id: str, offset: int) -> Node:
        """Make ``(node_id, offset)`` a node boundary (see :meth:`Session.split`); saved when
        a node was cut. Returns the node that ends there."""
        before = len(self.session.nodes)
        head = self.session.split(node_id, offset)
        if len(self.session.nodes) != before:
            self._changed()
        return head

    def edit_branch(self, node_id: str, text: str) -> Node:
        """Make the branch ending at ``node_id`` read ``text`` (the original stays as a
        sibling; see :meth:`Session.edit_branch`). Saved when anything changed."""
        before = self.session.current_id
        node = self.session.edit_branch(node_id, text)
        parent = self.session.nodes.get(node.parent or "")
        if node.id != node_id and node.origin == "edit" and parent is not None:
            if parent.parent is None:  # nothing before it: text typed at the start
                node.origin = "prompt"
        if node.id != node_id or self.session.current_id != before:
            self._changed()
        return node

    def apply_scores(self, scored: Sequence[tuple[str, Sequence[Token], str]]) -> int:
        """Swap scored tokens into plain-text nodes: ``(node_id, tokens, model name)`` each,
        as a worker computed them. A node is changed only if it still exists, is still plain
        text, and the tokens spell exactly its bytes. Returns how many changed; saved once."""
        count = 0
        for node_id, tokens, model in scored:
            node = self.session.nodes.get(node_id)
            if node is None or node.tokens is not None or not tokens:
                continue
            if join_bytes(tokens) != node.data:
                continue
            node.tokens = list(tokens)
            node.plain = ""
            node.model = model
            node.meta["scored"] = True
            count += 1
        if count:
            self._changed()
        return count

    def graft(self, source: Session, node_ids: Sequence[str]) -> list[Node]:
        """Copy the nodes ``node_ids`` of ``source`` (a copy of this session that a worker
        grew, e.g. by a replay) into this session, parents before children; nodes whose
        parent is gone here are skipped. Returns the new nodes; saved once."""
        renamed: dict[str, str] = {}
        out: list[Node] = []
        for nid in node_ids:
            node = source.node(nid)
            parent = renamed.get(node.parent or "", node.parent)
            if parent is None or parent not in self.session:
                continue
            copy = self.session.attach(dataclasses.replace(node, parent=parent))
            renamed[nid] = copy.id
            out.append(copy)
        if out:
            self._changed()
        return out

    def delete(self, node_id: str) -> None:
        """Delete the subtree at ``node_id`` (never the root). Saved."""
        self.session.delete(node_id)
        self._changed()

    def take_back(self, before: set[str], current: str) -> None:
        """Delete every subtree added since the tree held the nodes ``before`` (the new nodes
        whose parent was there before) and go back to ``current``: how a cancelled
        instrument run leaves nothing behind. Saved once."""
        session = self.session
        added = [
            nid
            for nid, n in session.nodes.items()
            if nid not in before and (n.parent is None or n.parent in before)
        ]
        for nid in added:
            session.delete(nid)
        if current in session:
            session.goto(current)
        self._changed()

    def set_bookmark(self, node_id: str, on: bool) -> None:
        """Bookmark ``node_id`` or clear its bookmark. Saved."""
        self.session.set_bookmark(node_id, on)
        self._changed()

    def set_label(self, node_id: str, label: str | None) -> None:
        """Label ``node_id`` (None or blank clears it). Saved."""
        self.session.set_label(node_id, label.strip() if label else None)
        self._changed()

    def set_rating(self, node_id: str, rating: int | None) -> None:
        """Rate ``node_id`` -1, 0 or +1 (None clears it; see core/ratings). Saved."""
        from .core.ratings import check_rating

        self.session.node(node_id).rating = check_rating(rating)
        self._changed()

    def checkout(self, node_id: str) -> None:
        """Go to ``node_id``: it becomes current, and each node above it remembers the child
        on the way down ("checked out": going up and back down returns here). Saved when
        a remembered child changed (moving along one branch saves nothing)."""
        path = self.session.path(node_id)
        before = [n.checked for n in path]
        self.session.goto(node_id)
        if [n.checked for n in path] != before:
            self._changed(tree=False)

    def sort_children(self, node_id: str, key: str, descending: bool | None = None) -> None:
        """Order the children of ``node_id`` by a sort key (core/siblings.SORT_KEYS). Saved."""
        from .core.siblings import sorted_children

        self.session.node(node_id).children = sorted_children(
            self.session, node_id, key, descending
        )
        self._changed()

    def dedup(self, node_id: str | None, whole: bool = False) -> list[tuple[str, list[str]]]:
        """Merge identical siblings among the children of ``node_id`` (``whole``: at every
        node under it too); see core/siblings.dedup_children. Saved when any merged."""
        from .core.siblings import dedup_children, dedup_tree

        nid = node_id or self.session.root_id
        merges = dedup_tree(self.session, nid) if whole else dedup_children(self.session, nid)
        if merges:
            self._changed()
        return merges

    def set_hidden(self, node_ids: Sequence[str], hidden: bool) -> list[str]:
        """Soft-hide ``node_ids`` or show them again (the current node leaves a hidden
        branch for its nearest shown ancestor). Saved when any changed."""
        from .core.siblings import set_hidden

        changed = set_hidden(self.session, node_ids, hidden)
        if changed:
            self._changed()
        return changed


# Every public Engine method is one undo step (loomtui.engine_history), later ones included.
undoable(Engine)
