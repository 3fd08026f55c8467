"""Scoring prompt text on a server: ``echo`` where it is usable, vLLM's ``prompt_logprobs``
where it is not (chat mode, or an echo ``doctor`` found wrong), else a one-line refusal that
names what the server lacks.

The two request shapes:

- echo (completion mode): ``/v1/completions`` with ``echo: true, logprobs: k, max_tokens: 1``;
  the answer's logprobs start with the prompt's tokens.
- prompt_logprobs: ``/v1/completions`` with the prompt, or, in chat mode,
  ``/v1/chat/completions`` with the text as the end of the final message (the assistant's
  reply so far plus the text, ``continue_final_message``: the server renders no end-of-turn
  after it, so the text is the prompt's end); ``prompt_logprobs: k`` and
  ``return_token_ids: true`` in ``extra_body``, ``max_tokens: 1``. :mod:`.promptlp` reads
  the answer.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...core.tokens import Token
from ..base import BackendError, Context, ScoreResult
from .caps import Capabilities
from .dialects import ByteResolver, parse_choice_logprobs
from .http import HttpClient
from .promptlp import parse_prompt_logprobs, prompt_logprobs_of


class APIBackend(Protocol):
    """What scoring needs of the API backend (:class:`.compat.APIBackend`)."""

    model: str
    api_base: str
    caps: Capabilities
    http: HttpClient


NO_LOGPROBS = "the server returned no logprobs (does it support them for this model?)"
NO_LINE_UP = (
    "the server's prompt_logprobs do not line up with the text sent (its decoded tokens "
    "spell something else); nothing scored"
)


def first_choice(answer: dict[str, Any], where: str) -> dict[str, Any]:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendError(f"{where} answered without any choices")
    return choices[0]


def split_prompt(tokens: list[Token], prefix: bytes, whole: bytes) -> ScoreResult:
    """Split prompt tokens into the prefix's, the text's, and a generated one (dropped)."""
    pos = 0
    prefix_tokens: list[Token] = []
    text_tokens: list[Token] = []
    for tok in tokens:
        if pos >= len(whole):
            break  # the one generated token
        end = pos + len(tok.bytes)
        if end <= len(prefix) and prefix:
            prefix_tokens.append(tok)
        else:
            text_tokens.append(tok)
        pos = end
    ids = [t.token_id for t in prefix_tokens]
    prefix_ids = [i for i in ids if i is not None] if all(i is not None for i in ids) else []
    return ScoreResult(prefix_token_ids=prefix_ids, tokens=text_tokens)


def score_echo(api: APIBackend, before: str, text: str, k: int) -> ScoreResult:
    """The prompt's tokens as ``echo`` returns them."""
    body: dict[str, Any] = {
        "model": api.model,
        "prompt": before + text,
        "max_tokens": 1,
        "temperature": 0,
        "echo": True,
        "logprobs": k,
        "stream": False,
    }
    body.update(api.caps.extra_body)
    answer = api.http.post_json("completions", body, api.model)
    choice = first_choice(answer, api.api_base)
    raw = parse_choice_logprobs(choice, k)
    if not raw:
        raise BackendError(NO_LOGPROBS)
    resolver = ByteResolver()
    tokens = resolver.feed(raw, choice.get("text") or "") + resolver.finish()
    return split_prompt(tokens, before.encode("utf-8"), (before + text).encode("utf-8"))


def score_prompt_logprobs(
    api: APIBackend, text: str, k: int, prefix: Context | None, chat: bool
) -> ScoreResult:
    """The text's tokens from vLLM's ``prompt_logprobs``.

    In chat mode a chat ``prefix`` (turns and the assistant's reply so far) is continued by
    the text as the assistant's; any other prefix and the text are one user message. A
    server that cannot continue a final message (``prefill`` other than "continue") is
    refused in one line before any request."""
    body: dict[str, Any] = {
        "model": api.model,
        "max_tokens": 1,
        "temperature": 0,
        "stream": False,
        "prompt_logprobs": k,
        "return_token_ids": True,
    }
    if chat:
        if api.caps.prefill != "continue":
            server = api.caps.server if api.caps.server != "unknown" else "this server"
            raise BackendError(
                f"{server} cannot score chat text: prompt_logprobs need the text at the end of "
                'the prompt, which takes continue_final_message (prefill = "continue")'
            )
        if prefix is not None and prefix.chat:
            messages = prefix.chat_messages()
            lead = prefix.prefill
            messages.append({"role": "assistant", "content": lead + text})
        else:
            lead = prefix.text if prefix is not None else ""
            messages = [{"role": "user", "content": lead + text}]
        body.update(messages=messages, continue_final_message=True, add_generation_prompt=False)
        path = "chat/completions"
    else:
        lead = prefix.text if prefix is not None else ""
        body["prompt"] = lead + text
        path = "completions"
    body.update(api.caps.extra_body)
    answer = api.http.post_json(path, body, api.model)
    entries, ids = prompt_logprobs_of(answer, chat)
    if entries is None:
        raise BackendError(
            f"{api.api_base} sent no prompt_logprobs (is it vLLM? run loomtui doctor)"
        )
    target = (lead + text).encode("utf-8")
    parsed = parse_prompt_logprobs(entries, target, k, ids=ids, whole=not chat)
    if parsed is None:
        raise BackendError(NO_LINE_UP)
    lead_ids, tokens = parsed
    result = split_prompt(tokens, lead.encode("utf-8"), target)
    result.prefix_token_ids = lead_ids + list(result.prefix_token_ids)
    return result
