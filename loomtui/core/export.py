"""Export branches of a session: raw text, Markdown that marks who wrote what, JSON lines.

Text export is bytes: a branch's segments are joined as bytes and written as they are, so
partial UTF-8, control characters and lone surrogates in plain text survive byte-exact. In a
chat session too it is the exact concatenation of the turns' text, with no role marks; the
turns and their roles are in Markdown (a ``### role`` line at each turn) and JSON lines (a
``messages`` list of ``{"role", "content"}``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

from .exporters import TREE_FORMATS, export_tree
from .metrics import joint_logprob, mean_confidence, mean_entropy_bounds
from .siblings import shown_leaves
from .tokens import decode
from .tree import Node, Session

#: ``loom`` and ``obsidian`` write the whole tree for another loom (:mod:`.exporters`).
FORMATS = ("text", "markdown", "jsonl", *TREE_FORMATS)

#: What to export from a point: its branch, every leaf under it, every leaf of the tree.
SCOPES = ("branch", "under", "tree")

_WHO = {
    "prompt": "you",
    "edit": "you (edit)",
    "pick": "you (pick)",
    "model": "model",
    "import": "imported",
}


def true_origin(node: Node) -> str:
    """Who made ``node``: ``prompt``, ``model``, ``edit`` (typed text), ``pick`` (a top-k
    alternative chosen by hand: stored as an edit that holds a token) or ``import``."""
    if node.origin == "edit" and (
        node.tokens is not None or "picked_rank" in (node.settings or {})
    ):
        return "pick"
    return node.origin


def branch_nodes(
    session: Session,
    node_id: str | None = None,
    all_leaves: bool = False,
    *,
    scope: str | None = None,
    include_hidden: bool = False,
) -> list[Node]:
    """The nodes whose branches to export (leaves in depth-first order).

    ``scope`` (one of :data:`SCOPES`) says which, from the point ``node_id`` (None: the
    current node): ``branch`` that one node, ``under`` every leaf under it, ``tree`` every
    leaf of the tree. Without a scope, ``all_leaves`` chooses: every leaf under ``node_id``
    when given, else of the tree (``loomtui export --all [--node]``), or the one node.
    Soft-hidden nodes and their subtrees are left out of ``under`` and ``tree`` unless
    ``include_hidden`` (a node whose children are all hidden is then a leaf).
    """
    if scope is None:
        if not all_leaves:
            scope = "branch"
        else:
            scope = "under" if node_id is not None else "tree"
    if scope in ("tree", "under"):
        under = session.find(node_id).id if scope == "under" else None
        return session.leaves(under) if include_hidden else shown_leaves(session, under)
    if scope == "branch":
        return [session.find(node_id)]
    raise ValueError(f"unknown export scope {scope!r} (use {', '.join(SCOPES)})")


def _labels(session: Session, node: Node) -> list[str]:
    """The labels on the branch ending at ``node``, root first."""
    return [n.label for n in session.path(node.id) if n.label]


def export_text(session: Session, nodes: Sequence[Node]) -> bytes:
    """One branch: its bytes exactly. Several: each after a ``--- node ID ---`` line that
    names the branch's labels (``--- node ID: label / label ---``)."""
    if len(nodes) == 1:
        return session.branch_bytes(nodes[0].id)
    # Every leaf of a big tree: the branches' bytes and labels from shared prefixes, not
    # from a walk up to the root per leaf (O(leaves x depth) in Python).
    branches = session.branches_bytes([node.id for node in nodes])
    labelled = any(n.label for n in session.nodes.values())
    labels_of = _labels_many(session, nodes) if labelled else {}
    parts = []
    for node, data in zip(nodes, branches, strict=True):
        labels = " / ".join(labels_of.get(node.id, ()))
        head = f"--- node {node.id}" + (f": {labels}" if labels else "") + " ---\n"
        parts.append(head.encode("utf-8", "surrogatepass"))
        parts.append(data)
        parts.append(b"\n")
    return b"".join(parts)


def _labels_many(session: Session, nodes: Sequence[Node]) -> dict[str, tuple[str, ...]]:
    """:func:`_labels` of each of ``nodes``, each ancestor's labels worked out once (a
    node's labels are its parent's plus its own; a label-free node shares its parent's)."""
    memo: dict[str, tuple[str, ...]] = {}
    for node in nodes:
        if node.id in memo:
            continue
        climb = _until_known(session, node, memo)
        above = memo.get(climb[-1].parent or "", ())
        for n in reversed(climb):
            above = (*above, n.label) if n.label else above
            memo[n.id] = above
    return memo


def _until_known(session: Session, node: Node, memo: dict[str, tuple[str, ...]]) -> list[Node]:
    """``node`` and its ancestors up to (not including) the first one in ``memo``."""
    if not memo:
        return list(reversed(session.path(node.id)))  # checks for cycles, as _labels did
    out: list[Node] = []
    nid: str | None = node.id
    while nid is not None and nid not in memo:
        n = session.node(nid)
        out.append(n)
        nid = n.parent
        if len(out) > len(session.nodes):
            session.path(node.id)  # raises: a cycle in parent links
    return out


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _who(node: Node) -> str:
    origin = true_origin(node)
    who = _WHO.get(origin, origin)
    if origin == "model" and node.model:
        who += f" ({node.model})"
    elif origin == "pick":
        rank = (node.settings or {}).get("picked_rank")
        if isinstance(rank, int):
            who = f"you (pick, rank {rank})"
    return who


def export_markdown(session: Session, nodes: Sequence[Node]) -> str:
    """Branches as Markdown: each segment headed by who wrote it and its node id, its text in
    a fenced block so nothing in it is read as Markdown."""
    out: list[str] = []
    chat = session.is_chat()
    for node in nodes:
        path = session.path(node.id)
        title = f"## Branch `{node.id}`"
        if node.label:
            title += f" - {node.label}"
        out.append(title + "\n")
        turns = session.turn_nodes(node.id, True) if chat else []
        starts = {nodes[0].id: role for role, nodes in turns}
        for seg in path:
            text = seg.text
            if not text:
                continue
            if seg.id in starts:
                out.append(f"### {starts[seg.id]}\n")
            mark = " *(bookmark)*" if seg.bookmark else ""
            if seg.label and seg is not node:
                mark += f" *(label: {seg.label})*"
            if seg.error:
                mark += f" *(failed: {seg.error})*"
            out.append(f"**{_who(seg)}** `{seg.id}`{mark}\n")
            fence = _fence(text)
            out.append(f"{fence}text\n{text}\n{fence}\n")
    return "\n".join(out)


def branch_record(session: Session, node: Node, chat: bool | None = None) -> dict[str, object]:
    """The JSON-lines record for one branch (``chat``: :meth:`Session.is_chat`, when the
    caller already knows it)."""
    path = session.path(node.id)
    data = session.branch_bytes(node.id)
    record: dict[str, object] = {
        "node": node.id,
        "text": decode(data),
        "depth": len(path) - 1,
        "origins": [true_origin(n) for n in path],
        "nodes": [n.id for n in path],
    }
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        # "text" had to replace bytes: keep the exact bytes too.
        record["bytes_hex"] = data.hex()
    tokens = [t for n in path if n.tokens is not None for t in n.tokens]
    if tokens:
        record["tokens"] = len(tokens)
        logprob = joint_logprob(t.logprob for t in tokens)
        if logprob is not None:
            record["logprob"] = logprob
        # Mean entropy per token: exact where the model gave it, else the range a top-k list
        # allows (no upper end here: an export knows no vocabulary size).
        ent = mean_entropy_bounds(tokens)
        if ent is not None:
            lo, hi, _ = ent
            record["mean_entropy_bounds"] = [lo, hi if math.isfinite(hi) else None]
        conf = mean_confidence(tokens)  # −mean top-k logprob per token, k its lists' length
        if conf is not None:
            record["mean_confidence"], record["confidence_k"] = conf[0], conf[1]
    models = sorted({n.model for n in path if n.model})
    if models:
        record["models"] = models
    if node.label:
        record["label"] = node.label
    labels = {n.id: n.label for n in path if n.label}
    if labels:
        record["labels"] = labels  # every label on the branch, by node id
    if node.bookmark:
        record["bookmark"] = True
    if node.count != 1:
        record["count"] = node.count  # identical draws merged into this node
    if session.is_chat() if chat is None else chat:
        record["messages"] = [
            {"role": role, "content": text} for role, text in session.turns(node.id, True)
        ]
    return record


def export_jsonl(session: Session, nodes: Sequence[Node]) -> str:
    """One JSON object per branch, one per line (ASCII: odd characters are escaped)."""
    chat = session.is_chat()  # once, not once per branch
    return "".join(
        json.dumps(branch_record(session, n, chat), ensure_ascii=True) + "\n" for n in nodes
    )


def export(
    session: Session,
    fmt: str,
    node_id: str | None = None,
    all_leaves: bool = False,
    *,
    scope: str | None = None,
    include_hidden: bool = False,
) -> bytes:
    """Export in ``fmt`` (one of :data:`FORMATS`) as bytes ready to write; which branches:
    see :func:`branch_nodes` (the tree formats always write the whole tree)."""
    if fmt in TREE_FORMATS:
        return export_tree(session, fmt)
    nodes = branch_nodes(session, node_id, all_leaves, scope=scope, include_hidden=include_hidden)
    if fmt == "text":
        return export_text(session, nodes)
    if fmt == "markdown":
        return export_markdown(session, nodes).encode("utf-8", "surrogatepass")
    if fmt == "jsonl":
        return export_jsonl(session, nodes).encode("ascii")
    raise ValueError(f"unknown export format {fmt!r}")
