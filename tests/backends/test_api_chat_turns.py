"""Chat turns over the API (scripted loopback server): the messages carry their real roles,
a partial assistant reply is continued in the server's dialect, and a server that cannot
continue one is refused in one line before any request is sent."""

from __future__ import annotations

import pytest
from loomtests.scripted_server import FAKE_KEY, Reply

from loomtui.backends.base import BackendError, GenerationSettings
from loomtui.backends.openai import APIBackend, Capabilities
from loomtui.core.tree import Session
from loomtui.engine import Engine, branch_context

QUESTION = "What is the capital of France?"


def chat_answer(tokens: list[str]) -> dict:
    content = [
        {"token": t, "logprob": -0.25, "bytes": list(t.encode()), "top_logprobs": []}
        for t in tokens
    ]
    return {
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens)},
                "logprobs": {"content": content},
                "finish_reason": "length",
            }
        ],
    }


def backend_for(srv, **caps) -> APIBackend:
    c = Capabilities(stream=False, timeout=5.0, **caps)
    return APIBackend(srv.base, srv.model, c, api_key=FAKE_KEY)


def chat_session(backend) -> tuple[Engine, str]:
    session = Session.new()
    engine = Engine(session, backend)
    prompt = engine.add(session.root_id, plain=QUESTION, origin="prompt", role="user")
    return engine, prompt.id


SETTINGS = GenerationSettings(max_tokens=4, temperature=0, logprobs_k=3, chat=True)


def test_continuing_inside_a_reply_sends_a_trailing_assistant_message(scripted):
    scripted.script = [Reply(body=chat_answer(["The", " capital", " is", " Paris"]))]
    backend = backend_for(scripted, server="vllm", prefill="continue")
    engine, prompt = chat_session(backend)
    reply = engine.generate(prompt, None, SETTINGS).nodes[0]
    first = scripted.posts()[-1].body
    assert first["messages"] == [{"role": "user", "content": QUESTION}]
    assert "continue_final_message" not in first
    scripted.script = [Reply(body=chat_answer([" is", " Paris"]))]
    again = engine.generate(reply.id, 2, SETTINGS).nodes[0]
    body = scripted.posts()[-1].body
    assert body["messages"] == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "The capital"},
    ]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert again.text == " is Paris" and again.role == "assistant"
    assert engine.session.turns(again.id)[-1] == ("assistant", "The capital is Paris")


def test_deepseek_marks_the_partial_reply_as_a_prefix(scripted):
    backend = backend_for(scripted, server="deepseek", prefill="prefix")
    engine, prompt = chat_session(backend)
    session = engine.session
    start = engine.add(prompt, None, plain="The capital", origin="prompt", role="assistant")
    scripted.script = [Reply(body=chat_answer([" is"]))]
    engine.generate(start.id, None, SETTINGS)
    body = scripted.posts()[-1].body
    assert body["messages"][-1] == {"role": "assistant", "content": "The capital", "prefix": True}
    assert "continue_final_message" not in body
    assert session.turns(session.current_id)[-1] == ("assistant", "The capital is")


@pytest.mark.parametrize(
    ("prefill", "said"),
    [("none", "cannot continue a partial chat reply"), (None, 'set prefill = "continue"')],
)
def test_a_server_that_cannot_prefill_is_refused_before_sending(scripted, prefill, said):
    scripted.script = [Reply(body=chat_answer(["Hello"]))]
    backend = backend_for(scripted, server="openai", prefill=prefill)
    engine, prompt = chat_session(backend)
    start = engine.add(prompt, None, plain="The capital", origin="prompt", role="assistant")
    before = len(scripted.posts())
    result = engine.generate(start.id, None, SETTINGS)
    assert len(scripted.posts()) == before  # no fresh answer was asked for
    assert result.tokens == 0 and len(result.errors) == 1 and said in result.errors[0]
    assert "\n" not in result.errors[0]
    node = result.nodes[0]
    assert node.finish_reason == "error" and said in (node.error or "")
    # A new reply after the user's turn needs no prefill and goes through.
    ctx = branch_context(engine.session, prompt, backend, chat=True)
    path, body = backend._body(ctx, SETTINGS, True, 1, None, False)
    assert body["messages"] == [{"role": "user", "content": QUESTION}]


def test_a_bad_prefill_setting_in_a_profile_is_one_line():
    with pytest.raises(BackendError, match="profile prefill must be one of"):
        Capabilities().override({"prefill": "sometimes"})
