"""Export branches of a session: raw text, Markdown that marks who wrote what, JSON lines.

Text export is bytes: a branch's segments are joined as bytes and written as they are, so
partial UTF-8, control characters and lone surrogates in plain text survive byte-exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from .metrics import joint_logprob
from .tokens import decode
from .tree import Node, Session

FORMATS = ("text", "markdown", "jsonl")

_WHO = {"prompt": "you", "edit": "you (edit)", "model": "model", "import": "imported"}


def branch_nodes(
    session: Session, node_id: str | None = None, all_leaves: bool = False
) -> list[Node]:
    """The nodes whose branches to export: every leaf (depth-first order), or one node."""
    if all_leaves:
        under = session.find(node_id).id if node_id is not None else None
        return session.leaves(under)
    return [session.find(node_id)]


def export_text(session: Session, nodes: Sequence[Node]) -> bytes:
    """One branch: its bytes exactly. Several: each after a ``--- node ID ---`` line."""
    if len(nodes) == 1:
        return session.branch_bytes(nodes[0].id)
    parts = []
    for node in nodes:
        parts.append(f"--- node {node.id} ---\n".encode("utf-8", "surrogatepass"))
        parts.append(session.branch_bytes(node.id))
        parts.append(b"\n")
    return b"".join(parts)


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _who(node: Node) -> str:
    who = _WHO.get(node.origin, node.origin)
    if node.origin == "model" and node.model:
        who += f" ({node.model})"
    return who


def export_markdown(session: Session, nodes: Sequence[Node]) -> str:
    """Branches as Markdown: each segment headed by who wrote it and its node id, its text in
    a fenced block so nothing in it is read as Markdown."""
    out: list[str] = []
    for node in nodes:
        path = session.path(node.id)
        title = f"## Branch `{node.id}`"
        if node.label:
            title += f" - {node.label}"
        out.append(title + "\n")
        for seg in path:
            text = seg.text
            if not text:
                continue
            mark = " *(bookmark)*" if seg.bookmark else ""
            if seg.error:
                mark += f" *(failed: {seg.error})*"
            out.append(f"**{_who(seg)}** `{seg.id}`{mark}\n")
            fence = _fence(text)
            out.append(f"{fence}text\n{text}\n{fence}\n")
    return "\n".join(out)


def branch_record(session: Session, node: Node) -> dict[str, object]:
    """The JSON-lines record for one branch."""
    path = session.path(node.id)
    data = session.branch_bytes(node.id)
    record: dict[str, object] = {
        "node": node.id,
        "text": decode(data),
        "depth": len(path) - 1,
        "origins": [n.origin for n in path],
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
    models = sorted({n.model for n in path if n.model})
    if models:
        record["models"] = models
    if node.label:
        record["label"] = node.label
    if node.bookmark:
        record["bookmark"] = True
    return record


def export_jsonl(session: Session, nodes: Sequence[Node]) -> str:
    """One JSON object per branch, one per line (ASCII: odd characters are escaped)."""
    return "".join(json.dumps(branch_record(session, n), ensure_ascii=True) + "\n" for n in nodes)


def export(
    session: Session, fmt: str, node_id: str | None = None, all_leaves: bool = False
) -> bytes:
    """Export in ``fmt`` (one of :data:`FORMATS`) as bytes ready to write."""
    nodes = branch_nodes(session, node_id, all_leaves)
    if fmt == "text":
        return export_text(session, nodes)
    if fmt == "markdown":
        return export_markdown(session, nodes).encode("utf-8", "surrogatepass")
    if fmt == "jsonl":
        return export_jsonl(session, nodes).encode("ascii")
    raise ValueError(f"unknown export format {fmt!r}")
