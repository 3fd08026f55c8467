"""The API backend against a scripted loopback server: dialects and faults a real llama.cpp
server cannot show (429, 500, hangs, OpenAI's and vLLM's shapes, missing logprobs)."""

from __future__ import annotations

import threading
import time

import pytest
from loomtests.scripted_server import FAKE_KEY, Reply

from loomtui.backends.base import BackendError, Context, GenerationSettings
from loomtui.backends.openai import APIBackend, Capabilities, open_api_backend
from loomtui.core.tokens import join_bytes


def legacy(text_tokens, lps, tops=None, finish="length", text=None, n_index=0):
    return {
        "index": n_index,
        "text": text if text is not None else "".join(text_tokens),
        "finish_reason": finish,
        "logprobs": {
            "tokens": text_tokens,
            "token_logprobs": lps,
            "top_logprobs": tops or [{t: lp} for t, lp in zip(text_tokens, lps, strict=True)],
        },
    }


def completion(*choices):
    return {"object": "text_completion", "model": "fake-model", "choices": list(choices)}


def backend_for(srv, **caps) -> APIBackend:
    c = Capabilities(stream=False, timeout=caps.pop("timeout", 5.0), **caps)
    return APIBackend(srv.base, srv.model, c, api_key=FAKE_KEY)


def run(backend, text="Once", **settings):
    settings.setdefault("logprobs_k", 5)
    s = GenerationSettings(max_tokens=8, **settings)
    tokens: dict[int, list] = {}
    ends: dict[int, tuple] = {}
    for ev in backend.generate(Context(text=text), s):
        if ev.token is not None:
            tokens.setdefault(ev.index, []).append(ev.token)
        else:
            ends[ev.index] = (ev.finish_reason, ev.error)
    return tokens, ends


def test_429_waits_as_long_as_retry_after_then_succeeds(scripted):
    scripted.script = [
        Reply(status=429, headers={"Retry-After": "1"}, body={"error": {"message": "slow"}}),
        Reply(body=completion(legacy([" upon", " a"], [-0.5, -0.1]))),
    ]
    backend = backend_for(scripted)
    tokens, ends = run(backend)
    posts = scripted.posts()
    assert len(posts) == 2
    assert posts[1].at - posts[0].at >= 0.95  # Retry-After honoured
    assert join_bytes(tokens[0]) == b" upon a" and ends[0] == ("length", None)


def test_500_retries_a_bounded_number_of_times_then_one_clean_line(scripted):
    scripted.script = [Reply(status=500, body={"error": {"message": "boom"}})]
    backend = backend_for(scripted)
    with pytest.raises(BackendError) as err:
        run(backend)
    assert len(scripted.posts()) == 3
    msg = str(err.value)
    assert "server error (500)" in msg and "boom" in msg and "\n" not in msg


def test_hung_response_times_out_cleanly(scripted):
    scripted.script = [Reply(hang=True)]
    backend = backend_for(scripted, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        run(backend)
    assert time.monotonic() - start < 5


def test_401_names_the_key_variable_never_the_key(scripted):
    scripted.script = [Reply(status=401, body={"error": {"message": f"bad key {FAKE_KEY}"}})]
    backend = backend_for(scripted)
    with pytest.raises(BackendError) as err:
        run(backend)
    assert "authentication failed (401)" in str(err.value)
    assert FAKE_KEY not in str(err.value) and FAKE_KEY not in repr(backend)
    assert scripted.posts()[0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_404_unknown_model(scripted):
    scripted.script = [Reply(status=404, body={"error": {"message": "model nope not found"}})]
    with pytest.raises(BackendError, match="not found \\(404\\)"):
        run(backend_for(scripted))


def test_connection_refused():
    from loomtests.llama_server import free_port

    c = Capabilities(stream=False, timeout=2)
    backend = APIBackend(f"http://127.0.0.1:{free_port()}/v1", "m", c)
    with pytest.raises(BackendError, match="cannot connect"):
        run(backend)


def test_openai_legacy_bytes_tokens_and_clamp_to_5(scripted, monkeypatch):
    scripted.script = [
        Reply(
            body=completion(
                legacy(["caf", "bytes:\\xc3", "bytes:\\xa9"], [-1.0, -2.0, -0.1], text="café")
            )
        )
    ]
    backend = backend_for(scripted, max_logprobs=5, server="openai")
    tokens, _ = run(backend, logprobs_k=20)
    assert scripted.posts()[-1].body["logprobs"] == 5
    assert join_bytes(tokens[0]).decode() == "café"
    assert tokens[0][1].bytes == b"\xc3"


def test_vllm_shape_streamed(scripted):
    chunks = [
        {
            "choices": [
                {
                    "index": 0,
                    "text": "",
                    "logprobs": {
                        "tokens": ["\ufffd"],
                        "token_logprobs": [-2.0],
                        "top_logprobs": [{"\ufffd": -2.0}],
                    },
                    "finish_reason": None,
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "text": "é",
                    "logprobs": {
                        "tokens": ["\ufffd"],
                        "token_logprobs": [-0.1],
                        "top_logprobs": [{"\ufffd": -0.1}],
                    },
                    "finish_reason": None,
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "text": "!",
                    "logprobs": {
                        "tokens": ["!"],
                        "token_logprobs": [-1.0],
                        "top_logprobs": [{"!": -1.0}],
                    },
                    "finish_reason": "length",
                }
            ]
        },
        "[DONE]",
    ]
    scripted.script = [Reply(sse=chunks)]
    c = Capabilities(server="vllm", stream=True, timeout=5)
    backend = APIBackend(scripted.base, "fake-model", c)
    tokens, ends = run(backend)
    assert join_bytes(tokens[0]).decode() == "é!"
    assert [t.logprob for t in tokens[0]] == [-2.0, -0.1, -1.0]
    assert ends[0] == ("length", None)
    assert scripted.posts()[0].body["stream"] is True


def test_missing_logprobs_keeps_the_text_and_reports(scripted):
    scripted.script = [
        Reply(
            body=completion(
                {"index": 0, "text": " upon a time", "logprobs": None, "finish_reason": "length"}
            )
        )
    ]
    tokens, ends = run(backend_for(scripted))
    assert join_bytes(tokens[0]) == b" upon a time"
    assert tokens[0][0].logprob is None
    assert ends[0][0] == "error" and "no logprobs" in ends[0][1]


def test_n_fewer_choices_than_asked_fills_the_rest_concurrently(scripted):
    # A server that ignores n (like llama-cpp-python) and takes 1 s per request.
    scripted.handler = lambda body: Reply(delay=1.0, body=completion(legacy(["x"], [-1.0])))
    backend = backend_for(scripted)
    start = time.monotonic()
    tokens, ends = run(backend, n=4)
    elapsed = time.monotonic() - start
    assert sorted(tokens) == [0, 1, 2, 3] and all(e[0] == "length" for e in ends.values())
    # First request (n=4, one choice back), then 3 at once: ~2 requests' time, not 4.
    assert elapsed < 3.5  # sequential would be 4 s
    # Now the backend knows: the next n=4 is 4 concurrent requests from the start.
    start = time.monotonic()
    run(backend, n=4, seed=7)
    assert time.monotonic() - start < 2.5  # ideal 1 s, sequential 4 s
    seeds = sorted(p.body.get("seed") for p in scripted.posts()[-4:])
    assert seeds == [7, 8, 9, 10]  # distinct seeds, or the four would be identical


def test_cancel_closes_the_stream_and_keeps_tokens(scripted):
    chunk = {
        "choices": [
            {
                "index": 0,
                "text": "a",
                "logprobs": {
                    "tokens": ["a"],
                    "token_logprobs": [-1.0],
                    "top_logprobs": [{"a": -1.0}],
                },
                "finish_reason": None,
            }
        ]
    }
    # Two tokens, then the server stalls (as if generating slowly).
    scripted.script = [Reply(sse=[chunk, chunk], hang_after=True)]
    c = Capabilities(stream=True, timeout=30)
    backend = APIBackend(scripted.base, "fake-model", c)
    start = time.monotonic()
    cancel = threading.Event()
    got = []
    for ev in backend.generate(Context("x"), GenerationSettings(max_tokens=50), cancel):
        if ev.token is not None:
            got.append(ev.token)
            if len(got) == 2:
                cancel.set()
        else:
            end = ev.finish_reason
    assert len(got) == 2 and end == "cancelled"
    assert time.monotonic() - start < 3  # not the 30 s time-out


def test_chat_mode_request_shape_and_no_prompt_scores(scripted):
    scripted.script = [
        Reply(
            body={
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Hi"},
                        "logprobs": {
                            "content": [
                                {
                                    "token": "Hi",
                                    "logprob": -0.2,
                                    "bytes": [72, 105],
                                    "top_logprobs": [
                                        {"token": "Hi", "logprob": -0.2, "bytes": [72, 105]}
                                    ],
                                }
                            ]
                        },
                    }
                ]
            }
        )
    ]
    backend = backend_for(scripted, mode="chat", max_logprobs=50)
    tokens, ends = run(backend, text="hello", logprobs_k=50)
    body = scripted.posts()[0].body
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert tokens[0][0].text == "Hi" and ends[0] == ("stop", None)
    result = backend.score("some text")
    assert result.tokens == [] and "cannot score" in result.note


def test_echo_scores_the_prompt_and_caches_it(scripted):
    scripted.script = [
        Reply(
            body=completion(
                legacy(
                    ["Test", " prompt", " on"],
                    [None, -12.9, -5.0],
                    tops=[None, {" prompt": -12.9}, {" on": -5.0}],
                )
            )
        )
    ]
    backend = backend_for(scripted, supports_echo=True)
    result = backend.score("Test prompt")
    assert [t.text for t in result.tokens] == ["Test", " prompt"]  # generated token dropped
    assert result.tokens[0].logprob is None and result.tokens[1].logprob == -12.9
    assert scripted.posts()[0].body["echo"] is True
    backend.score("Test prompt")
    assert len(scripted.posts()) == 1  # cached per text version


def test_next_distributions_run_concurrently(scripted):
    body = completion(legacy([" a"], [-0.5], tops=[{" a": -0.5, " b": -1.0, " c": -3.0}]))
    scripted.handler = lambda b: Reply(delay=0.5, body=body)
    backend = backend_for(scripted)
    start = time.monotonic()
    dists = backend.next_distributions([Context("x"), Context("y"), Context("z")], top_k=2)
    assert time.monotonic() - start < 1.2
    assert [[a.text for a in d.top] for d in dists] == [[" a", " b"]] * 3


def test_open_api_backend_detects_vllm_and_reads_profiles(scripted, monkeypatch, tmp_path):
    from loomtui.cli.common import resolve_profile
    from loomtui.config import save_config

    scripted.owned_by = "vllm"
    monkeypatch.setenv("MY_KEY", FAKE_KEY)
    b = open_api_backend(model=None, api_base=scripted.base, api_key_env="MY_KEY")
    assert b.caps.server == "vllm" and b.caps.max_logprobs == 20 and b.model == "fake-model"
    info = b.info()
    assert info.backend == "api" and info.exact_entropy is False
    save_config(
        {
            "profiles": {
                "mine": {
                    "api_base": scripted.base,
                    "model": "m2",
                    "api_key_env": "MY_KEY",
                    "max_logprobs": 3,
                    "mode": "chat",
                }
            }
        }
    )
    p = open_api_backend(profile=resolve_profile("mine"))  # the front end reads the config
    assert p.model == "m2" and p.caps.max_logprobs == 3 and p.caps.mode == "chat"
    with pytest.raises(BackendError, match="NOPE_KEY .* is not set"):
        open_api_backend(api_base=scripted.base, api_key_env="NOPE_KEY")


def _in_flight_counter(scripted, delay: float):
    """A handler answering after ``delay`` that records the most requests it held at once."""
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def handler(body):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(delay)
        with lock:
            state["now"] -= 1
        return Reply(body=completion(legacy(["x"], [-1.0], tops=[{"x": -1.0, "y": -2.0}])))

    scripted.handler = handler
    return state


def test_a_server_computing_one_request_at_a_time_gets_them_one_after_another(scripted):
    # llama-cpp-python holds one model behind a lock: n requests sent together only wait
    # there (and crowd the cores it computes on), so they go one after another; every
    # continuation still arrives, each with its own seed.
    state = _in_flight_counter(scripted, 0.2)
    backend = backend_for(scripted, supports_n=False, parallel_requests=1)
    tokens, ends = run(backend, n=4, seed=3)
    assert sorted(tokens) == [0, 1, 2, 3] and all(e[0] == "length" for e in ends.values())
    assert state["most"] == 1
    assert sorted(p.body.get("seed") for p in scripted.posts()) == [3, 4, 5, 6]
    backend.next_distributions([Context("x"), Context("y"), Context("z")], top_k=2)
    assert state["most"] == 1
    # A server not known to: all at once.
    state = _in_flight_counter(scripted, 0.3)
    tokens, _ = run(backend_for(scripted, supports_n=False), n=4, seed=3)
    assert sorted(tokens) == [0, 1, 2, 3] and state["most"] == 4


def test_cancel_leaves_the_queued_requests_unsent(scripted):
    state = _in_flight_counter(scripted, 0.3)
    backend = backend_for(scripted, supports_n=False, parallel_requests=1)
    cancel = threading.Event()
    s = GenerationSettings(max_tokens=8, n=4, seed=1, logprobs_k=5)
    ends = {}
    for ev in backend.generate(Context(text="Once"), s, cancel=cancel):
        if ev.token is not None:
            cancel.set()  # the first continuation's token: stop the rest
        else:
            ends[ev.index] = ev.finish_reason
    time.sleep(0.5)
    assert len(scripted.posts()) == 1 and state["most"] == 1
    assert sorted(ends) == [0, 1, 2, 3] and list(ends.values()).count("cancelled") >= 3


def test_llama_cpp_python_is_known_to_compute_one_request_at_a_time():
    from loomtui.backends.openai.caps import FAMILIES

    assert FAMILIES["llama-cpp-python"]["parallel_requests"] == 1
    assert Capabilities().parallel_requests is None
