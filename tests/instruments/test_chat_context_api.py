"""Instruments in a chat session over a server: the chat context (the turns as messages, the
partial reply as a final assistant message the server continues), never the raw text sent as
a completion prompt. Against the scripted vLLM-shaped server."""

from __future__ import annotations

import pytest
from loomtests.scripted_server import FAKE_KEY, ScriptedServer, play

from loomtui.backends.openai.caps import Capabilities
from loomtui.backends.openai.compat import APIBackend
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments import multiverse, probe
from loomtui.instruments.context import instrument_context

QUESTION = "What is the capital of France?"
REPLY = ["The", " capital", " is"]


@pytest.fixture
def vllm():
    srv = ScriptedServer()
    play(srv, "vllm")
    yield srv
    srv.close()


def chat_session(api: APIBackend) -> tuple[Session, str]:
    session = Session.new()
    engine = Engine(session, api)
    q = engine.add(session.root_id, plain=QUESTION, origin="prompt", role="user")
    toks = [Token(text=t, bytes=t.encode(), logprob=-0.5) for t in REPLY]
    reply = engine.add(q.id, tokens=toks, origin="model", model=api.model, role="assistant")
    return session, reply.id


def api_for(srv: ScriptedServer) -> APIBackend:
    caps = Capabilities(server="vllm", stream=False, timeout=5.0, prefill="continue")
    return APIBackend(srv.base, srv.model, caps, api_key=FAKE_KEY)


def test_multiverse_in_a_chat_session_continues_the_assistant_reply(vllm):
    api = api_for(vllm)
    session, reply = chat_session(api)
    ctx = instrument_context(session, api, reply, 2)
    assert ctx.chat and ctx.prefill == "The capital"
    mv = multiverse.expand(api, ctx, depth=2, top_k=2)
    bodies = [r.body for r in vllm.posts()]
    assert bodies and all(r.path.endswith("/chat/completions") for r in vllm.posts())
    assert all("prompt" not in b for b in bodies)
    for b in bodies:
        assert b["messages"][0] == {"role": "user", "content": QUESTION}
        assert b["messages"][-1]["role"] == "assistant"
        assert b["continue_final_message"] is True and b["add_generation_prompt"] is False
    finals = sorted(b["messages"][-1]["content"] for b in bodies)
    # Level 1 from the partial reply; level 2 from the reply plus each level-1 token.
    want = ["The capital"] + ["The capital" + c.alt.text for c in mv.children]
    assert finals == sorted(want)


def test_probe_walk_in_a_chat_session_stays_in_the_reply(vllm):
    """Where the server cannot score the prompt, the probe follows top-k lists step by step:
    each step is the reply continued, not a completion of the raw text."""
    api = api_for(vllm)
    api.caps.prompt_logprobs = False
    session, reply = chat_session(api)
    ctx = instrument_context(session, api, reply, None)
    probe.probe(api, ctx, [" Paris,"])  # " Paris" is listed, then the walk goes on
    bodies = [r.body for r in vllm.posts()]
    assert bodies and all("messages" in b and "prompt" not in b for b in bodies)
    finals = {b["messages"][-1]["content"] for b in bodies}
    assert "The capital is" in finals and "The capital is Paris" in finals
