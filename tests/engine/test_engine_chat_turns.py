"""Chat turns through the engine (fake backend): what the model writes is the assistant's
turn, picks/edits/regenerations inside a reply continue it, and the context the backend
gets is the turns with the partial reply as a prefill, never one glued user message."""

from __future__ import annotations

from loomtests.fakes import TopKBackend

from loomtui.backends.base import Context, GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine, branch_context

CHAT = GenerationSettings(max_tokens=4, temperature=0, logprobs_k=3, chat=True)


class Recording(TopKBackend):
    """The fake model, keeping every context it was asked to continue."""

    def __init__(self) -> None:
        super().__init__(name="fake")
        self.contexts: list[Context] = []

    def generate(self, context, settings, cancel=None):
        self.contexts.append(context)
        return super().generate(context, settings, cancel)


def chat_engine() -> tuple[Engine, Recording, str]:
    backend = Recording()
    session = Session.new()
    engine = Engine(session, backend)
    prompt = engine.add(session.root_id, plain="The cat", origin="prompt", role="user")
    return engine, backend, prompt.id


def test_a_chat_reply_is_the_assistant_turn_and_its_context_the_user_turn():
    engine, backend, prompt = chat_engine()
    result = engine.generate(prompt, None, CHAT)
    reply = result.nodes[0]
    assert reply.role == "assistant"
    ctx = backend.contexts[-1]
    assert ctx.chat and ctx.messages == [{"role": "user", "content": "The cat"}]
    assert ctx.prefill == "" and ctx.prefill_ids is None


def test_regenerating_inside_a_reply_continues_it_as_a_prefill():
    engine, backend, prompt = chat_engine()
    reply = engine.generate(prompt, None, CHAT).nodes[0]
    kept = [t.token_id for t in reply.tokens[:2]]
    head_text = "".join(t.text for t in reply.tokens[:2])
    again = engine.generate(reply.id, 2, CHAT).nodes[0]
    ctx = backend.contexts[-1]
    # The turns before the reply, then the reply's first two tokens as the model's own
    # (their ids, not a re-tokenization), not one user message "The cat<reply>".
    assert ctx.messages == [{"role": "user", "content": "The cat"}]
    assert ctx.prefill == head_text and ctx.prefill_ids == kept
    assert again.role == "assistant"
    assert engine.session.turns(again.id)[0] == ("user", "The cat")
    assert [r for r, _ in engine.session.turns(again.id)] == ["user", "assistant"]


def test_a_pick_and_an_edit_inside_a_reply_stay_the_assistant_turn():
    engine, backend, prompt = chat_engine()
    reply = engine.generate(prompt, None, CHAT).nodes[0]
    # Picking another first token hangs under the user's node, yet it is the reply's.
    alt = reply.tokens[0].top[1]
    picked = engine.pick(reply.id, 0, alt)
    assert picked.role == "assistant"
    engine.generate(picked.id, None, CHAT)
    ctx = backend.contexts[-1]
    assert ctx.messages == [{"role": "user", "content": "The cat"}]
    assert ctx.prefill == alt.text and ctx.prefill_ids == [alt.token_id]
    # An edit inside the reply (typed text) is the assistant's too.
    text = engine.session.branch_text(reply.id)
    edited = engine.edit_branch(reply.id, text[: len("The cat") + 2] + " home")
    assert edited.role == "assistant"
    engine.generate(edited.id, None, CHAT)
    assert backend.contexts[-1].prefill.endswith(" home")


def test_a_new_user_turn_after_a_reply_is_a_message_of_its_own():
    engine, backend, prompt = chat_engine()
    reply = engine.generate(prompt, None, CHAT).nodes[0]
    saves: list[int] = []
    engine.on_change = lambda s: saves.append(1)
    q2 = engine.add_turn(reply.id, " the dog")
    assert q2.role == "user" and engine.session.current_id == q2.id and saves == [1]
    engine.generate(q2.id, None, CHAT)
    ctx = backend.contexts[-1]
    assert [m["role"] for m in ctx.messages] == ["user", "assistant", "user"]
    assert ctx.messages[1]["content"] == reply.text
    assert ctx.messages[2]["content"] == " the dog" and ctx.prefill == ""


def test_completion_mode_is_unchanged():
    backend = Recording()
    session = Session.new("The cat")
    engine = Engine(session, backend)
    node = engine.generate(session.current_id, None, CHAT.__class__(max_tokens=2)).nodes[0]
    assert node.role is None
    ctx = backend.contexts[-1]
    assert not ctx.chat and ctx.messages is None and ctx.token_ids == backend.tokenize("The cat")


def test_an_old_chat_branch_without_roles_reads_as_turns():
    backend = TopKBackend()
    session = Session.new("The cat")
    gen = session.add_generation(session.current_id, settings={"chat": True}, model="fake")
    engine = Engine(session, backend)
    engine.generate(gen.id, None, GenerationSettings(max_tokens=2, temperature=0))  # old file
    for node in session.nodes.values():
        node.role = None  # as written before roles were recorded
    ctx = branch_context(session, session.current_id, backend, chat=True)
    assert ctx.messages == [{"role": "user", "content": "The cat"}]
    assert ctx.prefill == session.current.text
