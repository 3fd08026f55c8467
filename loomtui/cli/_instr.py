"""Helpers the instrument verbs share: printing JSON, reading a session's branch."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from ..backends.base import Backend, Context
from ..core.errors import LoomError


def _clean(value: Any) -> Any:
    """JSON without NaN/Infinity (which strict parsers refuse): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def print_json(data: dict[str, Any]) -> None:
    json.dump(_clean(data), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def prompt_context(backend: Backend, text: str, chat: bool = False) -> Context:
    """The prompt with its token ids when the backend can tokenize (exact paths need them).
    With ``chat`` (``--chat``) the prompt is a user's message and the model answers it as
    its own turn: the chat template's prompt (exact ids where the backend can say them)."""
    if chat:
        from ..instruments.context import exact

        return exact(Context(text=text, chat=True), backend)
    ids = backend.tokenize(text)
    return Context(text=text, token_ids=ids)


def session_branch(path: str, node_id: str | None) -> tuple[Any, str]:
    """Load a session and pick a node: an id or a unique prefix (the current one by default)."""
    from ..core.sessionfile import load_session
    from ..core.tree import TreeError

    session = load_session(path)
    try:
        return session, session.find(node_id).id
    except TreeError as exc:
        raise LoomError(f"{path}: {exc}") from None
