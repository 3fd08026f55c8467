"""Siblings ordered and thinned: the alternates at a branch point sorted by a number,
identical continuations merged (counting how often each was drawn), and soft-hidden nodes.

Pure functions on a :class:`~loomtui.core.tree.Session`; the
:class:`~loomtui.engine.Engine` calls them and saves (one way in for every change). The
numbers come from :mod:`loomtui.core.metrics`.

A sort key is a name in :data:`SORT_KEYS` and a function from a node to a number (None where
the node has none: plain text has no logprob; such nodes go last in either direction). A new
key, such as a rating, is one more entry there: the CLI's ``--by`` choices, the app's cycle
and the prune verb read the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .metrics import joint_logprob, mean_confidence, mean_logprob
from .tree import Node, Session, TreeError


def _joint(node: Node) -> float | None:
    return node.joint_logprob()


def _mean(node: Node) -> float | None:
    return None if node.tokens is None else mean_logprob(t.logprob for t in node.tokens)


def _confidence(node: Node) -> float | None:
    conf = mean_confidence(node.tokens) if node.tokens else None
    return None if conf is None else conf[0]


def _length(node: Node) -> float | None:
    return float(len(node))


def _created(node: Node) -> float | None:
    return node.created


def _rating(node: Node) -> float | None:
    value = getattr(node, "rating", None)  # Node.rating, where ratings exist
    return None if value is None else float(value)


@dataclass(frozen=True)
class SortKey:
    """One way to order siblings: what it reads off a node, and its natural direction."""

    name: str
    value: Callable[[Node], float | None]
    descending: bool  # the default direction: best/most first
    help: str


#: Every sort key by name, in the order the app cycles through them.
SORT_KEYS: dict[str, SortKey] = {
    k.name: k
    for k in (
        SortKey("joint_logprob", _joint, True, "joint logprob of the node's tokens"),
        SortKey("mean_logprob", _mean, True, "mean logprob per token"),
        SortKey("confidence", _confidence, True, "mean confidence (−mean top-k logprob)"),
        SortKey("length", _length, True, "tokens (characters for plain text)"),
        SortKey("created", _created, False, "creation time, oldest first"),
        *(
            [SortKey("rating", _rating, True, "rating, best first")]
            if "rating" in Node.__dataclass_fields__
            else []
        ),
    )
}


def sort_key(name: str) -> SortKey:
    """The key ``name`` (a one-line :class:`TreeError` naming the keys for another word)."""
    try:
        return SORT_KEYS[name]
    except KeyError:
        raise TreeError(f"unknown sort key {name!r} (use {', '.join(SORT_KEYS)})") from None


def value_of(node: Node, key: str) -> float | None:
    """``node``'s number under the sort key ``key``."""
    return sort_key(key).value(node)


def sorted_children(
    session: Session, node_id: str, key: str, descending: bool | None = None
) -> list[str]:
    """The children of ``node_id`` ordered by ``key`` (``descending`` None: the key's own
    direction). Stable: equal values keep their order; nodes with no value go last."""
    spec = sort_key(key)
    down = spec.descending if descending is None else descending
    values = [(spec.value(n), i, n.id) for i, n in enumerate(session.children(node_id))]
    known = [t for t in values if t[0] is not None]
    known.sort(key=lambda t: (-t[0] if down else t[0], t[1]))  # type: ignore[operator]
    return [nid for _, _, nid in known] + [nid for v, _, nid in values if v is None]


# --------------------------------------------------------------------------- dedup
def _mergeable(node: Node) -> bool:
    # A failed or empty node says nothing about what was drawn: never merged.
    return node.error is None and bool(len(node))


def dedup_children(session: Session, node_id: str) -> list[tuple[str, list[str]]]:
    """Merge the children of ``node_id`` that hold the same bytes into one node each: the
    earliest created is kept and counts every draw (``count`` summed); the others' children
    move under it (in order), then they are removed. The current node, if removed, becomes
    the kept one. Returns ``(kept id, removed ids)`` per merge."""
    parent = session.node(node_id)
    groups: dict[bytes, list[Node]] = {}
    for child in session.children(node_id):
        if _mergeable(child):
            groups.setdefault(child.data, []).append(child)
    merges: list[tuple[str, list[str]]] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        keep = min(group, key=lambda n: n.created)  # min is stable: first of equal times
        gone = [n for n in group if n is not keep]
        for dup in gone:
            keep.count += dup.count
            keep.bookmark = keep.bookmark or dup.bookmark
            keep.label = keep.label or dup.label
            keep.rating = keep.rating if keep.rating is not None else dup.rating
            for cid in dup.children:
                session.nodes[cid].parent = keep.id
                keep.children.append(cid)
            dup.children = []
            parent.children.remove(dup.id)
            del session.nodes[dup.id]
            if session.current_id == dup.id:
                session.current_id = keep.id
            if parent.checked == dup.id:  # the way down remembered goes through the kept
                parent.checked = keep.id
            if session.meta.get("hoist") == dup.id:  # a view hoisted on it stays put
                session.meta["hoist"] = keep.id
        keep.hidden = keep.hidden and all(n.hidden for n in gone)
        merges.append((keep.id, [n.id for n in gone]))
    return merges


def dedup_tree(session: Session, under: str | None = None) -> list[tuple[str, list[str]]]:
    """:func:`dedup_children` at every node of the subtree ``under`` (the whole tree by
    default), parents first: children that meet under a kept node are merged in turn."""
    merges: list[tuple[str, list[str]]] = []
    stack = [under or session.root_id]
    while stack:
        nid = stack.pop()
        if nid not in session.nodes:
            continue
        merges.extend(dedup_children(session, nid))
        stack.extend(reversed(session.node(nid).children))
    return merges


# --------------------------------------------------------------------------- hiding
def alternates(session: Session, under: str | None = None) -> Iterable[Node]:
    """The nodes of the subtree ``under`` (the whole tree by default; ``under`` itself not
    included) that sit at a branch point: their parent has more than one child."""
    top = under or session.root_id
    for node in session.walk(top):
        if node.id == top or node.parent is None:
            continue
        if len(session.nodes[node.parent].children) > 1:
            yield node


def prune_selection(
    session: Session, key: str, below: float, under: str | None = None
) -> list[str]:
    """Alternates (see :func:`alternates`) whose value under ``key`` is below ``below``,
    not yet hidden. Nodes with no value (plain text) are never chosen."""
    spec = sort_key(key)
    out = []
    for node in alternates(session, under):
        value = spec.value(node)
        if not node.hidden and value is not None and value < below:
            out.append(node.id)
    return out


def is_shown(session: Session, node_id: str) -> bool:
    """Whether no node from the root to ``node_id`` is hidden."""
    return not any(n.hidden for n in session.path(node_id))


def set_hidden(session: Session, node_ids: Sequence[str], hidden: bool) -> list[str]:
    """Hide (or show again) ``node_ids``; returns those that changed. The root is never
    hidden. When the current node ends up inside a hidden subtree, the current node moves
    to its nearest shown ancestor, so the view never stands on a hidden branch."""
    changed = []
    for nid in node_ids:
        node = session.node(nid)
        if hidden and node.parent is None:
            raise TreeError("the root cannot be hidden")
        if node.hidden != hidden:
            node.hidden = hidden
            changed.append(nid)
    if hidden and changed:
        path = session.path(session.current_id)
        first = next((i for i, n in enumerate(path) if n.hidden), None)
        if first is not None:
            session.current_id = path[first - 1].id
    return changed


def hidden_nodes(session: Session, under: str | None = None) -> list[str]:
    """Every node marked hidden in the subtree ``under`` (the whole tree by default)."""
    return [n.id for n in session.walk(under) if n.hidden]


def shown_leaves(session: Session, under: str | None = None) -> list[Node]:
    """The leaves a person sees (depth-first): a hidden node and its subtree are left out,
    and a node whose children are all hidden counts as a leaf."""
    out: list[Node] = []
    top = under or session.root_id
    stack = [top]
    while stack:
        node = session.nodes[stack.pop()]
        if node.hidden and node.id != top:  # a hidden node asked for by name is shown
            continue
        kids = [c for c in node.children if not session.nodes[c].hidden]
        if not kids:
            out.append(node)
        stack.extend(reversed(kids))
    return out


def node_numbers(node: Node) -> dict[str, object]:
    """A node's numbers for JSON: joint and mean logprob, confidence with its k, count,
    hidden."""
    conf = mean_confidence(node.tokens) if node.tokens else None
    return {
        "joint_logprob": joint_logprob(t.logprob for t in node.tokens) if node.tokens else None,
        "mean_logprob": _mean(node),
        "confidence": None if conf is None else conf[0],
        "confidence_k": None if conf is None else conf[1],
        "count": node.count,
        "hidden": node.hidden,
    }


def numbers_line(node: Node) -> str:
    """A node's numbers on one short line: ``Σ-12.30 mean -1.23 conf 2.31 k20 ×3``."""
    nums = node_numbers(node)
    parts = []
    if nums["joint_logprob"] is not None:
        parts.append(f"Σ{nums['joint_logprob']:.2f} mean {nums['mean_logprob']:.2f}")
    if nums["confidence"] is not None:
        k = nums["confidence_k"]
        parts.append(f"conf {nums['confidence']:.2f} k{k if k is not None else '?'}")
    if node.count != 1:
        parts.append(f"×{node.count}")
    if node.hidden:
        parts.append("hidden")
    return " ".join(parts) or "plain text"
