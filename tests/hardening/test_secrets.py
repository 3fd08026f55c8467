"""API keys never reach sessions, exports, logs, tracebacks or the screen; a config file with
a key is private; weights load only from safetensors/GGUF; no surprise network access."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loomtui.config import load_config, save_config

KEY = "sk-hardening-secret-0123456789abcdef"


class _OpenAIish(BaseHTTPRequestHandler):
    """Just enough of an OpenAI-compatible server: /models and /completions with logprobs.
    With ``leak`` set it answers 401 and echoes the key in its error message."""

    protocol_version = "HTTP/1.1"
    leak = False
    seen_keys: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.seen_keys.append(self.headers.get("Authorization", ""))
        if self.leak:
            return self._json(401, {"error": {"message": f"invalid key {KEY}"}})
        self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    def do_POST(self):  # noqa: N802
        self.seen_keys.append(self.headers.get("Authorization", ""))
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.leak:
            return self._json(401, {"error": {"message": f"invalid key {KEY}"}})
        toks = [" upon", " a", " [b]time", "\x1b[31m"][: int(body.get("max_tokens", 4))]
        lps = [-0.5, -0.25, -1.0, -2.0][: len(toks)]
        choice = {
            "index": 0,
            "text": "".join(toks),
            "finish_reason": "length",
            "logprobs": {
                "tokens": toks,
                "token_logprobs": lps,
                "top_logprobs": [{t: lp, " x": lp - 1} for t, lp in zip(toks, lps, strict=True)],
            },
        }
        if not body.get("stream"):
            return self._json(200, {"object": "text_completion", "choices": [choice]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i, t in enumerate(toks):
            chunk = {
                "index": 0,
                "text": t,
                "finish_reason": "length" if i == len(toks) - 1 else None,
                "logprobs": {
                    "tokens": [t],
                    "token_logprobs": [lps[i]],
                    "top_logprobs": [{t: lps[i], " x": lps[i] - 1}],
                },
            }
            self.wfile.write(f"data: {json.dumps({'choices': [chunk]})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def api_server():
    handler = type("H", (_OpenAIish,), {"seen_keys": [], "leak": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "KEY" not in k and "TOKEN" not in k}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        LOOMTUI_CONFIG=str(home / "config.toml"),
        LOOMTUI_DATA_DIR=str(home / "data"),
        LOOMTUI_CACHE_DIR=str(home / "cache"),
        HARDENING_API_KEY=KEY,
        COLUMNS="120",
    )
    return env


def _loomtui(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loomtui", *args],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def _files_holding(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(str(path))
    return hits


def test_no_written_file_or_output_holds_the_api_key(tmp_path, api_server):
    handler, base = api_server
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = _env(home)
    api = ["--api-base", base, "--model", "fake-model", "--api-key-env", "HARDENING_API_KEY"]
    outputs = []
    gen = _loomtui(
        ["generate", *api, "--prompt", "Once", "--max-tokens", "4", "-o", "s.json"], env, work
    )
    outputs.append(gen)
    assert gen.returncode == 0, gen.stderr.decode(errors="replace")[-800:]
    assert f"Bearer {KEY}" in handler.seen_keys  # the key was really used...
    session = json.loads((work / "s.json").read_bytes())
    assert session["nodes"], "the session holds the generation"
    for verb in ("export", "show", "info"):
        from importlib.util import find_spec

        if find_spec(f"loomtui.cli.{verb}") is not None:
            outputs.append(_loomtui([verb, "s.json"], env, work))
    # An API failure that echoes the key, and an unexpected crash: one line, no key.
    handler.leak = True
    failed = _loomtui(["generate", *api, "--prompt", "x", "-o", "s.json"], env, work)
    outputs.append(failed)
    assert failed.returncode == 2
    assert len(failed.stderr.decode().strip().splitlines()) == 1
    for proc in outputs:
        assert KEY.encode() not in proc.stdout + proc.stderr, proc.args
        assert b"Traceback" not in proc.stderr
    # ...but is in no file the program wrote (session, journal, lock, config, caches, logs).
    assert _files_holding(tmp_path, KEY.encode()) == []


def test_config_with_a_key_is_private_and_wider_modes_warn(tmp_path, capsys):
    path = tmp_path / "cfg" / "config.toml"
    save_config({"profiles": {"p": {"api_base": "http://x/v1", "api_key": KEY}}}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path).profiles["p"].api_key.get_secret_value() == KEY
    assert "warning" not in capsys.readouterr().err
    os.chmod(path, 0o644)
    load_config(path)
    err = capsys.readouterr().err
    assert "holds an API key" in err and "chmod 600" in err and KEY not in err
    # No key, no warning: a world-readable config of colours is fine.
    save_config({"ui": {"theme": "green-red"}}, path)
    os.chmod(path, 0o644)
    load_config(path)
    assert "warning" not in capsys.readouterr().err


def test_cli_last_resort_handler_prints_one_line_without_secrets(monkeypatch, capsys):
    import types

    from loomtui import cli

    module = types.ModuleType("loomtui.cli._hardening_boom")
    module.add_arguments = lambda parser: None

    def boom(args):
        raise RuntimeError(f"Authorization: Bearer {KEY}\n\x1b[2Jsecond line")

    module.run = boom
    monkeypatch.setitem(sys.modules, "loomtui.cli._hardening_boom", module)
    monkeypatch.setitem(cli.VERBS, "boom", ("_hardening_boom", "explode"))
    monkeypatch.delenv("LOOMTUI_DEBUG", raising=False)
    assert cli.main(["boom"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("loomtui: unexpected error: RuntimeError")
    assert KEY not in err and "\x1b" not in err and "LOOMTUI_DEBUG=1" in err
    monkeypatch.setenv("LOOMTUI_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["boom"])


def test_loomerror_lines_redact_keys_from_the_environment(monkeypatch, capsys):
    import types

    from loomtui import cli
    from loomtui.core.errors import LoomError

    monkeypatch.setenv("SOME_API_KEY", "plainsecretvalue42")
    module = types.ModuleType("loomtui.cli._hardening_err")
    module.add_arguments = lambda parser: None

    def fail(args):
        raise LoomError("server said: bad key plainsecretvalue42\x07")

    module.run = fail
    monkeypatch.setitem(sys.modules, "loomtui.cli._hardening_err", module)
    monkeypatch.setitem(cli.VERBS, "fail", ("_hardening_err", "fail"))
    assert cli.main(["fail"]) == 2
    err = capsys.readouterr().err
    assert "plainsecretvalue42" not in err and "***" in err and "\x07" not in err
