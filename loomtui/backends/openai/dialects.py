"""Turn the logprob dialects of OpenAI-compatible servers into honest :class:`Token` objects.

Two response shapes reach ``/v1/completions``: the legacy one (``tokens`` /
``token_logprobs`` / ``top_logprobs`` as dicts / ``text_offset``: OpenAI, vLLM, Together,
llama-cpp-python) and the chat-style ``logprobs.content[]`` (llama.cpp's ``llama-server``,
Ollama, and every chat endpoint). Both are parsed here, with no I/O, so the HTTP layer and
the tests share one parser.

A partial UTF-8 token reaches us in four spellings: ``bytes:\\xe2\\x80`` (OpenAI legacy),
``\\xe2`` escapes (DeepSeek), U+FFFD with bytes ``[239,191,189]`` (vLLM, Ollama) and an
empty string (llama-cpp-python, old vLLM). The first two carry the true bytes; the last two
do not, so such tokens are marked *uncertain* and :class:`ByteResolver` recovers their bytes
from the decoded text the server sent alongside (the joined bytes are then exact; how they
split between the uncertain tokens of one run is a best guess).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.metrics import is_known
from ...core.tokens import DIST_RAW, DIST_SAMPLING, Alt, Token

_REPLACEMENT = "\ufffd"
_REPLACEMENT_BYTES = _REPLACEMENT.encode("utf-8")
_ESCAPES = re.compile(r"^(?:\\x[0-9a-fA-F]{2})+$")


@dataclass
class RawToken:
    """A token as parsed, before its bytes are settled against the decoded text."""

    token: Token
    certain: bool  # False: bytes guessed from a lossy text form ("" or U+FFFD)
    offset: int | None = None  # legacy text_offset: characters of decoded text before it


def token_bytes(text: str, raw_bytes: Sequence[int] | None = None) -> tuple[bytes, bool]:
    """The bytes of a token spelled ``text`` (with the server's ``bytes`` field if any).

    Returns ``(bytes, certain)``. ``certain`` is False when the spelling loses information:
    U+FFFD or an empty string with no trustworthy ``bytes`` field.
    """
    if raw_bytes is not None:
        data = bytes(raw_bytes)
        # vLLM/Ollama report a partial byte as U+FFFD *and* its bytes [239,191,189]:
        # those bytes describe the placeholder, not the token.
        if data == _REPLACEMENT_BYTES and text == _REPLACEMENT:
            return data, False
        if data or text == "":
            return data, bool(data)
    if text.startswith("bytes:"):
        try:
            return _unescape(text[6:]), True
        except ValueError:
            pass
    if text and _ESCAPES.match(text):
        return _unescape(text), True
    if text == "" or _REPLACEMENT in text:
        return text.encode("utf-8"), False
    return text.encode("utf-8", "surrogatepass"), True


def _unescape(escaped: str) -> bytes:
    """``\\xe2\\x80`` (and any plain characters between) as bytes."""
    out = bytearray()
    i = 0
    while i < len(escaped):
        if escaped.startswith("\\x", i) and i + 4 <= len(escaped):
            out.append(int(escaped[i + 2 : i + 4], 16))
            i += 4
        else:
            out.extend(escaped[i].encode("utf-8"))
            i += 1
    return bytes(out)


def _alt_from(
    text: str, logprob: float, raw_bytes: Sequence[int] | None = None, token_id: int | None = None
) -> Alt:
    data, _ = token_bytes(text, raw_bytes)
    return Alt(
        text=_display_text(text, data), bytes=data, token_id=token_id, logprob=float(logprob)
    )


def _display_text(text: str, data: bytes) -> str:
    """The text to store for display: decoded bytes when the spelling was an escape form."""
    if text.startswith("bytes:") or _ESCAPES.match(text or "x"):
        return data.decode("utf-8", errors="replace")
    return text


def _is_real(logprob: Any) -> bool:
    # OpenAI chat's -9999 "outside the top 20" is never a real number (see is_known).
    return isinstance(logprob, (int, float)) and is_known(logprob)


def _log_of(prob: Any) -> float | None:
    """The log of a probability a server sent (llama.cpp's post-sampling ``prob``); None for
    0 (a token the sampler chain removed) or anything that is not a probability."""
    if not isinstance(prob, (int, float)) or isinstance(prob, bool) or not 0 < prob <= 1:
        return None
    return math.log(prob)


def _entry_logprob(entry: dict[str, Any]) -> tuple[float | None, bool]:
    """``(logprob, post_sampling)`` of a content[] entry: its ``logprob``, or the log of the
    ``prob`` llama-server sends instead with ``post_sampling_probs``."""
    if "logprob" not in entry and "prob" in entry:
        return _log_of(entry.get("prob")), True
    lp = entry.get("logprob")
    return (float(lp) if _is_real(lp) else None), False


def honest_top(alts: Iterable[Alt], k: int | None) -> tuple[Alt, ...]:
    """Alternatives most likely first, sentinels dropped, cut to the ``k`` asked for.

    OpenAI's legacy lists add the sampled token when it is outside the top k (k+1 entries);
    that extra entry is not one of the k most likely, so it is dropped here: the token's own
    logprob stays on the token, and the list stays a true top-k (which entropy bounds need).
    """
    kept = [a for a in alts if _is_real(a.logprob)]
    kept.sort(key=lambda a: -a.logprob)
    if k is not None and k >= 0:
        kept = kept[:k]
    return tuple(kept)


def parse_legacy(
    logprobs: dict[str, Any],
    k: int | None,
    token_ids: Sequence[int] | None = None,
    dist: str = DIST_RAW,
) -> list[RawToken]:
    """Tokens from a legacy ``logprobs`` block (``tokens``/``token_logprobs``/``top_logprobs``)."""
    texts = logprobs.get("tokens") or []
    lps = logprobs.get("token_logprobs") or [None] * len(texts)
    tops = logprobs.get("top_logprobs") or [None] * len(texts)
    ids = list(token_ids) if token_ids is not None and len(token_ids) == len(texts) else None
    offsets = logprobs.get("text_offset")
    if not isinstance(offsets, list) or len(offsets) != len(texts):
        offsets = [None] * len(texts)
    out: list[RawToken] = []
    for i, text in enumerate(texts):
        text = text if isinstance(text, str) else ""
        tid: int | None = None
        if text.startswith("token_id:") and text[9:].isdigit():
            # vLLM's return_tokens_as_token_ids: the id is all we get.
            tid = int(text[9:])
        elif ids is not None:
            tid = int(ids[i])
        data, certain = token_bytes(text)
        lp = lps[i] if i < len(lps) else None
        top_raw = tops[i] if i < len(tops) else None
        alts: list[Alt] = []
        if isinstance(top_raw, dict):
            alts = [_alt_from(t, v) for t, v in top_raw.items() if _is_real(v)]
        elif isinstance(top_raw, list):  # some servers send [{token, logprob}, ...]
            alts = [
                _alt_from(a.get("token", ""), a["logprob"], a.get("bytes"), a.get("id"))
                for a in top_raw
                if isinstance(a, dict) and _is_real(a.get("logprob"))
            ]
        value = float(lp) if _is_real(lp) else None
        tok = Token(
            text=_display_text(text, data),
            bytes=data,
            token_id=tid,
            logprob=value,
            top=honest_top(alts, k),
            entropy=None,
            dist=dist,
            sampling_logprob=value if dist == DIST_SAMPLING else None,
        )
        off = offsets[i]
        out.append(RawToken(tok, certain, off if isinstance(off, int) else None))
    return out


def parse_content(
    content: Sequence[dict[str, Any]] | None,
    k: int | None,
    dist: str = DIST_RAW,
) -> list[RawToken]:
    """Tokens from a chat-style ``logprobs.content[]`` list (with ``bytes``, maybe ``id``).

    llama-server with ``post_sampling_probs: true`` sends ``prob`` and ``top_probs`` (values
    after its sampler chain, fewer than asked where the chain cut the rest) instead of
    ``logprob`` and ``top_logprobs``: such a token's numbers describe the sampling
    distribution (``dist="sampling"``, and ``sampling_logprob`` is the log of its ``prob``).
    """
    out: list[RawToken] = []
    for entry in content or []:
        if not isinstance(entry, dict):
            continue
        text = entry.get("token") or ""
        data, certain = token_bytes(text, entry.get("bytes"))
        tid = entry.get("id", entry.get("token_id"))
        value, post = _entry_logprob(entry)
        listed = entry.get("top_probs") if post else entry.get("top_logprobs")
        alts = []
        for a in listed or []:
            if not isinstance(a, dict):
                continue
            alp, _ = _entry_logprob(a)
            if alp is not None:
                alts.append(
                    _alt_from(
                        a.get("token") or "", alp, a.get("bytes"), a.get("id", a.get("token_id"))
                    )
                )
        here = DIST_SAMPLING if post else dist
        tok = Token(
            text=_display_text(text, data),
            bytes=data,
            token_id=int(tid) if isinstance(tid, int) else None,
            logprob=value,
            top=honest_top(alts, k),
            entropy=None,
            dist=here,
            sampling_logprob=value if here == DIST_SAMPLING else None,
        )
        out.append(RawToken(tok, certain))
    return out


def parse_choice_logprobs(
    choice: dict[str, Any], k: int | None, dist: str = DIST_RAW
) -> list[RawToken] | None:
    """The tokens of one choice (or stream chunk), whichever shape it uses; None if absent."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    if "content" in lp and lp.get("content") is not None:
        return parse_content(lp["content"], k, dist)
    if "tokens" in lp:
        ids = choice.get("token_ids")
        return parse_legacy(lp, k, ids if isinstance(ids, list) else None, dist)
    if "content" in lp:  # content: null -> the server produced no tokens with logprobs
        return []
    return None


class ByteResolver:
    """Settles uncertain tokens' bytes against the decoded text a server sent with them.

    Feed it tokens and text deltas in order (:meth:`feed`); it returns the tokens whose bytes
    are final. A run of uncertain tokens is held back until a certain token (or the end)
    closes it; then the run gets the bytes of the text between what is already accounted for
    and the closing token, so the joined bytes decode to exactly what the server decoded.
    """

    def __init__(self) -> None:
        self._text = bytearray()  # the decoded text so far, as bytes
        self._done = 0  # bytes of _text accounted for by released tokens
        self._pending: list[RawToken] = []

    def feed(self, raw: Iterable[RawToken], text_delta: str | None) -> list[Token]:
        """Add a chunk's tokens and text; return the tokens now final, in order."""
        if text_delta:
            self._text.extend(text_delta.encode("utf-8", "surrogatepass"))
        released: list[Token] = []
        for rt in raw:
            if not rt.certain:
                self._pending.append(rt)
                continue
            if self._pending:
                # Text up to the closing token: the run must account for it.
                end = self._find_end(rt.token.bytes)
                released.extend(self._settle(end, rt.offset))
            released.append(rt.token)
            self._done += len(rt.token.bytes)
        return released

    def finish(self) -> list[Token]:
        """Release what is still held, settling it against all the text seen."""
        return self._settle(len(self._text), None) if self._pending else []

    def _find_end(self, closing: bytes) -> int | None:
        """Where the pending run ends: before the closing token's bytes in the text."""
        if not closing:
            return len(self._text)
        pos = self._text.find(closing, self._done)
        return pos if pos >= 0 else None

    def _settle(self, end: int | None, end_offset: int | None) -> list[Token]:
        pending, self._pending = self._pending, []
        run = [rt.token for rt in pending]
        if end is None or end < self._done:
            # The text does not line up (a stop string cut it, or no text was sent): keep
            # the spellings as they came; nothing better is known.
            for t in run:
                self._done += len(t.bytes)
            return run
        span = bytes(self._text[self._done : end])
        self._done = end
        parts = split_by_offsets(pending, span, end_offset) or split_span(span, len(run))
        for t, part in zip(run, parts, strict=True):
            t.bytes = part
            t.text = part.decode("utf-8", errors="replace")
        return run


def split_by_offsets(
    run: Sequence[RawToken], span: bytes, end_offset: int | None
) -> list[bytes] | None:
    """Split ``span`` over ``run`` using legacy character offsets, or None if they do not fit.

    A token whose successor starts at a later character completed those characters; the
    tokens since the last completion share their bytes (llama-cpp-python, vLLM).
    """
    offsets = [rt.offset for rt in run]
    if not run or any(o is None for o in offsets):
        return None
    try:
        chars = span.decode("utf-8")
    except UnicodeDecodeError:
        return None
    first = offsets[0]
    assert first is not None
    last = end_offset if end_offset is not None else first + len(chars)
    if last - first != len(chars):
        return None
    ends = [*offsets[1:], last]
    out: list[bytes] = []
    group = 0
    ci = 0
    for start, stop in zip(offsets, ends, strict=True):
        group += 1
        if stop is None or start is None or stop < start:
            return None
        if stop > start:
            piece = chars[ci : ci + stop - start].encode("utf-8")
            ci += stop - start
            out.extend(split_span(piece, group))
            group = 0
    if group:
        out.extend(split_span(chars[ci:].encode("utf-8"), group))
        ci = len(chars)
    return out if ci == len(chars) and len(out) == len(run) else None


def split_span(span: bytes, parts: int) -> list[bytes]:
    """Split ``span`` over ``parts`` tokens: complete characters first, partial bytes last.

    Byte-level BPE usually splits a multi-byte character as ``lead+continuation...`` then
    one trailing byte, so every token but the first takes one byte from the end (a best
    guess; the join is exact either way).
    """
    if parts <= 0:
        return []
    if parts == 1:
        return [span]
    tail = min(parts - 1, len(span))
    head = span[: len(span) - tail]
    singles = [span[i : i + 1] for i in range(len(span) - tail, len(span))]
    pieces = [head, *singles]
    while len(pieces) < parts:
        pieces.append(b"")
    return pieces
