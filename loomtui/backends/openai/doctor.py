"""What a server really does, found by asking it: tiny requests, one per question.

:func:`diagnose` probes completions, chat, logprobs and the largest ``top_logprobs`` honoured,
echo and vLLM's ``prompt_logprobs``, ``n``, streaming (and whether a stream keeps multi-byte
characters), token ids and bytes, assistant prefill and the context length. The findings are
a plain dict (``loomtui doctor --json`` prints it); the front end keeps them per server and
model in its cache dir (:func:`findings_path`), and :func:`apply_findings` lets the API backend
use them instead of guessing from the server's family.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..base import BackendError
from .caps import Capabilities, model_meta
from .dialects import parse_choice_logprobs
from .http import AuthError, HttpClient, UnreachableError

#: Bumped when the findings' meaning changes: older files are then ignored.
FINDINGS_VERSION = 1
#: ``top_logprobs`` values tried, largest first (the first one honoured, or the count a
#: clamping server sends back, is the largest it honours).
K_TRIES = (100, 20, 5, 1)
CHAT_K_TRIES = (20, 5, 1)

_COUNT_USER = "Count from 1 to 10, separated by commas."
_COUNT_PREFILL = "1, 2, 3, 4,"
_MULTIBYTE_PROMPT = "\U0001f600 \U0001f600 \U0001f600 \U0001f600 \U0001f600 \U0001f600"


def _first_choice(answer: dict[str, Any]) -> dict[str, Any] | None:
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _chat_text(choice: dict[str, Any]) -> str:
    msg = choice.get("message") or choice.get("delta") or {}
    content = msg.get("content") if isinstance(msg, dict) else None
    return content if isinstance(content, str) else ""


class _Prober:
    def __init__(self, http: HttpClient, model: str) -> None:
        self.http = http
        self.model = model
        self.notes: list[str] = []

    def post(self, path: str, **body: Any) -> tuple[dict[str, Any] | None, str | None]:
        """One request: (answer, None) or (None, the one-line error). A wrong key or a server
        that went away ends the diagnosis (raised)."""
        body = {"model": self.model, "temperature": 0, "stream": False, **body}
        if body.get("logprobs") is True:
            body.setdefault("top_logprobs", 1)
        try:
            return self.http.post_json(path, body, self.model), None
        except (AuthError, UnreachableError):
            raise
        except BackendError as exc:
            return None, str(exc)

    def stream_text(self, path: str, **body: Any) -> tuple[str | None, int, str | None]:
        """(the text a stream carried, its chunk count, an error)."""
        import threading

        body = {"model": self.model, "temperature": 0, **body}
        if body.get("logprobs") is True:
            body.setdefault("top_logprobs", 1)
        parts: list[str] = []
        chunks = 0
        try:
            for chunk in self.http.stream_sse(path, body, self.model, threading.Event()):
                for choice in chunk.get("choices") or []:
                    if isinstance(choice, dict):
                        chunks += 1
                        text = choice.get("text") if path == "completions" else _chat_text(choice)
                        parts.append(text or "")
        except (AuthError, UnreachableError):
            raise
        except BackendError as exc:
            return None, chunks, str(exc)
        return "".join(parts), chunks, None


def diagnose(
    http: HttpClient,
    model: str,
    models: dict[str, Any] | None = None,
    server: str = "unknown",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Probe what ``model`` on ``http``'s server can do; the findings as a JSON-ready dict.

    Raises :class:`BackendError` (one line) for a wrong key or a server that is down."""
    say = progress or (lambda _msg: None)
    p = _Prober(http, model)
    caps: dict[str, Any] = {}

    say("completions")
    answer, err = p.post("completions", prompt="The capital of France is", max_tokens=2, logprobs=1)
    choice = _first_choice(answer) if answer else None
    caps["completions"] = choice is not None
    if err:
        p.notes.append(f"completions: {err}")
    raw_lp = choice.get("logprobs") if choice else None

    say("chat")
    chat_answer, err = p.post(
        "chat/completions",
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=2,
        logprobs=True,
        top_logprobs=1,
    )
    chat_choice = _first_choice(chat_answer) if chat_answer else None
    caps["chat"] = chat_choice is not None
    if err:
        p.notes.append(f"chat: {err}")

    # Logprobs, ids and bytes from whichever endpoint answered (completions first).
    probe_choice = choice if choice is not None else chat_choice
    toks = parse_choice_logprobs(probe_choice, None) if probe_choice else None
    caps["logprobs"] = bool(toks) and any(rt.token.logprob is not None for rt in toks or [])
    caps["token_ids"] = bool(toks) and all(rt.token.token_id is not None for rt in toks or [])
    lp = probe_choice.get("logprobs") if probe_choice else None
    content = lp.get("content") if isinstance(lp, dict) else None
    caps["bytes"] = bool(content) and all(
        isinstance(e, dict) and isinstance(e.get("bytes"), list) for e in content or []
    )
    if caps["chat"] and chat_choice is not None:
        chat_toks = parse_choice_logprobs(chat_choice, None)
        caps["chat_logprobs"] = bool(chat_toks) and any(
            rt.token.logprob is not None for rt in chat_toks or []
        )
    else:
        caps["chat_logprobs"] = False
    if not isinstance(raw_lp, dict) and caps["completions"]:
        p.notes.append("completions answered without logprobs")

    say("top_logprobs")
    caps["top_logprobs_max"] = _top_k_max(p, caps) if caps["logprobs"] else None

    caps["echo"] = False
    caps["prompt_logprobs"] = False
    if caps["completions"]:
        say("echo")
        caps["echo"] = _echo_works(p)
    if caps["completions"] or caps["chat"]:
        say("prompt_logprobs")
        caps["prompt_logprobs"] = _prompt_logprobs_work(p, chat=not caps["completions"])

    say("n")
    path = "completions" if caps["completions"] else "chat/completions"
    body: dict[str, Any] = (
        {"prompt": "Once upon a time"}
        if path == "completions"
        else {"messages": [{"role": "user", "content": "Say a word."}]}
    )
    answer, _ = p.post(path, max_tokens=1, n=2, temperature=1.0, **body)
    caps["n"] = bool(answer) and len(answer.get("choices") or []) == 2  # type: ignore[union-attr]

    say("stream")
    caps["stream"], caps["stream_multibyte"] = _stream_checks(p, caps)

    caps["prefill"] = None
    caps["prefill_style"] = None
    if caps["chat"]:
        say("prefill")
        caps["prefill_style"] = _prefill_style(p)
        caps["prefill"] = caps["prefill_style"] in ("continue", "prefix")

    vocab, ctx = model_meta(models or {}, model)
    if ctx is None:
        ctx = _props_context(http)
    caps["context_length"] = ctx
    caps["vocab_size"] = vocab
    return {
        "version": FINDINGS_VERSION,
        "server": server,
        "api_base": http.api_base,
        "model": model,
        "checked_at": int(time.time()),
        "capabilities": caps,
        "notes": p.notes,
    }


def _top_k_max(p: _Prober, caps: dict[str, Any]) -> int | None:
    chat = not caps["completions"]
    for k in CHAT_K_TRIES if chat else K_TRIES:
        if chat:
            answer, err = p.post(
                "chat/completions",
                messages=[{"role": "user", "content": "Say hi."}],
                max_tokens=1,
                logprobs=True,
                top_logprobs=k,
            )
        else:
            answer, err = p.post("completions", prompt="Hello", max_tokens=1, logprobs=k)
        ch = _first_choice(answer) if answer else None
        toks = parse_choice_logprobs(ch, None) if ch else None
        if not toks:
            continue
        got = len(toks[0].token.top)
        if got:
            # OpenAI's legacy list adds the sampled token when it is outside the top k.
            return min(k, got)
    p.notes.append("no top_logprobs value was honoured")
    return None


def _prompt_logprobs_work(p: _Prober, chat: bool) -> bool:
    """vLLM's ``prompt_logprobs``: a list with one entry per prompt token (``choices[0]`` on
    completions, the response itself in chat)."""
    if chat:
        answer, _ = p.post(
            "chat/completions",
            messages=[{"role": "user", "content": "Hello world"}],
            max_tokens=1,
            prompt_logprobs=1,
        )
        found = answer.get("prompt_logprobs") if answer else None
    else:
        answer, _ = p.post("completions", prompt="Hello world", max_tokens=1, prompt_logprobs=1)
        ch = _first_choice(answer) if answer else None
        found = ch.get("prompt_logprobs") if ch else None
    return isinstance(found, list) and any(isinstance(e, dict) for e in found)


def _echo_works(p: _Prober) -> bool:
    """Echo is usable when the prompt's own tokens come back scored with the values the
    server gives the same tokens when it generates them (llama-cpp-python's echo returns
    shifted numbers: they are refused here, not shown as scores)."""
    prompt = "The capital of France is"
    gen, _ = p.post("completions", prompt=prompt, max_tokens=1, logprobs=1)
    ch = _first_choice(gen) if gen else None
    toks = parse_choice_logprobs(ch, None) if ch else None
    if not toks or toks[0].token.logprob is None:
        return False
    token = toks[0].token
    whole = prompt.encode() + token.bytes
    answer, _ = p.post(
        "completions", prompt=whole.decode("utf-8", "replace"), max_tokens=1, echo=True, logprobs=1
    )
    ch = _first_choice(answer) if answer else None
    echoed = parse_choice_logprobs(ch, None) if ch else None
    if not echoed:
        return False
    pos = 0
    for rt in echoed:
        pos += len(rt.token.bytes)
        if pos == len(whole):
            got = rt.token.logprob
            if got is not None and abs(got - token.logprob) < 0.05:
                return True
            p.notes.append(
                f"echo scores the prompt, but not as generation does: {token.text!r} is "
                f"{token.logprob:.3f} generated and {got if got is None else round(got, 3)} "
                "echoed (not used)"
            )
            return False
        if pos > len(whole):
            break
    p.notes.append("echo did not return the prompt's tokens")
    return False


def _stream_checks(p: _Prober, caps: dict[str, Any]) -> tuple[bool, bool | None]:
    """(streams at all, keeps multi-byte characters: None when none was generated)."""
    if caps["completions"]:
        path, body = "completions", {"prompt": _MULTIBYTE_PROMPT}
    elif caps["chat"]:
        path = "chat/completions"
        body = {"messages": [{"role": "user", "content": "Write the word café three times."}]}
    else:
        return False, None
    # With logprobs, as loomtui streams: that is when some servers drop partial characters.
    lp: dict[str, Any] = {"logprobs": 1} if path == "completions" else {"logprobs": True}
    answer, _ = p.post(path, max_tokens=8, **lp, **body)
    ch = _first_choice(answer) if answer else None
    whole = (ch.get("text") if path == "completions" else _chat_text(ch)) if ch else None
    streamed, chunks, err = p.stream_text(path, max_tokens=8, stream=True, **lp, **body)
    if streamed is None or chunks == 0:
        if err:
            p.notes.append(f"stream: {err}")
        return False, None
    if not isinstance(whole, str) or whole.isascii():
        return True, None
    if streamed == whole:
        return True, True
    p.notes.append(
        f"the stream loses multi-byte characters ({len(streamed)} characters streamed, "
        f"{len(whole)} in the whole answer)"
    )
    return True, False


def _continues_count(text: str) -> bool:
    return text.lstrip().startswith("5")


def _prefill_style(p: _Prober) -> str:
    """How a trailing assistant message is continued: "continue", "prefix" or "none"."""
    base = [
        {"role": "user", "content": _COUNT_USER},
        {"role": "assistant", "content": _COUNT_PREFILL},
    ]
    answer, _ = p.post(
        "chat/completions",
        messages=base,
        max_tokens=4,
        continue_final_message=True,
        add_generation_prompt=False,
    )
    ch = _first_choice(answer) if answer else None
    text = _chat_text(ch) if ch else ""
    if ch and _continues_count(text):
        return "continue"
    prefixed = [base[0], {**base[1], "prefix": True}]
    answer2, _ = p.post("chat/completions", messages=prefixed, max_tokens=4)
    ch2 = _first_choice(answer2) if answer2 else None
    if ch2 and _continues_count(_chat_text(ch2)):
        return "prefix"
    if ch:
        shown = " ".join(text.split())[:30]
        p.notes.append(
            f"a trailing assistant message {_COUNT_PREFILL!r} was answered afresh ({shown!r}), "
            "not continued"
        )
    return "none"


def _props_context(http: HttpClient) -> int | None:
    """llama-server's ``/props`` (beside ``/v1``) names its context window."""
    parts = urlsplit(http.api_base)
    root = parts.path.rsplit("/v1", 1)[0] if parts.path.endswith("/v1") else parts.path
    url = urlunsplit((parts.scheme, parts.netloc, root + "/props", "", ""))
    try:
        props = http.get_json(url, timeout=5.0)
    except BackendError:
        return None
    settings = props.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None


# -- the cache ----------------------------------------------------------------------------


def findings_path(cache_dir: Path, api_base: str, model: str) -> Path:
    """Where the findings for ``model`` on ``api_base`` are kept (no key in the name)."""
    digest = hashlib.sha256(f"{api_base.rstrip('/')}\n{model}".encode()).hexdigest()[:20]
    return Path(cache_dir) / "servers" / f"{digest}.json"


def save_findings(cache_dir: Path, findings: dict[str, Any]) -> Path:
    path = findings_path(cache_dir, findings["api_base"], findings["model"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(findings, indent=1, ensure_ascii=True) + "\n", "utf-8")
    os.replace(tmp, path)
    return path


def load_findings(cache_dir: Path | None, api_base: str, model: str) -> dict[str, Any] | None:
    """The findings ``doctor`` saved for this server and model, or None (absent, unreadable,
    from another version: a guess from the family is better than a broken file)."""
    if cache_dir is None:
        return None
    path = findings_path(cache_dir, api_base, model)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("version") != FINDINGS_VERSION
        or not isinstance(data.get("capabilities"), dict)
    ):
        return None
    return data


def apply_findings(caps: Capabilities, findings: dict[str, Any]) -> None:
    """Use what ``doctor`` found over the family's defaults (a profile still beats both)."""
    found = findings["capabilities"]

    def has(name: str, kind: type) -> bool:
        return isinstance(found.get(name), kind) and not (
            kind is int and isinstance(found.get(name), bool)
        )

    if has("top_logprobs_max", int) and found["top_logprobs_max"] > 0:
        caps.max_logprobs = found["top_logprobs_max"]
    if has("echo", bool):
        caps.supports_echo = found["echo"]
    if has("prompt_logprobs", bool):
        caps.prompt_logprobs = found["prompt_logprobs"]
    if has("n", bool):
        caps.supports_n = found["n"]
    if found.get("stream") is False or found.get("stream_multibyte") is False:
        caps.stream = False
    elif found.get("stream") is True:
        caps.stream = True
    if found.get("prefill_style") in ("continue", "prefix", "none"):
        caps.prefill = found["prefill_style"]
    if found.get("completions") is False and found.get("chat") is True:
        caps.mode = "chat"
    if has("context_length", int):
        caps.context_length = found["context_length"]
    if has("vocab_size", int):
        caps.vocab_size = found["vocab_size"]
    caps.findings = findings
    when = findings.get("checked_at")
    stamp = time.strftime("%Y-%m-%d", time.localtime(when)) if isinstance(when, int) else "?"
    caps.notes.append(f"capabilities as loomtui doctor found them ({stamp})")


def lacks(findings: dict[str, Any] | None) -> list[str]:
    """What the server was found not to do, in short words for a status line."""
    if not findings:
        return []
    found = findings.get("capabilities") or {}
    names = (
        ("completions", "completions"),
        ("logprobs", "logprobs"),
        ("echo", "prompt scores"),
        ("n", "n"),
        ("stream", "streaming"),
        ("token_ids", "token ids"),
        ("prefill", "prefill"),
    )
    out = [label for key, label in names if found.get(key) is False]
    if found.get("stream") and found.get("stream_multibyte") is False:
        out.append("multi-byte streaming")
    if found.get("echo") is False and found.get("prompt_logprobs") is True:
        out.remove("prompt scores")
    return out
