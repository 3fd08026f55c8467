"""Chat turns against the real llama.cpp server (llama-cpp-python) on loopback: a reply is
recorded as the assistant's turn; continuing inside it is refused in one line, because this
server cannot continue a partial reply (shown here: it answers afresh)."""

from __future__ import annotations

import httpx
import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.backends.openai import open_api_backend
from loomtui.core.tree import Session
from loomtui.engine import Engine

pytestmark = pytest.mark.server

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def backend(llama_server):
    b = open_api_backend(model=llama_server.model, api_base=llama_server.base)
    yield b
    b.close()


def test_the_server_answers_a_trailing_assistant_message_afresh(llama_server):
    """Why prefill is "none" for llama-cpp-python: sent the start of a reply with vLLM's
    continue flags, it writes a whole new reply instead of continuing it."""
    msgs = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "The capital"}]
    body = {"model": llama_server.model, "messages": msgs, "max_tokens": 8, "temperature": 0}
    body |= {"continue_final_message": True, "add_generation_prompt": False}
    answer = httpx.post(f"{llama_server.base}/chat/completions", json=body, timeout=120).json()
    assert answer["choices"][0]["message"]["content"].startswith("The capital")


def test_a_reply_is_the_assistant_turn_and_continuing_it_is_refused(backend, llama_server):
    assert backend.caps.server == "llama-cpp-python" and backend.caps.prefill == "none"
    session = Session.new()
    engine = Engine(session, backend)
    prompt = engine.add(session.root_id, plain=QUESTION, origin="prompt", role="user")
    settings = GenerationSettings(max_tokens=6, temperature=0, logprobs_k=3, chat=True)
    reply = engine.generate(prompt.id, None, settings).nodes[0]
    assert reply.role == "assistant" and reply.tokens
    assert session.turns(reply.id) == [("user", QUESTION), ("assistant", reply.text)]
    result = engine.generate(reply.id, 2, settings)
    assert result.tokens == 0 and len(result.errors) == 1
    assert result.errors[0].startswith("llama-cpp-python cannot continue a partial chat reply")
    assert result.nodes[0].finish_reason == "error"
