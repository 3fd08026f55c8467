"""A chat reply continued as the model's own turn, on the real embedded SmolLM2: the numbers
shown for a continuation inside a reply are those of the chat template's prompt plus the
partial reply, computed by a separate plain forward pass."""

from __future__ import annotations

import json

import pytest

from loomtui.backends.base import GenerationSettings
from loomtui.cli import main
from loomtui.core.tree import Session
from loomtui.engine import Engine

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
TOL = 1e-4  # cached fp32 decoding vs a plain forward pass (see tests/cli/test_generate_score.py)


def template(backend, messages) -> list[int]:
    out = backend.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if not isinstance(out, list):
        out = out["input_ids"]
    return [int(i) for i in out]


def im_end(backend) -> int:
    return backend.tokenizer.convert_tokens_to_ids("<|im_end|>")


def _answered(backend, max_tokens: int) -> tuple[Engine, object, GenerationSettings]:
    """An engine over a new session: the question as a user turn, answered greedily."""
    session = Session.new()
    engine = Engine(session, backend)
    prompt = engine.add(session.root_id, plain=QUESTION, origin="prompt", role="user")
    greedy = GenerationSettings(max_tokens=max_tokens, temperature=0, logprobs_k=5, chat=True)
    return engine, engine.generate(prompt.id, None, greedy).nodes[0], greedy


def test_regenerating_inside_a_reply_continues_the_assistant_turn(real_backend, ref):
    engine, reply, greedy = _answered(real_backend, 8)
    reply_ids = [t.token_id for t in reply.tokens]
    # Regenerate from the cursor at offset 3 inside the reply.
    again = engine.generate(reply.id, 3, greedy).nodes[0]
    sent = list(real_backend.last_stats["prompt_token_ids"])
    expected = template(real_backend, [{"role": "user", "content": QUESTION}]) + reply_ids[:3]
    assert sent == expected
    # No end of turn between the question's template and the partial reply: the reply is
    # the assistant's own, not a new user message holding question + reply.
    start = len(expected) - 3
    assert im_end(real_backend) not in sent[start:]
    assert sent.count(im_end(real_backend)) == expected[:start].count(im_end(real_backend))
    # The first token's numbers are those of a plain forward pass over exactly that context.
    logp = ref.plain_logprobs(real_backend, expected)[-1]
    first = again.tokens[0]
    assert first.logprob == pytest.approx(float(logp[first.token_id]), abs=TOL)
    assert first.entropy == pytest.approx(ref.entropy_of(logp), abs=TOL)
    # Greedy, it continues the same reply it had written.
    assert [t.token_id for t in again.tokens[:3]] == reply_ids[3:6]
    assert again.role == "assistant"


def test_a_second_user_turn_sees_the_whole_conversation(real_backend, ref):
    engine, reply, greedy = _answered(real_backend, 6)
    q2 = engine.add_turn(reply.id, "And of Spain?")
    answer = engine.generate(q2.id, None, greedy).nodes[0]
    expected = template(
        real_backend,
        [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": reply.text},
            {"role": "user", "content": "And of Spain?"},
        ],
    )
    assert list(real_backend.last_stats["prompt_token_ids"]) == expected
    logp = ref.plain_logprobs(real_backend, expected)[-1]
    assert answer.tokens[0].logprob == pytest.approx(
        float(logp[answer.tokens[0].token_id]), abs=TOL
    )


def test_cli_prefill_starts_the_assistant_turn(real_backend, ref, capsys, tmp_path):
    out = tmp_path / "chat.json"
    argv = ["generate", "--chat", "--prompt", QUESTION, "--prefill", "The capital"]
    argv += ["--max-tokens", "4", "--temperature", "0", "--logprobs", "5", "--json"]
    assert main([*argv, "-o", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = template(real_backend, [{"role": "user", "content": QUESTION}])
    expected += real_backend.tokenize("The capital")
    assert data["prompt_token_ids"] == expected
    assert data["prefill"] == "The capital"
    first = data["completions"][0]["tokens"][0]
    logp = ref.plain_logprobs(real_backend, expected)[-1]
    assert first["logprob"] == pytest.approx(float(logp[first["token_id"]]), abs=TOL)
    assert data["completions"][0]["text"].startswith(" of France")
    # The session records the turns: the user's question, the assistant's reply (prefill +
    # what the model wrote).
    from loomtui.core.sessionfile import load_session

    session = load_session(out)
    leaf = session.leaves()[0]
    turns = session.turns(leaf.id)
    assert turns[0] == ("user", QUESTION)
    assert turns[1][0] == "assistant" and turns[1][1].startswith("The capital of France")
    # A second question, continued from the session: a new user turn after the reply.
    argv2 = ["generate", "--chat", "--session", str(out), "--prompt", "And of Spain?"]
    assert main([*argv2, "--max-tokens", "3", "--temperature", "0", "--json"]) == 0
    data2 = json.loads(capsys.readouterr().out)
    session = load_session(out)
    assert [r for r, _ in session.turns(session.current_id)] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    expected2 = template(
        real_backend,
        [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": turns[1][1]},
            {"role": "user", "content": "And of Spain?"},
        ],
    )
    assert data2["prompt_token_ids"] == expected2
