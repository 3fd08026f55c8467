"""The session tree: nodes holding segments of text or tokens, and the operations on them.

A *branch* is the path from the root to a node; its full text is the join of the segments'
bytes along that path. A *point* is ``(node_id, offset)``: ``offset`` counts tokens in a token
segment and characters in a plain-text segment. Operations never destroy what a person or a
model wrote: generating or editing inside a node splits it and adds a sibling.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .branchwalk import branches_bytes
from .errors import LoomError
from .metrics import joint_logprob
from .tokens import Token, decode, join_bytes

ORIGINS = ("prompt", "model", "edit", "import")
#: The turns of a chat session. A node's ``role`` is None outside chat sessions (and in chat
#: sessions written before roles were recorded: :meth:`Session.role` infers them).
ROLES = ("system", "user", "assistant")
#: ``Session.meta`` key for the generation settings last chosen for this session (a dict of
#: GenerationSettings' fields), restored over the config's defaults when it is reopened.
#: Files without it (every older one) open with the defaults.
SETTINGS_META = "settings"


class TreeError(LoomError, ValueError):
    """An operation that does not make sense on this tree (unknown node, bad offset...)."""


@dataclass(slots=True, eq=False)
class Node:
    """One segment of text in the tree.

    Exactly one of ``tokens`` (a model's tokens, or text that has been scored) and ``plain``
    (text a person wrote or imported, with no probabilities) describes the segment.
    """

    id: str
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    origin: str = "prompt"
    tokens: list[Token] | None = None
    plain: str = ""
    settings: dict[str, Any] | None = None
    model: str | None = None
    backend: str | None = None
    created: float = field(default_factory=time.time)
    modified: float | None = None
    bookmark: bool = False
    label: str | None = None
    visited: bool = False
    finish_reason: str | None = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: The chat turn this segment belongs to ("system", "user", "assistant"); None outside
    #: chat sessions. Consecutive nodes of one role along a branch form one message.
    role: str | None = None
    #: Soft-hidden (pruned): kept in the file, out of the views, sibling moves and ``--all``.
    hidden: bool = False
    #: Times this continuation was drawn (identical siblings merged: core/siblings.dedup).
    count: int = 1
    checked: str | None = None  # the child last gone to: going back down returns there
    rating: int | None = None  # -1, 0 or +1 (bad, so-so, good); None: unrated

    @property
    def is_tokens(self) -> bool:
        return self.tokens is not None

    @property
    def data(self) -> bytes:
        """The segment's raw bytes."""
        if self.tokens is not None:
            return join_bytes(self.tokens)
        return self.plain.encode("utf-8", "surrogatepass")

    @property
    def text(self) -> str:
        """The segment's text (partial UTF-8 inside the segment shown as U+FFFD)."""
        if self.tokens is not None:
            return decode(join_bytes(self.tokens))
        return self.plain

    def __len__(self) -> int:
        """Units in the segment: tokens, or characters of plain text."""
        return len(self.tokens) if self.tokens is not None else len(self.plain)

    def joint_logprob(self) -> float | None:
        """The segment's :func:`~loomtui.core.metrics.joint_logprob` (None for plain text)."""
        if self.tokens is None:
            return None
        return joint_logprob(t.logprob for t in self.tokens)


def new_id(existing: dict[str, Node] | None = None) -> str:
    """A short random node id, unique within ``existing``."""
    while True:
        nid = secrets.token_hex(5)
        if existing is None or nid not in existing:
            return nid


@dataclass(eq=False)
class Session:
    """A tree of nodes, the node being looked at, and free-form metadata."""

    nodes: dict[str, Node]
    root_id: str
    current_id: str
    meta: dict[str, Any] = field(default_factory=dict)

    def chosen_settings(self) -> dict[str, Any] | None:
        """The generation settings last chosen for this session (see SETTINGS_META). A chat
        session that never recorded its mode (older files) says ``chat: True``, so it
        reopens in chat mode."""
        value = self.meta.get(SETTINGS_META)
        chosen = dict(value) if isinstance(value, dict) else None
        if (chosen is None or "chat" not in chosen) and self.is_chat():
            chosen = {**(chosen or {}), "chat": True}
        return chosen

    def choose_settings(self, settings: dict[str, Any]) -> None:
        """Keep ``settings`` with the session (the caller saves, as after any change)."""
        self.meta[SETTINGS_META] = dict(settings)

    # ------------------------------------------------------------------ creation
    @classmethod
    def new(cls, prompt: str = "", **meta: Any) -> Session:
        """An empty session: an empty root, and the prompt as its first child if given."""
        root = Node(id=new_id(), origin="prompt")
        session = cls(nodes={root.id: root}, root_id=root.id, current_id=root.id)
        session.meta.update({"created": time.time(), **meta})
        if prompt:
            node = session.add_child(root.id, plain=prompt, origin="prompt")
            session.current_id = node.id
        return session

    # ------------------------------------------------------------------ lookup
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise TreeError(f"no node with id {node_id!r}") from None

    def find(self, ref: str | None) -> Node:
        """The node ``ref`` names: an exact id or a unique id prefix (None: the current node).

        The one lookup for every id a person types (verbs' ``--node``, the app); an unknown or
        ambiguous ``ref`` is a one-line :class:`TreeError`.
        """
        if ref is None:
            return self.current
        if ref in self.nodes:
            return self.nodes[ref]
        matches = sorted(nid for nid in self.nodes if nid.startswith(ref)) if ref else []
        if len(matches) == 1:
            return self.nodes[matches[0]]
        if not matches:
            raise TreeError(f"no node with id {ref!r}")
        shown = ", ".join(matches[:4]) + (", ..." if len(matches) > 4 else "")
        raise TreeError(f"node id prefix {ref!r} is ambiguous ({len(matches)} nodes: {shown})")

    @property
    def root(self) -> Node:
        return self.nodes[self.root_id]

    @property
    def current(self) -> Node:
        return self.nodes[self.current_id]

    def parent(self, node_id: str) -> Node | None:
        pid = self.node(node_id).parent
        return None if pid is None else self.nodes[pid]

    def children(self, node_id: str) -> list[Node]:
        return [self.nodes[c] for c in self.node(node_id).children]

    def siblings(self, node_id: str) -> list[Node]:
        """The node and its siblings, in order (just the node for the root)."""
        parent = self.parent(node_id)
        if parent is None:
            return [self.node(node_id)]
        return [self.nodes[c] for c in parent.children]

    def sibling(self, node_id: str, step: int) -> Node:
        """The sibling ``step`` places away, wrapping around (hidden ones skipped)."""
        sibs = [n for n in self.siblings(node_id) if not n.hidden or n.id == node_id]
        idx = next(i for i, n in enumerate(sibs) if n.id == node_id)
        return sibs[(idx + step) % len(sibs)]

    def path(self, node_id: str) -> list[Node]:
        """Nodes from the root to ``node_id``, inclusive."""
        out: list[Node] = []
        nid: str | None = node_id
        seen: set[str] = set()
        while nid is not None:
            if nid in seen:
                raise TreeError("cycle in parent links")
            seen.add(nid)
            node = self.node(nid)
            out.append(node)
            nid = node.parent
        out.reverse()
        return out

    def depth(self, node_id: str) -> int:
        return len(self.path(node_id)) - 1

    def branch_bytes(self, node_id: str) -> bytes:
        """The raw bytes of the branch ending at ``node_id``."""
        return b"".join(n.data for n in self.path(node_id))

    def branch_text(self, node_id: str) -> str:
        """The full text of the branch ending at ``node_id``.

        Bytes are joined across segments before decoding, so a character split between
        two tokens or two nodes comes out whole.
        """
        return decode(self.branch_bytes(node_id))

    def branches_bytes(self, node_ids: Sequence[str]) -> list[bytes]:
        """:meth:`branch_bytes` of each of ``node_ids``, in their order, from one walk
        (:func:`loomtui.core.branchwalk.branches_bytes`)."""
        return branches_bytes(self, node_ids)

    # ------------------------------------------------------------------ chat turns
    def is_chat(self) -> bool:
        """Whether this is a chat session: its chosen settings say chat, a node records a
        role, or a model node was generated in chat mode (files written before roles)."""
        chosen = self.meta.get(SETTINGS_META)
        if isinstance(chosen, dict) and chosen.get("chat") is True:
            return True
        for node in self.nodes.values():
            if node.role is not None:
                return True
            if node.origin == "model" and node.settings and node.settings.get("chat") is True:
                return True
        return False

    def role(self, node_id: str, chat: bool | None = None) -> str | None:
        """The turn ``node_id`` belongs to: its recorded role, else (in a chat session) the
        role inferred as loomtui records it today: a prompt is the user's, a model's node
        the assistant's, an edit or import continues the turn of the node before it.
        None outside chat sessions. ``chat`` saves the :meth:`is_chat` scan when known."""
        node = self.node(node_id)
        if node.role is not None:
            return node.role
        if not (self.is_chat() if chat is None else chat):
            return None
        seen = 0
        while True:
            if node.role is not None:
                return node.role
            if node.origin == "model":
                return "assistant"
            if node.origin == "prompt" or node.parent is None:
                return "user"
            node = self.nodes[node.parent]
            seen += 1
            if seen > len(self.nodes):
                raise TreeError("cycle in parent links")

    def path_roles(self, node_id: str, chat: bool) -> list[tuple[Node, str]]:
        """Each node from the root to ``node_id`` with its turn's role, in one pass (the
        rule of :meth:`role`, each inferred role read off the node before it); outside a
        chat session, what a node records or "user"."""
        out: list[tuple[Node, str]] = []
        previous = "user"
        for node in self.path(node_id):
            role = node.role
            if role is None:
                if not chat or node.origin == "prompt" or node.parent is None:
                    role = "user"
                elif node.origin == "model":
                    role = "assistant"
                else:
                    role = previous
            out.append((node, role))
            previous = role
        return out

    def turn_nodes(self, node_id: str, chat: bool | None = None) -> list[tuple[str, list[Node]]]:
        """The branch ending at ``node_id`` as chat turns: ``(role, nodes)`` with consecutive
        nodes of one role together; empty nodes are left out. Outside a chat session the
        whole branch is one user turn. ``chat``: :meth:`is_chat` when already known."""
        if chat is None:
            chat = self.is_chat()
        out: list[tuple[str, list[Node]]] = []
        for node, role in self.path_roles(node_id, chat):
            if not len(node):
                continue
            if out and out[-1][0] == role:
                out[-1][1].append(node)
            else:
                out.append((role, [node]))
        return out

    def turns(self, node_id: str, chat: bool | None = None) -> list[tuple[str, str]]:
        """The messages along the branch ending at ``node_id``: ``(role, text)`` per turn
        (bytes joined across a turn's nodes before decoding, so a split character is whole)."""
        return [
            (role, decode(b"".join(n.data for n in nodes)))
            for role, nodes in self.turn_nodes(node_id, chat)
        ]

    def leaves(self, under: str | None = None) -> list[Node]:
        """Leaves of the tree (or of the subtree ``under``), in depth-first order."""
        return [n for n in self.walk(under) if not n.children]

    def walk(self, under: str | None = None) -> Iterator[Node]:
        """Depth-first, pre-order walk (iterative: deep trees are fine)."""
        stack = [under or self.root_id]
        while stack:
            node = self.nodes[stack.pop()]
            yield node
            stack.extend(reversed(node.children))

    def bookmarks(self) -> list[Node]:
        return [n for n in self.walk() if n.bookmark]

    def descend(self, node_id: str) -> Node:
        """Down to a leaf: the checked-out child at each step, else the newest (not hidden)."""
        node = self.node(node_id)
        while kids := [n for n in self.children(node.id) if not n.hidden]:
            back = [n for n in kids if n.id == node.checked]  # the child last gone to
            node = back[0] if back else max(kids, key=lambda n: n.created)
        return node

    # ------------------------------------------------------------------ mutation
    def _touch(self, node: Node) -> None:
        node.modified = time.time()

    def add_child(
        self,
        parent_id: str,
        *,
        tokens: Sequence[Token] | None = None,
        plain: str = "",
        origin: str = "model",
        settings: dict[str, Any] | None = None,
        model: str | None = None,
        backend: str | None = None,
        role: str | None = None,
        **extra: Any,
    ) -> Node:
        """Add a node under ``parent_id`` (at the end of its children)."""
        if origin not in ORIGINS:
            raise TreeError(f"unknown origin {origin!r}")
        if role is not None and role not in ROLES:
            raise TreeError(f"unknown role {role!r}")
        parent = self.node(parent_id)
        node = Node(
            id=new_id(self.nodes),
            parent=parent.id,
            origin=origin,
            tokens=list(tokens) if tokens is not None else None,
            plain=plain,
            settings=dict(settings) if settings else None,
            model=model,
            backend=backend,
            role=role,
            **extra,
        )
        self.nodes[node.id] = node
        parent.children.append(node.id)
        return node

    def attach(self, node: Node) -> Node:
        """Add a copy of ``node`` (grown in another session, e.g. a copy replayed in a worker)
        under its parent here, with a fresh id if its own is taken; children are not copied."""
        parent = self.node(node.parent) if node.parent is not None else None
        if parent is None:
            raise TreeError("a root cannot be attached")
        nid = node.id if node.id not in self.nodes else new_id(self.nodes)
        copy = dataclasses.replace(
            node,
            id=nid,
            children=[],
            tokens=list(node.tokens) if node.tokens is not None else None,
            settings=dict(node.settings) if node.settings is not None else None,
            meta=dict(node.meta),
        )
        self.nodes[nid] = copy
        parent.children.append(nid)
        return copy

    def split(self, node_id: str, offset: int) -> Node:
        """Make ``offset`` a node boundary and return the node that ends there.

        The head keeps the id, the parent and everything said about the node; a new tail
        node takes the rest of the segment, the old children and the child the node
        remembered (``checked``), and the head remembers the tail. Offset 0 returns the
        parent (the root gets a new empty parent); offset == len(node) returns the node
        unchanged.
        """
        node = self.node(node_id)
        if not 0 <= offset <= len(node):
            raise TreeError(f"offset {offset} outside node {node_id} of length {len(node)}")
        if offset == len(node):
            return node
        if offset == 0:
            if node.parent is not None:
                return self.nodes[node.parent]
            new_root = Node(id=new_id(self.nodes), origin="prompt", children=[node.id])
            self.nodes[new_root.id] = new_root
            node.parent = new_root.id
            self.root_id = new_root.id
            return new_root
        tail = Node(
            id=new_id(self.nodes),
            parent=node.id,
            children=node.children,
            origin=node.origin,
            settings=dict(node.settings) if node.settings else None,
            model=node.model,
            backend=node.backend,
            created=node.created,
            visited=node.visited,
            finish_reason=node.finish_reason,
            error=node.error,
            meta={"split_from": node.id},
            role=node.role,
            checked=node.checked,  # the children moved, and the way down among them with them
        )
        if node.tokens is not None:
            tail.tokens = node.tokens[offset:]
            node.tokens = node.tokens[:offset]
        else:
            tail.plain = node.plain[offset:]
            node.plain = node.plain[:offset]
        for cid in tail.children:
            self.nodes[cid].parent = tail.id
        node.children = [tail.id]
        node.checked = tail.id
        node.finish_reason = None
        node.error = None
        self.nodes[tail.id] = tail
        if self.current_id == node.id:
            self.current_id = tail.id
        node.modified = time.time()
        return node

    def add_generation(
        self,
        node_id: str,
        offset: int | None = None,
        *,
        settings: dict[str, Any] | None = None,
        model: str | None = None,
        backend: str | None = None,
        role: str | None = None,
    ) -> Node:
        """An empty model node under the point ``(node_id, offset)`` (end of node if None),
        splitting the node there. Tokens are appended as they arrive."""
        node = self.node(node_id)
        head = self.split(node_id, len(node) if offset is None else offset)
        return self.add_child(
            head.id,
            tokens=[],
            origin="model",
            settings=settings,
            model=model,
            backend=backend,
            role=role,
        )

    def append_tokens(self, node_id: str, tokens: Sequence[Token]) -> None:
        node = self.node(node_id)
        if node.tokens is None:
            raise TreeError(f"node {node_id} holds plain text, not tokens")
        node.tokens.extend(tokens)

    def edit(self, node_id: str, offset: int, new_text: str, *, origin: str = "edit") -> Node:
        """Replace what follows ``(node_id, offset)`` on this branch with ``new_text``.

        The new text becomes a new sibling of what followed; the original stays. In a chat
        session it belongs to the turn it replaces (the turn of ``node_id``): an edit inside
        an assistant reply is still the assistant's.
        """
        role = self.role(node_id) if self.is_chat() else None
        head = self.split(node_id, offset)
        node = self.add_child(head.id, plain=new_text, origin=origin, role=role)
        head.checked = node.id  # the person is on the edit (the split made it the tail)
        self.current_id = node.id
        return node

    def edit_branch(self, node_id: str, new_text: str) -> Node:
        """Turn the branch ending at ``node_id`` into ``new_text`` with a new sibling node.

        The edit starts at the unit (token or character) where the display text first
        differs; everything after it becomes one new plain-text node. If nothing changed,
        the node is returned unchanged.
        """
        units = list(self.units(node_id))
        pos = 0
        split_at: tuple[str, int] | None = None
        for nid, off, text in units:
            if not new_text.startswith(text, pos):
                split_at = (nid, off)
                break
            pos += len(text)
        if split_at is None:
            if pos == len(new_text):
                return self.node(node_id)
            return self.edit(node_id, len(self.node(node_id)), new_text[pos:])
        return self.edit(split_at[0], split_at[1], new_text[pos:])

    def units(self, node_id: str) -> Iterator[tuple[str, int, str]]:
        """``(node_id, offset, text)`` for every unit on the branch: each token, and each
        plain-text segment as a whole (offset 0)."""
        for node in self.path(node_id):
            if node.tokens is not None:
                for i, tok in enumerate(node.tokens):
                    yield node.id, i, tok.text
            elif node.plain:
                for i, ch in enumerate(node.plain):
                    yield node.id, i, ch

    def delete(self, node_id: str) -> None:
        """Delete a subtree. The root cannot be deleted. The current node moves to the
        parent if it was inside the subtree."""
        node = self.node(node_id)
        if node.parent is None:
            raise TreeError("the root cannot be deleted")
        doomed = {n.id for n in self.walk(node_id)}
        parent = self.nodes[node.parent]
        parent.children.remove(node_id)
        for nid in doomed:
            del self.nodes[nid]
        if self.current_id in doomed:
            self.current_id = parent.id

    def set_bookmark(self, node_id: str, on: bool = True) -> None:
        self.node(node_id).bookmark = on

    def set_label(self, node_id: str, label: str | None) -> None:
        self.node(node_id).label = label or None

    def goto(self, node_id: str) -> Node:
        path = self.path(node_id)  # each parent remembers the way down ("checked out")
        for above, below in zip(path, path[1:], strict=False):
            above.checked = below.id
        path[-1].visited = True
        self.current_id = node_id
        return path[-1]

    # ------------------------------------------------------------------ summary
    def stats(self) -> dict[str, Any]:
        """Counts for ``loomtui info``, in one O(n) pass (depths carried down the walk)."""
        nodes = list(self.walk())
        leaves = [n for n in nodes if not n.children]
        models = sorted({n.model for n in nodes if n.model})
        depth_of = {self.root_id: 0}
        for n in nodes:
            for c in n.children:
                depth_of[c] = depth_of[n.id] + 1
        return {
            "nodes": len(nodes),
            "leaves": len(leaves),
            "depth": max(depth_of.values(), default=0),
            "tokens": sum(len(n.tokens) for n in nodes if n.tokens is not None),
            "models": models,
            "bookmarks": [n.id for n in nodes if n.bookmark],
        }
