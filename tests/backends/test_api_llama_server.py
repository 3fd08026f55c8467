"""The API backend against a real llama.cpp server (llama-cpp-python) on loopback."""

from __future__ import annotations

import threading

import httpx
import pytest

from loomtui.backends.base import BackendError, Context, GenerationSettings
from loomtui.backends.openai import APIBackend, open_api_backend
from loomtui.core.tokens import join_bytes

pytestmark = pytest.mark.server

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def backend(llama_server) -> APIBackend:
    b = open_api_backend(model=llama_server.model, api_base=llama_server.base)
    yield b
    b.close()


def reset(server) -> None:
    """A request with another prompt. llama-cpp-python's numbers for a prompt repeated back to
    back differ (up to ~0.2 nats: its prompt-cache path), so both sides of a comparison
    start from the same server state: a fresh evaluation."""
    httpx.post(
        f"{server.base}/completions",
        json={"model": server.model, "prompt": "Reset.", "max_tokens": 1},
        timeout=60,
    )


def collect(backend, context, settings, cancel=None):
    tokens: dict[int, list] = {}
    ends: dict[int, tuple] = {}
    for ev in backend.generate(context, settings, cancel):
        if ev.token is not None:
            tokens.setdefault(ev.index, []).append(ev.token)
        else:
            ends[ev.index] = (ev.finish_reason, ev.error)
    return tokens, ends


def test_detects_llama_cpp_python(backend):
    assert backend.caps.server == "llama-cpp-python"
    assert backend.caps.supports_n is False and backend.caps.supports_echo is False
    info = backend.info()
    assert info.backend == "api" and info.exact_entropy is False and info.dist == "raw"


def test_tokens_and_logprobs_equal_what_the_server_returns(backend, llama_server):
    reset(llama_server)
    raw = httpx.post(
        f"{llama_server.base}/completions",
        json={
            "model": llama_server.model,
            "prompt": PROMPT,
            "max_tokens": 12,
            "temperature": 0,
            "logprobs": 5,
            "seed": 3,
        },
        timeout=60,
    ).json()["choices"][0]
    settings = GenerationSettings(max_tokens=12, temperature=0, logprobs_k=5, seed=3)
    reset(llama_server)
    tokens, ends = collect(backend, Context(PROMPT), settings)
    got = tokens[0]
    assert join_bytes(got).decode() == raw["text"]
    assert [t.text for t in got] == raw["logprobs"]["tokens"]
    assert [t.logprob for t in got] == pytest.approx(raw["logprobs"]["token_logprobs"], abs=1e-4)
    for tok, top in zip(got, raw["logprobs"]["top_logprobs"], strict=True):
        best5 = sorted(top.items(), key=lambda kv: -kv[1])[:5]
        assert [a.text for a in tok.top] == [t for t, _ in best5]
        assert [a.logprob for a in tok.top] == pytest.approx([v for _, v in best5], abs=1e-4)
        assert tok.token_id is None and tok.entropy is None
    assert ends[0][0] in ("length", "stop")


def test_n3_gives_three_completions(backend):
    settings = GenerationSettings(max_tokens=8, n=3, temperature=1.0, seed=11, logprobs_k=3)
    tokens, ends = collect(backend, Context("Once upon a time"), settings)
    assert sorted(tokens) == [0, 1, 2]
    assert all(len(tokens[i]) > 0 and ends[i][1] is None for i in range(3))
    texts = {join_bytes(tokens[i]) for i in range(3)}
    assert len(texts) >= 2  # distinct seeds per request, not three copies


def test_chat_mode(backend, llama_server):
    settings = GenerationSettings(max_tokens=10, temperature=0, logprobs_k=4, chat=True)
    reset(llama_server)
    tokens, ends = collect(backend, Context("Say hello.", chat=True), settings)
    reset(llama_server)
    raw = httpx.post(
        f"{llama_server.base}/chat/completions",
        json={
            "model": llama_server.model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 10,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 4,
        },
        timeout=60,
    ).json()["choices"][0]
    assert join_bytes(tokens[0]).decode() == raw["message"]["content"]
    want = [c["logprob"] for c in raw["logprobs"]["content"]]
    assert [t.logprob for t in tokens[0]] == pytest.approx(want, abs=1e-4)
    assert all(1 <= len(t.top) <= 4 for t in tokens[0])


def test_prompt_scoring_is_refused_with_a_note(backend):
    result = backend.score("Hello world")
    assert result.tokens == [] and "cannot score" in result.note


def test_next_distribution_matches_the_first_generated_token(backend):
    dist = backend.next_distribution(Context(PROMPT), top_k=5)
    settings = GenerationSettings(max_tokens=1, temperature=0, logprobs_k=5)
    tokens, _ = collect(backend, Context(PROMPT), settings)
    assert [a.text for a in dist.top] == [a.text for a in tokens[0][0].top]
    assert dist.top[0].text == tokens[0][0].text  # greedy picks the most likely
    dists = backend.next_distributions([Context(PROMPT), Context("1, 2, 3,")], top_k=3)
    assert dists[0].top[0].text == dist.top[0].text and len(dists[1].top) == 3


def test_multibyte_characters_survive_as_true_bytes(backend, llama_server):
    # SmolLM2 answers this with emoji split over several tokens, which llama-cpp-python
    # spells as "" each: the bytes come back from the answer's text and offsets.
    prompt = "Smiley emoji: \U0001f600\U0001f600\U0001f600 Heart emoji:"
    reset(llama_server)
    raw = httpx.post(
        f"{llama_server.base}/completions",
        json={
            "model": llama_server.model,
            "prompt": prompt,
            "max_tokens": 8,
            "temperature": 0,
            "logprobs": 3,
        },
        timeout=60,
    ).json()["choices"][0]
    assert "" in raw["logprobs"]["tokens"]  # the lossy spelling really occurs
    reset(llama_server)
    settings = GenerationSettings(max_tokens=8, temperature=0, logprobs_k=3)
    tokens, _ = collect(backend, Context(prompt), settings)
    assert join_bytes(tokens[0]).decode("utf-8") == raw["text"]
    assert [t.logprob for t in tokens[0]] == pytest.approx(
        raw["logprobs"]["token_logprobs"], abs=1e-4
    )
    assert all(t.bytes for t in tokens[0])  # no token left empty


def test_cancel_stops_a_real_stream(llama_server):
    backend = open_api_backend(model=llama_server.model, api_base=llama_server.base)
    backend.caps.stream = True  # off by default for this server (see openai/caps.py)
    cancel = threading.Event()
    got = []
    settings = GenerationSettings(max_tokens=200, temperature=1.0, seed=1, logprobs_k=2)
    for ev in backend.generate(Context("Write a long story."), settings, cancel):
        if ev.token is not None:
            got.append(ev.token)
            if len(got) == 3:
                cancel.set()
        else:
            assert ev.finish_reason == "cancelled"
    assert 3 <= len(got) < 20


def test_wrong_key_is_a_clean_authentication_error(llama_server_with_key, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000")
    with pytest.raises(BackendError) as err:
        open_api_backend(model="smollm2", api_base=llama_server_with_key.base)
    assert "authentication failed (401)" in str(err.value)
    assert "sk-wrong-key-000000" not in str(err.value)
    monkeypatch.setenv("OPENAI_API_KEY", llama_server_with_key.api_key)
    b = open_api_backend(model="smollm2", api_base=llama_server_with_key.base)
    tokens, _ = collect(b, Context("Hi"), GenerationSettings(max_tokens=3, logprobs_k=2))
    assert len(tokens[0]) == 3
