"""Prompt scores from vLLM's ``prompt_logprobs``: every prompt token's logprob and top-k.

vLLM answers a request with ``prompt_logprobs: k`` (in ``extra_body``) with a list holding one
entry per prompt token: ``null`` for the first (nothing predicts it), then
``{token_id_str: {"logprob": float, "rank": int, "decoded_token": str}}`` with the token that
stands there plus up to ``k`` alternatives (``k + 1`` entries when the token itself is outside
the top ``k``). On ``/v1/completions`` the list is ``choices[0].prompt_logprobs``; on
``/v1/chat/completions`` it is the response's own ``prompt_logprobs``. Which entry is the
prompt's own token is not marked: with ``return_token_ids`` vLLM (0.10.2+) also sends
``prompt_token_ids``, which say it; without them the tokens are found by lining the decoded
tokens up with the text that was sent (:func:`line_up`), working back from its end.

Nothing here does I/O: :meth:`APIBackend.score` sends the request and passes the answer in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...core.tokens import Alt, Token
from .dialects import _display_text, _is_real, honest_top, token_bytes

#: Bytes a token spelled U+FFFD may stand for (part of a UTF-8 character: 1 to 4), tried
#: most first, so a run of them splits as byte-level BPE splits a character: the first token
#: takes all it can, the rest a byte each (a guess: only the run's joined bytes are certain).
#: A token spelled "" may also be empty (a special token some servers do not spell).
_WILD = (4, 3, 2, 1)
_WILD_EMPTY = (4, 3, 2, 1, 0)


@dataclass(frozen=True)
class _Cand:
    """One entry of a position's dict: a token the server listed there."""

    token_id: int | None
    text: str
    data: bytes
    certain: bool
    logprob: float
    rank: int | None


def prompt_logprobs_of(
    answer: dict[str, Any], chat: bool
) -> tuple[list[Any] | None, list[int] | None]:
    """The ``prompt_logprobs`` list and ``prompt_token_ids`` of an answer (either may be
    None), wherever this endpoint puts them."""
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    places = (answer, choice) if chat else (choice, answer)
    entries: Any = None
    ids: Any = None
    for place in places:
        if entries is None and isinstance(place.get("prompt_logprobs"), list):
            entries = place["prompt_logprobs"]
        if ids is None and isinstance(place.get("prompt_token_ids"), list):
            ids = place["prompt_token_ids"]
    if ids is not None and not all(isinstance(i, int) for i in ids):
        ids = None
    return entries, ids


def _candidates(entry: Any) -> list[_Cand] | None:
    if not isinstance(entry, dict):
        return None
    out: list[_Cand] = []
    for key, value in entry.items():
        if not isinstance(value, dict) or not _is_real(value.get("logprob")):
            continue
        text = value.get("decoded_token")
        text = text if isinstance(text, str) else ""
        data, certain = token_bytes(text)
        tid = int(key) if isinstance(key, str) and key.isdigit() else None
        rank = value.get("rank")
        out.append(
            _Cand(
                tid,
                _display_text(text, data),
                data,
                certain,
                float(value["logprob"]),
                rank if isinstance(rank, int) else None,
            )
        )
    return out


def _ends(cand: _Cand, start: int, target: bytes, limit: int) -> list[int]:
    """Where ``cand`` placed at ``start`` of ``target`` can end (several for a lossy one)."""
    if cand.certain:
        end = start + len(cand.data)
        return [end] if end <= limit and target.startswith(cand.data, start) else []
    return [start + m for m in _wild(cand) if start + m <= limit]


def _wild(cand: _Cand) -> tuple[int, ...]:
    return _WILD_EMPTY if cand.text == "" else _WILD


def line_up(
    columns: Sequence[list[_Cand]], target: bytes, whole: bool
) -> tuple[int, int, list[tuple[_Cand, bytes]]] | None:
    """Pick each position's own token so that the last positions spell ``target`` exactly.

    ``columns[i]`` holds the candidates of prompt position ``i + 1``. With ``whole`` the
    positions from the first on spell a suffix of ``target`` and the unlisted position 0
    spells the rest (empty: a BOS token); else the shortest run of positions at the end that
    spells ``target`` from its start. Returns ``(first column used, bytes before it, [(the
    candidate, its bytes)])`` or None when nothing lines up.
    """
    n = len(columns)
    limit = len(target)
    # reach[i]: offsets from which columns i.. can spell target[offset:] exactly.
    reach: list[set[int]] = [set() for _ in range(n + 1)]
    reach[n] = {limit}
    first = None
    for i in range(n - 1, -1, -1):
        for end in reach[i + 1]:
            for c in columns[i]:
                if c.certain:
                    start = end - len(c.data)
                    if start >= 0 and target[start:end] == c.data:
                        reach[i].add(start)
                else:
                    reach[i].update(end - m for m in _wild(c) if end - m >= 0)
        if not reach[i]:
            return None
        if not whole and 0 in reach[i]:
            first = i
            break
    if whole:
        first = 0
    if first is None:
        return None
    offset = min(reach[first]) if whole else 0
    lead = offset
    picked: list[tuple[_Cand, bytes]] = []
    for i in range(first, n):
        best: tuple[_Cand, int] | None = None
        # The listed token that spells the text here; a lossy spelling only if none does.
        for c in sorted(columns[i], key=lambda c: (not c.certain, -c.logprob)):
            ends = [e for e in _ends(c, offset, target, limit) if e in reach[i + 1]]
            if ends:
                best = (c, ends[0])
                break
        if best is None:
            return None
        c, end = best
        picked.append((c, target[offset:end]))
        offset = end
    return first, lead, picked


def parse_prompt_logprobs(
    entries: list[Any],
    target: bytes,
    k: int,
    ids: list[int] | None = None,
    whole: bool = True,
) -> tuple[list[int], list[Token]] | None:
    """The prompt's tokens from a ``prompt_logprobs`` list, lined up with ``target``.

    ``whole``: ``target`` is the whole prompt (a completion request); else it is the end of
    the prompt (the final message of a chat request, after the template's own tokens).
    Returns ``(lead ids, tokens)``: the ids before the tokens that spell ``target`` (a BOS;
    the template's tokens in chat) and the tokens, each with its logprob and true top-k; the
    first prompt token has no logprob. None when the entries do not line up with the text.
    """
    if not entries or any(e is not None and not isinstance(e, dict) for e in entries):
        return None
    listed: list[list[_Cand]] = []  # every token listed per position: the top-k
    columns: list[list[_Cand]] = []  # the tokens that may stand there
    for i, entry in enumerate(entries[1:], start=1):
        cands = _candidates(entry)
        if cands is None:
            return None
        listed.append(cands)
        if ids is not None and len(ids) == len(entries):
            cands = [c for c in cands if c.token_id == ids[i]]
        if not cands:
            return None
        columns.append(cands)
    lined = line_up(columns, target, whole)
    if lined is None:
        return None
    first, lead, picked = lined
    known_ids = ids if ids is not None and len(ids) == len(entries) else None
    tokens: list[Token] = []
    lead_ids: list[int] = []
    if whole:
        head_id = known_ids[0] if known_ids else None
        if lead:
            data = target[:lead]
            tokens.append(Token(text=data.decode("utf-8", "replace"), bytes=data, token_id=head_id))
        elif head_id is not None:
            lead_ids.append(head_id)
    elif known_ids:
        lead_ids.extend(known_ids[: first + 1])
    for pos, (c, data) in enumerate(picked, start=first + 1):
        alts = [Alt(a.text, a.data, a.token_id, a.logprob) for a in listed[pos - 1]]
        tokens.append(
            Token(
                text=c.text if c.certain else data.decode("utf-8", "replace"),
                bytes=data,
                token_id=c.token_id,
                logprob=c.logprob,
                top=honest_top(alts, k),
            )
        )
    return lead_ids, tokens
