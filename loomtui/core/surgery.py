"""Tree surgery on a session: merging a node into its parent, copying a branch (splitting
is ``Session.split`` in :mod:`loomtui.core.tree`, which every generation point uses).

Pure functions on :class:`~loomtui.core.tree.Session` (the Engine calls them, saves and
records the undo step). Neither changes what any branch reads: a merge joins two segments
that were always read one after the other, and a copy is new nodes with the same text.

A **split** makes a point a node boundary: the head keeps the id and everything said about
the node, a new tail takes the rest of the segment, the children and the child the node
remembered (``Node.checked``: going back down still returns where the person was); the
head remembers the tail.

**Merge** joins a node with its parent: the parent's segment grows by the child's (tokens
after tokens, with their numbers, or text after text; an empty side takes the other's kind),
the child's children become the parent's, and the child is gone (its label and bookmark
pass to the parent when the parent has none, and the parent remembers the child the node
remembered). A node with siblings is merged only when asked
(``siblings=True``): each sibling then moves up beside the parent, starting with a copy of
the parent's segment, so every branch through it reads as before. Refused (TreeError, one
line): a token segment with plain text, two chat turns, the root's other children (they
would have no parent to move to).

**Copy** makes a new top-level branch: copies of every node from under the root down to the
node, and of everything below it, hanging from the root beside the original (a session has
one root, and the file keeps only what the root reaches, so this is the honest "new root":
a separate branch with the same text that can be changed without touching the original).
Token objects are shared, never copied.
"""

from __future__ import annotations

import dataclasses

from .tree import Node, Session, TreeError, new_id


def _kind(node: Node) -> str:
    if not len(node):
        return "empty"
    return "tokens" if node.tokens is not None else "plain"


def _joinable(first: Node, second: Node) -> None:
    kinds = {_kind(first), _kind(second)} - {"empty"}
    if len(kinds) > 1:
        raise TreeError(
            f"cannot merge {second.id} into {first.id}: one holds a model's tokens and the "
            "other plain text (score the text first: c)"
        )
    if first.role != second.role and len(first) and len(second):
        raise TreeError(f"cannot merge {second.id} into {first.id}: they are two chat turns")


def _append_segment(head: Node, tail: Node) -> None:
    """``head``'s segment followed by ``tail``'s, in ``head`` (a shared token list is never
    grown in place: a new list)."""
    if _kind(head) == "empty" and _kind(tail) != "empty":
        for name in ("origin", "model", "backend", "settings", "role"):
            setattr(head, name, getattr(tail, name))
    if tail.tokens is not None and (head.tokens is not None or not head.plain):
        head.tokens = list(head.tokens or ()) + list(tail.tokens)
        head.plain = ""
    elif tail.plain:
        head.plain = head.plain + tail.plain
        if not head.tokens:
            head.tokens = None


def _prefixed(session: Session, parent: Node, sibling: Node) -> None:
    """``sibling`` moved up beside ``parent``, starting with a copy of ``parent``'s segment."""
    _joinable(parent, sibling)
    if parent.tokens is not None and len(parent):
        sibling.tokens = list(parent.tokens) + list(sibling.tokens or ())
        sibling.plain = ""
    elif parent.plain:
        sibling.plain = parent.plain + sibling.plain
        sibling.tokens = None if not sibling.tokens else sibling.tokens
    sibling.meta = {**sibling.meta, "prefixed_from": parent.id}
    sibling.parent = parent.parent


def merge(session: Session, node_id: str, *, siblings: bool = False) -> Node:
    """Merge ``node_id`` into its parent (see the module's docstring); returns the parent."""
    node = session.node(node_id)
    if node.parent is None:
        raise TreeError("the root has no parent to merge into")
    parent = session.node(node.parent)
    others = [session.node(c) for c in parent.children if c != node.id]
    if others and not siblings:
        raise TreeError(
            f"{node.id} has {len(others)} sibling(s): merging moves them up beside "
            f"{parent.id}, each starting with its text (ask for it: --siblings, or confirm)"
        )
    if others and parent.parent is None:
        raise TreeError(
            f"cannot merge {node.id} into the root while it has siblings (they would have "
            "no parent)"
        )
    _joinable(parent, node)
    for other in others:
        _joinable(parent, other)
    if others:
        grand = session.node(parent.parent)  # type: ignore[arg-type]
        at = grand.children.index(parent.id)
        moved = [o.id for o in others]
        for other in others:
            _prefixed(session, parent, other)
        grand.children = grand.children[: at + 1] + moved + grand.children[at + 1 :]
        if parent.checked in moved and grand.checked == parent.id:
            grand.checked = parent.checked  # the way down went through the one moved up
    _append_segment(parent, node)
    parent.children = list(node.children)
    parent.checked = node.checked  # its children are now the parent's
    for cid in node.children:
        session.node(cid).parent = parent.id
    parent.finish_reason, parent.error = node.finish_reason, node.error
    if parent.label is None:
        parent.label = node.label
    parent.bookmark = parent.bookmark or node.bookmark
    parent.meta = {**parent.meta, "merged": [*parent.meta.get("merged", []), node.id]}
    del session.nodes[node.id]
    if session.current_id == node.id:
        session.current_id = parent.id
    return parent


def copy_branch(session: Session, node_id: str, *, below: bool = True) -> Node:
    """Copy the branch ending at ``node_id`` (and, with ``below``, everything under it) to a
    new top-level branch under the root; returns the copy of ``node_id``."""
    path = session.path(node_id)
    if len(path) < 2:
        raise TreeError("the root is the whole tree: copy a node under it")

    def clone(node: Node, parent: str) -> Node:
        copy = dataclasses.replace(
            node,
            id=new_id(session.nodes),
            parent=parent,
            children=[],
            tokens=list(node.tokens) if node.tokens is not None else None,
            settings=dict(node.settings) if node.settings is not None else None,
            meta={**node.meta, "copy_of": node.id},
            bookmark=False,
        )
        session.nodes[copy.id] = copy
        session.node(parent).children.append(copy.id)
        return copy

    parent_id = session.root_id
    top: Node | None = None
    copies: dict[str, Node] = {}  # original id -> its copy
    for node in path[1:]:
        top = copies[node.id] = clone(node, parent_id)
        parent_id = top.id
    assert top is not None
    if below:
        stack = [(node_id, top.id)]
        while stack:
            src, dst = stack.pop()
            for cid in session.node(src).children:
                copies[cid] = clone(session.node(cid), dst)
                stack.append((cid, copies[cid].id))
    for copy in copies.values():  # each copy remembers the copy of the child gone to
        kept = copies.get(copy.checked or "")
        copy.checked = kept.id if kept is not None and kept.parent == copy.id else None
    return top
