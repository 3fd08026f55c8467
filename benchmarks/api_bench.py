"""API backend benchmark: n continuations against a server that ignores ``n``.

``api_n4_speedup()`` starts a real ``llama_cpp.server`` on loopback (the embedded GGUF), then
times four continuations made by four sequential one-choice requests against the backend's
own ``n=4`` (which, knowing the server ignores ``n``, sends four requests: all at once to a
server that runs requests in parallel, one after another to llama-cpp-python, which computes
one at a time). Six pairs in alternating order; the value is the median of the pairs'
sequential / n=4 time ratios, all measured in this one run.

Run alone: ``python -m benchmarks.api_bench`` (or ``python benchmarks/api_bench.py``).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

MAX_TOKENS = 16


@contextlib.contextmanager
def llama_server(threads: int = 2) -> Iterator[str]:
    """A llama_cpp.server on a free loopback port (the tests' launcher); yields its /v1 URL."""
    from loomtests.llama_server import running

    with running(threads=threads) as server:
        yield server.base


def _drain(backend: Any, n: int, seed: int) -> int:
    from loomtui.backends.base import Context, GenerationSettings

    settings = GenerationSettings(
        max_tokens=MAX_TOKENS, n=n, temperature=1.0, seed=seed, logprobs_k=5
    )
    return sum(
        1 for ev in backend.generate(Context("Once upon a time"), settings) if ev.token is not None
    )


def api_n4_speedup(api_base: str | None = None, repeats: int = 6) -> dict[str, Any]:
    """Sequential 4 x (n=1) time over the backend's concurrent n=4, against a server that
    ignores ``n`` (a real llama.cpp server unless ``api_base`` names another)."""
    from loomtui.backends.openai import open_api_backend

    with contextlib.ExitStack() as stack:
        base = api_base or stack.enter_context(llama_server())
        backend = open_api_backend(model=None, api_base=base)
        stack.callback(backend.close)
        _drain(backend, 1, 0)  # warm up (first request loads caches)
        _drain(backend, 4, 0)
        seq: list[float] = []
        conc: list[float] = []

        def sequential_run(r: int) -> None:
            t0 = time.perf_counter()
            for i in range(4):
                _drain(backend, 1, 100 * r + i)
            seq.append(time.perf_counter() - t0)

        def concurrent_run(r: int) -> None:
            t0 = time.perf_counter()
            _drain(backend, 4, 100 * r)
            conc.append(time.perf_counter() - t0)

        # Pairs in alternating order (sequential first, then concurrent first): a slow
        # moment of the machine falls on both ways alike. The same seeds both ways, so the
        # same continuations are generated.
        for r in range(repeats):
            first, second = (sequential_run, concurrent_run)[:: 1 if r % 2 == 0 else -1]
            first(r)
            second(r)
        sequential, concurrent = statistics.median(seq), statistics.median(conc)
        # The server's own speed swings up to 2x between pairs on a shared machine: each
        # pair's ratio, then their median (a paired design), not a ratio of medians.
        ratio = statistics.median(a / b for a, b in zip(seq, conc, strict=True))
    return {
        "value": round(ratio, 2),
        "unit": "x (median of paired ratios)",
        # The client's goal: n=4 costs about one request's time where the server runs
        # requests in parallel. llama-cpp-python's server runs one request at a time, so
        # against it the honest expectation is ~1x (no slower than sequential).
        "goal": ">= 0.9 (serialising server); ~4 where the server runs requests in parallel",
        "baseline": round(sequential, 3),
        "sequential_s": round(sequential, 3),
        "concurrent_s": round(concurrent, 3),
        "pairs_s": [[round(a, 3), round(b, 3)] for a, b in zip(seq, conc, strict=True)],
        "server": backend.caps.server,
    }


def api_n4_speedup_latency_bound(delay_s: float = 0.5) -> dict[str, Any]:
    """The same ratio against a loopback server that answers each request after ``delay_s``
    and handles requests in parallel (like a hosted API, where time is latency)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from loomtui.backends.openai import open_api_backend

    answer = json.dumps(
        {
            "choices": [
                {
                    "index": 0,
                    "text": " x",
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": [" x"],
                        "token_logprobs": [-1.0],
                        "top_logprobs": [{" x": -1.0}],
                    },
                }
            ]
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = b'{"data": [{"id": "m", "owned_by": "me"}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = open_api_backend(api_base=f"http://127.0.0.1:{server.server_address[1]}/v1")
        backend.caps.stream = False
        t0 = time.perf_counter()
        for i in range(4):
            _drain(backend, 1, i)
        sequential = time.perf_counter() - t0
        t0 = time.perf_counter()
        _drain(backend, 4, 0)
        concurrent = time.perf_counter() - t0
        backend.close()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "value": round(sequential / concurrent, 2),
        "unit": "x",
        "goal": ">= 3",
        "baseline": round(sequential, 3),
    }


if __name__ == "__main__":
    print(
        json.dumps(
            {
                "api_n4_speedup": api_n4_speedup(),
                "api_n4_speedup_latency_bound": api_n4_speedup_latency_bound(),
            },
            indent=2,
        )
    )
