"""``loomtui doctor``: what a server does, found by asking it, reported and then used.

Against scripted servers in the OpenAI, vLLM and Ollama shapes (their differences are the
point), and against the real llama.cpp server (llama-cpp-python): it ignores ``n``, has
logprobs, and honours ``top_logprobs`` up to the value doctor reports."""

from __future__ import annotations

import json

import pytest
from loomtests.llama_server import free_port
from loomtests.scripted_server import FAKE_KEY, SERVER_KEY, play

from loomtui.backends.base import BackendError, Context, GenerationSettings
from loomtui.backends.openai import open_api_backend
from loomtui.cli import main
from loomtui.config import cache_dir


def doctor_json(capsys, *args: str) -> dict:
    code = main(["doctor", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (
            "openai",
            dict(top_logprobs_max=5, echo=True, prompt_logprobs=False, n=True, prefill=False),
        ),
        (
            "vllm",
            dict(
                top_logprobs_max=20,
                echo=True,
                prompt_logprobs=True,
                n=True,
                prefill=True,
                prefill_style="continue",
                context_length=4096,
            ),
        ),
        (
            "ollama",
            dict(top_logprobs_max=20, echo=False, n=False, bytes=True, prefill=True),
        ),
    ],
)
def test_doctor_tells_the_servers_apart(scripted, capsys, shape, expected):
    play(scripted, shape)
    found = doctor_json(capsys, "--api-base", scripted.base, "--model", "fake-model")
    assert found["server"] == shape and found["model"] == "fake-model"
    caps = found["capabilities"]
    for key in ("completions", "chat", "logprobs", "top_logprobs_max", "echo", "n", "stream"):
        assert key in caps
    assert caps["completions"] is True and caps["chat"] is True and caps["logprobs"] is True
    got = {k: caps[k] for k in expected}
    assert got == expected


def test_the_table_names_each_finding(scripted, capsys):
    play(scripted, "ollama")
    assert main(["doctor", "--api-base", scripted.base]) == 0
    out = capsys.readouterr().out
    assert "n honoured" in out and "largest top_logprobs" in out
    row = next(line for line in out.splitlines() if "n honoured" in line)
    assert row.split()[-1] == "no"
    assert "kept for this server and model in" in out


def test_the_backend_uses_what_doctor_found(scripted, capsys):
    """A server of no known family that refuses more than 5 logprobs (as OpenAI does):
    before doctor a 20-alternative request is refused; after it, the backend asks for 5."""
    play(scripted, "openai")
    scripted.owned_by = "someone"  # no family: the default cap of 20 is a guess
    settings = GenerationSettings(max_tokens=3, logprobs_k=20, n=1)

    def generate() -> list:
        backend = open_api_backend(api_base=scripted.base, cache_dir=cache_dir())
        try:
            events = list(backend.generate(Context("Hello"), settings))
        finally:
            backend.close()
        return [e.token for e in events if e.token is not None]

    with pytest.raises(BackendError, match="logprobs must be <= 5"):
        generate()
    doctor_json(capsys, "--api-base", scripted.base)
    tokens = generate()
    assert len(tokens) == 3 and len(tokens[0].top) == 5
    assert scripted.posts()[-1].body["logprobs"] == 5
    backend = open_api_backend(api_base=scripted.base, cache_dir=cache_dir())
    assert backend.caps.findings is not None and backend.caps.supports_echo is True
    backend.close()


def test_what_a_server_lacks_is_in_the_backend_notes(scripted, capsys):
    play(scripted, "ollama")
    doctor_json(capsys, "--api-base", scripted.base)
    backend = open_api_backend(api_base=scripted.base, cache_dir=cache_dir())
    try:
        assert "n" in backend.lacks() and "prompt scores" in backend.lacks()
        assert any("the server lacks:" in note for note in backend.info().notes)
    finally:
        backend.close()


def test_a_server_that_is_down_is_one_line_exit_2(capsys):
    base = f"http://127.0.0.1:{free_port()}/v1"
    code = main(["doctor", "--api-base", base, "--model", "m"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot connect" in err


def test_a_wrong_key_is_one_line_exit_2_and_never_shown(scripted, capsys, monkeypatch):
    monkeypatch.setenv("DOCTOR_KEY", FAKE_KEY)
    from loomtests.scripted_server import Reply

    scripted.path_handler = lambda body, chat: Reply(
        status=401, body={"error": {"message": f"Incorrect API key provided: {FAKE_KEY}"}}
    )
    # /models answers (some proxies do) but every request is refused.
    code = main(["doctor", "--api-base", scripted.base, "--api-key-env", "DOCTOR_KEY"])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1
    assert "authentication failed (401)" in captured.err and "DOCTOR_KEY" in captured.err
    assert FAKE_KEY not in captured.err + captured.out
    for path in cache_dir().rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes()


@pytest.mark.server
def test_doctor_against_the_real_llama_server(llama_server, capsys):
    found = doctor_json(capsys, "--api-base", llama_server.base, "--model", llama_server.model)
    caps = found["capabilities"]
    assert found["server"] == "llama-cpp-python"
    assert caps["logprobs"] is True and caps["n"] is False
    k = caps["top_logprobs_max"]
    assert isinstance(k, int) and k >= 20
    # The largest it reports is honoured: asked for k, k alternatives come back (less one or
    # two: llama-cpp-python keys them by text, so two tokens spelt alike are one entry).
    backend = open_api_backend(
        api_base=llama_server.base, model=llama_server.model, cache_dir=cache_dir()
    )
    try:
        assert backend.caps.max_logprobs == k and backend.caps.supports_n is False
        dist = backend.next_distribution(Context("The capital of France is"), top_k=k)
        assert k - 2 <= len(dist.top) <= k and len(dist.top) > 20
    finally:
        backend.close()
    # Its chat handler answers a trailing assistant message afresh; its echo is unusable.
    assert caps["prefill"] is False and caps["echo"] is False


@pytest.mark.server
def test_doctor_with_a_wrong_key_on_the_real_server(llama_server_with_key, capsys, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", SERVER_KEY[::-1])
    code = main(
        [
            "doctor",
            "--api-base",
            llama_server_with_key.base,
            "--model",
            llama_server_with_key.model,
            "--api-key-env",
            "WRONG_KEY",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "401" in err
    assert SERVER_KEY[::-1] not in err
