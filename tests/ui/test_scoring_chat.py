"""The app's "Score text" in a chat session and over a server that cannot score a prompt."""

from __future__ import annotations

import pytest
from loomtests.scripted_server import ScriptedServer, play
from loomtests.ui import wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.openai import open_api_backend
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.ui.app import make_app

SIZE = (80, 24)


class Recording(WordsBackend):
    """Words, and the context each score was asked after."""

    def __init__(self) -> None:
        super().__init__()
        self.prefixes: list = []

    def score(self, text, top_k=20, prefix=None):
        self.prefixes.append(prefix)
        return super().score(text, top_k=top_k, prefix=prefix)


async def test_text_typed_in_an_assistant_turn_is_scored_as_the_reply():
    backend = Recording()
    session = Session.new()
    engine = Engine(session, backend)
    q = engine.add(session.root_id, plain="hello big", origin="prompt", role="user")
    reply = [Token(text=" world", bytes=b" world", logprob=-1.0)]
    a = engine.add(q.id, tokens=reply, origin="model", model=backend.info().name)
    engine.add(a.id, plain=" big", origin="edit")  # typed into the reply
    app = make_app(session=session, backend=backend, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await wait_idle(app, pilot)
    user_prefix, reply_prefix = backend.prefixes
    assert user_prefix is None  # the first turn: nothing before it
    # The typed words continue the assistant's reply after the user's turn.
    assert reply_prefix.chat and reply_prefix.messages == [{"role": "user", "content": "hello big"}]
    assert reply_prefix.prefill == " world"


@pytest.fixture
def ollama():
    srv = ScriptedServer()
    play(srv, "ollama")
    yield srv
    srv.close()


async def test_a_server_without_prompt_scores_says_so_in_one_line(ollama):
    api = open_api_backend(model="fake-model", api_base=ollama.base)
    app = make_app(session=Session.new("hello big world"), backend=api, new_session=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("c")
        await wait_idle(app, pilot)
        messages = [n.message for n in app._notifications]
    api.close()
    refusal = [m for m in messages if m.startswith("not scored:")]
    assert refusal and "\n" not in refusal[0]
    assert "no echo with logprobs" in refusal[0] and "no prompt_logprobs" in refusal[0]
    assert not any(m.startswith("scored ") for m in messages)
