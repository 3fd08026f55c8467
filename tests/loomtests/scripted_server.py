"""A small scripted HTTP server on loopback that plays the API dialects and faults a real
server cannot show (the real llama.cpp server is :mod:`loomtests.llama_server`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A key no real service issues; tests grep written files for it.
FAKE_KEY = "sk-loomtui-test-9f8e7d6c5b4a39281706"
SERVER_KEY = "sk-llama-server-right-key-5a4b3c2d1e"


# -- the scripted server ---------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer: a status, headers, a JSON body or SSE events, an optional delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sse: list[Any] | None = None  # each item is JSON-encoded as one `data:` event
    delay: float = 0.0
    hang: bool = False  # never answer (until the server shuts down)
    hang_after: bool = False  # after the SSE events, keep the stream open without a word


class Headers(dict):
    """Request headers, looked up in any case (HTTP names are case-insensitive; the SDK sends
    them in lower case)."""

    def __init__(self, items: Any) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class ScriptedServer:
    """An OpenAI-shaped server whose answers a test scripts.

    ``script`` is a list of :class:`Reply` served in order to POSTs (the last one repeats), or
    ``handler(body) -> Reply``. ``GET /v1/models`` lists one model, owned by ``owned_by``.
    """

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.handler: Callable[[Any], Reply] | None = None
        #: ``handler(body, is_chat) -> Reply``: a server that tells its endpoints apart.
        self.path_handler: Callable[[Any, bool], Reply] | None = None
        self.model_meta: dict[str, Any] = {}
        self.requests: list[Seen] = []
        self.owned_by = "scripted"
        self.model = "fake-model"
        self._lock = threading.Lock()
        self._closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _record(self, body: Any) -> None:
                with outer._lock:
                    outer.requests.append(
                        Seen(
                            self.command,
                            self.path,
                            Headers(self.headers.items()),
                            body,
                            time.monotonic(),
                        )
                    )

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._record(None)
                if self.path.rstrip("/").endswith("/models"):
                    data = {
                        "object": "list",
                        "data": [
                            {
                                "id": outer.model,
                                "object": "model",
                                "owned_by": outer.owned_by,
                                **outer.model_meta,
                            }
                        ],
                    }
                    self._send(Reply(body=data))
                else:
                    self._send(Reply(status=404, body={"error": {"message": "no such path"}}))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = None
                self._record(body)
                if outer.path_handler is not None:
                    chat = self.path.rstrip("/").endswith("/chat/completions")
                    self._send(outer.path_handler(body, chat))
                    return
                self._send(outer._next(body))

            def _send(self, reply: Reply) -> None:
                if reply.hang:
                    outer._closing.wait(30)
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    if reply.sse is not None:
                        self.send_response(reply.status)
                        self.send_header("Content-Type", "text/event-stream")
                        self.send_header("Connection", "close")
                        for k, v in reply.headers.items():
                            self.send_header(k, v)
                        self.end_headers()
                        for event in reply.sse:
                            data = event if isinstance(event, str) else json.dumps(event)
                            self.wfile.write(f"data: {data}\n\n".encode())
                            self.wfile.flush()
                        if reply.hang_after:
                            outer._closing.wait(30)
                        self.close_connection = True
                        return
                    payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _next(self, body: Any) -> Reply:
        if self.handler is not None:
            return self.handler(body)
        with self._lock:
            if not self.script:
                return Reply(status=500, body={"error": {"message": "nothing scripted"}})
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def posts(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST"]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


# -- three servers' shapes, for `doctor` -----------------------------------------------------
#
# Each handler answers as its server does (the differences doctor must report), from what
# each documents and sends: OpenAI refuses vendor fields and logprobs above 5 on
# /v1/completions (20 in chat), honours n and echo, has no assistant prefill; vLLM caps
# logprobs at 20 (--max-logprobs), honours n, echo and prompt_logprobs, continues a final
# assistant message with continue_final_message, and lists max_model_len; Ollama ignores n
# and echo, sends chat-style content[] with bytes, clamps top_logprobs to 20 silently.

_WORDS = [" Paris", ",", " the", " city", " of", " light", ".", " It"]
_COUNT = ["1", ",", " 2", ",", " 3", ",", " 4", ","]
_MORE = [" 5", ",", " 6", ",", " 7"]


def _lp(token: str) -> float:
    """The scripted model's logprob of a token: the same wherever it stands, so echo and
    generation agree (as on a real server whose echo is usable)."""
    return -0.25 - (sum(token.encode()) % 9) * 0.125


def _legacy(tokens: list[str], k: int, echo_prompt: str | None = None) -> dict[str, Any]:
    toks = list(tokens)
    lps: list[float | None] = [_lp(t) for t in toks]
    if echo_prompt is not None:
        prompt_toks = [w if i == 0 else " " + w for i, w in enumerate(echo_prompt.split(" "))]
        toks = prompt_toks + toks
        lps = [None] + [_lp(t) for t in prompt_toks[1:]] + lps
    tops = [
        None if lp is None else {t: lp, **{f" alt{j}": lp - 1 - j for j in range(max(0, k - 1))}}
        for t, lp in zip(toks, lps, strict=True)
    ]
    return {"tokens": toks, "token_logprobs": lps, "top_logprobs": tops}


def _content(tokens: list[str], k: int, ids: bool = False) -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(tokens):
        lp = _lp(t)
        entry: dict[str, Any] = {"token": t, "logprob": lp, "bytes": list(t.encode())}
        if ids:
            entry["id"] = 100 + i
        entry["top_logprobs"] = [{"token": t, "logprob": lp, "bytes": list(t.encode())}] + [
            {"token": f" alt{j}", "logprob": lp - 1 - j, "bytes": list(f" alt{j}".encode())}
            for j in range(max(0, k - 1))
        ]
        out.append(entry)
    return out


def _chat_tokens(body: dict[str, Any], continues: bool) -> list[str]:
    msgs = body.get("messages") or []
    last = msgs[-1] if msgs else {}
    if last.get("role") == "assistant" and "Count" in str(msgs[0].get("content")):
        return _MORE if continues else _COUNT
    return _WORDS


def _sse_or_json(body: dict[str, Any], choices: list[dict[str, Any]], chat: bool) -> Reply:
    if not body.get("stream"):
        return Reply(
            body={
                "object": "chat.completion" if chat else "text_completion",
                "model": body.get("model"),
                "choices": choices,
            }
        )
    events: list[Any] = []
    for choice in choices:
        text = choice["message"]["content"] if chat else choice["text"]
        events.append(
            {
                "choices": [
                    {
                        **{k: v for k, v in choice.items() if k != "message"},
                        **({"delta": {"content": text}} if chat else {}),
                    }
                ]
            }
        )
    return Reply(sse=[*events, "[DONE]"])


def openai_handler(body: dict[str, Any], path_is_chat: bool) -> Reply:
    """api.openai.com: no vendor fields, logprobs <= 5 on completions, top_logprobs <= 20."""
    allowed = {
        "model",
        "prompt",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "n",
        "stream",
        "logprobs",
        "top_logprobs",
        "echo",
        "seed",
        "stop",
        "stream_options",
    }
    extra = sorted(set(body) - allowed)
    if extra:
        return Reply(
            status=400,
            body={"error": {"message": f"Unrecognized request argument supplied: {extra[0]}"}},
        )
    n = int(body.get("n") or 1)
    max_tokens = int(body.get("max_tokens") or 4)
    if path_is_chat:
        k = int(body.get("top_logprobs") or 0)
        if k > 20:
            return Reply(status=400, body={"error": {"message": "top_logprobs must be <= 20"}})
        toks = _chat_tokens(body, continues=False)[:max_tokens]
        text = "".join(toks)
        choices = [
            {
                "index": i,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": text},
                "logprobs": {"content": _content(toks, k)} if body.get("logprobs") else None,
            }
            for i in range(n)
        ]
        return _sse_or_json(body, choices, chat=True)
    k = body.get("logprobs")
    if isinstance(k, int) and k > 5:
        return Reply(status=400, body={"error": {"message": "logprobs must be <= 5"}})
    toks = _WORDS[:max_tokens]
    echo = body.get("prompt") if body.get("echo") else None
    lp = _legacy(toks, int(k or 0), echo) if k is not None else None
    text = (echo or "") + "".join(toks)
    choices = [
        {"index": i, "text": text, "finish_reason": "length", "logprobs": lp} for i in range(n)
    ]
    return _sse_or_json(body, choices, chat=False)


def vllm_handler(body: dict[str, Any], path_is_chat: bool) -> Reply:
    """vLLM: logprobs <= 20 (--max-logprobs), n, echo, prompt_logprobs, prefill by
    continue_final_message, token ids with return_token_ids."""
    n = int(body.get("n") or 1)
    max_tokens = int(body.get("max_tokens") or 4)
    k = body.get("top_logprobs") if path_is_chat else body.get("logprobs")
    if isinstance(k, int) and k > 20:
        return Reply(
            status=400,
            body={
                "object": "error",
                "message": f"Requested sample logprobs of {k}, which is greater than max allowed: 20",
            },
        )
    if path_is_chat:
        toks = _chat_tokens(body, continues=bool(body.get("continue_final_message")))
        toks = toks[:max_tokens]
        text = "".join(toks)
        choices = [
            {
                "index": i,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": text},
                "logprobs": {"content": _content(toks, int(k or 0))}
                if body.get("logprobs")
                else None,
            }
            for i in range(n)
        ]
        return _sse_or_json(body, choices, chat=True)
    toks = _WORDS[:max_tokens]
    echo = body.get("prompt") if body.get("echo") else None
    lp = _legacy(toks, int(k or 0), echo) if k is not None else None
    choices = []
    for i in range(n):
        choice: dict[str, Any] = {
            "index": i,
            "text": (echo or "") + "".join(toks),
            "finish_reason": "length",
            "logprobs": lp,
        }
        if body.get("prompt_logprobs"):
            words = str(body.get("prompt")).split(" ")
            choice["prompt_logprobs"] = [None] + [
                {str(200 + j): {"logprob": -2.0 - j, "rank": 1, "decoded_token": " " + w}}
                for j, w in enumerate(words[1:])
            ]
        choices.append(choice)
    return _sse_or_json(body, choices, chat=False)


def ollama_handler(body: dict[str, Any], path_is_chat: bool) -> Reply:
    """Ollama: n and echo ignored (one choice, no prompt tokens), chat-style content[] with
    bytes on both endpoints, top_logprobs clamped to 20 without a word; a trailing assistant
    message is continued as it is."""
    max_tokens = int(body.get("max_tokens") or 4)
    if path_is_chat:
        k = min(int(body.get("top_logprobs") or 0), 20)
        toks = _chat_tokens(body, continues=True)[:max_tokens]
        text = "".join(toks)
        choices = [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": text},
                "logprobs": {"content": _content(toks, k)} if body.get("logprobs") else None,
            }
        ]
        return _sse_or_json(body, choices, chat=True)
    k = body.get("logprobs")
    toks = _WORDS[:max_tokens]
    lp = {"content": _content(toks, min(int(k), 20))} if isinstance(k, int) else None
    choices = [{"index": 0, "text": "".join(toks), "finish_reason": "length", "logprobs": lp}]
    return _sse_or_json(body, choices, chat=False)


SHAPES: dict[str, tuple[Callable[[dict[str, Any], bool], Reply], str, dict[str, Any]]] = {
    # name: (handler, owned_by in /models, extra fields of the model's /models entry)
    "openai": (openai_handler, "system", {}),
    "vllm": (vllm_handler, "vllm", {"max_model_len": 4096}),
    "ollama": (ollama_handler, "library", {}),
}


def play(server: ScriptedServer, shape: str) -> None:
    """Make ``server`` answer as the named server does (see :data:`SHAPES`)."""
    handler, owner, meta = SHAPES[shape]
    server.owned_by = owner
    server.model_meta = meta
    server.path_handler = handler
