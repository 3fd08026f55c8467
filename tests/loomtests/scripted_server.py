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
                        Seen(self.command, self.path, dict(self.headers), body, time.monotonic())
                    )

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._record(None)
                if self.path.rstrip("/").endswith("/models"):
                    data = {
                        "object": "list",
                        "data": [
                            {"id": outer.model, "object": "model", "owned_by": outer.owned_by}
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
