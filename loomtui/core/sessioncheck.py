"""What every reader of a session shares: one-line errors, the tree-link check, the GC pause.

The loader (:mod:`sessionfile`, :mod:`sessionread`) and the importers of other looms' files
(:mod:`importers`) both build a :class:`Session` from untrusted data; this module sits below
them all, so the importers never import the loader that dispatches to them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import SessionFileError
from .tree import Node


def one_line(text: str) -> str:
    """Error text safe to print as one line (file names may hold newlines or escapes)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def fail(source: str, problem: str) -> SessionFileError:
    """The error for a problem with the file (or data) named ``source``: one line."""
    return SessionFileError(one_line(f"{source}: {problem}"))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of small objects: it would otherwise
    rescan the whole (acyclic) token heap again and again, tripling save/load times."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_tree(nodes: dict[str, Node], root_id: str, current_id: str, source: str) -> None:
    """Parent and children links agree, every node is reachable once, no cycles."""
    if root_id not in nodes:
        raise fail(source, f"root {str(root_id)[:40]!r} is not a node")
    if nodes[root_id].parent is not None:
        raise fail(source, "the root node has a parent")
    if current_id not in nodes:
        raise fail(source, f"current node {str(current_id)[:40]!r} is not a node")
    listed: set[str] = set()
    for node in nodes.values():
        for cid in node.children:
            child = nodes.get(cid)
            if child is None:
                raise fail(source, f"node {node.id[:40]!r} has a missing child {cid[:40]!r}")
            if cid in listed:
                raise fail(source, f"node {cid[:40]!r} is listed as a child twice")
            listed.add(cid)
            if child.parent != node.id:
                raise fail(source, f"node {cid[:40]!r} does not name its parent {node.id[:40]!r}")
    for node in nodes.values():
        if node.id != root_id and node.id not in listed:
            if node.parent is None:
                raise fail(source, f"node {node.id[:40]!r} has no parent but is not the root")
            raise fail(source, f"node {node.id[:40]!r} is missing from its parent's children")
    # Every non-root node now has exactly one consistent parent; anything the root cannot
    # reach hangs in a cycle.
    seen = 0
    stack = [root_id]
    while stack:
        node = nodes[stack.pop()]
        seen += 1
        if seen > len(nodes):
            break
        stack.extend(node.children)
    if seen != len(nodes):
        raise fail(source, "cycle in parent links (some nodes are unreachable from the root)")
