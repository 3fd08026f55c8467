"""vgel/logitloom ``.ll.json`` trees (``isLogitLoomTreeVersion``): one token per node."""

from __future__ import annotations

from typing import Any

from ..sessioncheck import fail
from ..tokens import Token
from ..tree import Session
from ._common import finite


def is_logitloom(data: Any) -> bool:
    """An object with a string ``isLogitLoomTreeVersion``."""
    return isinstance(data, dict) and isinstance(data.get("isLogitLoomTreeVersion"), str)


def import_logitloom(data: dict[str, Any], source: str) -> Session:
    """logitloom: ``roots[]`` of token nodes (``text``, ``logprob``/``prob``, ``children``).

    The prompt/prefill from ``modelSettings`` becomes the root's text; the API key, base URL
    and other settings are not imported.
    """
    version = data.get("isLogitLoomTreeVersion")
    if version != "logit-loom-tree-v1":
        raise fail(source, f"logitloom tree version {str(version)[:30]!r} is not supported")
    settings = data.get("modelSettings") if isinstance(data.get("modelSettings"), dict) else {}
    prompt = "".join(
        v for k in ("systemPrompt", "prompt", "prefill") if isinstance(v := settings.get(k), str)
    )
    model = data.get("modelName") if isinstance(data.get("modelName"), str) else None
    session = Session.new()
    root = session.root
    root.plain, root.origin, root.created = prompt, "import", 0.0
    roots = data.get("roots")
    if not isinstance(roots, list):
        raise fail(source, "logitloom tree: roots is not a list")
    stack: list[tuple[Any, str]] = [(r, root.id) for r in reversed(roots)]
    while stack:
        raw, parent_id = stack.pop()
        if not isinstance(raw, dict) or not isinstance(raw.get("text", ""), str):
            raise fail(source, "logitloom tree: a node is not a token object")
        text = raw.get("text", "")
        logprob = finite(raw.get("logprob"))
        data_bytes = text.encode("utf-8", "surrogatepass")
        node = session.add_child(
            parent_id,
            tokens=[Token(text, data_bytes, None, logprob)],
            origin="import",
            model=model,
            created=0.0,
        )
        if raw.get("id") is not None:
            node.meta["logitloom_id"] = str(raw["id"])
        children = raw.get("children", [])
        if not isinstance(children, list):
            raise fail(source, "logitloom tree: children is not a list")
        stack.extend((c, node.id) for c in reversed(children))
    session.current_id = root.id
    session.meta = {"imported_from": "vgel/logitloom"}
    return session
