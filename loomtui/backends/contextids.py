"""The exact ids a local engine (torch or llama.cpp) gives its model for a context: one
rule, so the two engines read the same ids for the same context."""

from __future__ import annotations

from collections.abc import Callable

from .base import BackendError, Context


def context_ids(
    context: Context,
    *,
    prefix_ids: list[int],
    doc_id: int | None,
    tokenize: Callable[[str], list[int]],
    chat_ids: Callable[[list[dict[str, str]]], list[int]],
    limit: int | None,
) -> list[int]:
    """The ids for ``context``.

    Given ``token_ids`` are used as they are (with the model's BOS, ``prefix_ids``, put in
    front when it has one and they lack it); chat mode applies the chat template
    (``chat_ids``) to the turns before the reply with the generation prompt, then appends
    the partial reply's tokens (its own ids when given) as the start of the assistant's turn,
    with no end-of-turn token; completion mode is BOS (if any) + the text's tokens. An empty
    context starts from the document separator ``doc_id``. Refused when it does not fit the
    model's window ``limit``.
    """
    if context.token_ids is not None:
        ids = [int(i) for i in context.token_ids]
        if prefix_ids and ids[: len(prefix_ids)] != prefix_ids:
            ids = prefix_ids + ids
    elif context.chat:
        ids = chat_ids(context.chat_messages())
        if context.prefill_ids is not None:
            ids += [int(i) for i in context.prefill_ids]
        elif context.prefill:
            ids += tokenize(context.prefill)
    else:
        ids = prefix_ids + tokenize(context.text)
    if not ids:
        if doc_id is None:
            raise BackendError("the context is empty and this model has no start token")
        ids = [doc_id]
    if limit and len(ids) >= limit:
        raise BackendError(f"the context has {len(ids)} tokens; the model takes {limit}")
    return ids


def score_prefix_ids(prefix_ids: list[int], doc_id: int | None) -> list[int]:
    """What scoring puts before a text: the model's BOS, else the document separator (so
    the first token is scored too), else nothing."""
    if prefix_ids:
        return list(prefix_ids)
    return [doc_id] if doc_id is not None else []
