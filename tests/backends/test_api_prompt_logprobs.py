"""Prompt scoring over vLLM's ``prompt_logprobs``, against a scripted server that answers in
vLLM's exact shape: ``choices[0].prompt_logprobs`` (completions) or the response's own
``prompt_logprobs`` (chat), a list with ``null`` first and then, per prompt token,
``{token_id_str: {"logprob", "rank", "decoded_token"}}`` holding the token itself plus the top
k (k + 1 entries when the token is outside them); ``prompt_token_ids`` only when
``return_token_ids`` is asked (vLLM 0.10.2+). Partial UTF-8 tokens decode to U+FFFD, as vLLM's
detokenizer sends them.
"""

from __future__ import annotations

import json

import pytest
from loomtests.scripted_server import FAKE_KEY, Reply, ScriptedServer, vllm_handler

from loomtui.backends.base import BackendError, Context
from loomtui.backends.openai.caps import Capabilities
from loomtui.backends.openai.compat import APIBackend
from loomtui.cli import main

# -- a small tokenizer the scripted server uses ---------------------------------------------

SPECIAL = ["<|im_start|>", "<|im_end|>"]
WORDS = [
    "The",
    " capital",
    " of",
    " France",
    " is",
    " Par",
    " Paris",
    " P",
    ".",
    " caf",
    "\n",
    "user",
    "assistant",
    "What",
    "?",
    " the",
    "Hello",
    " world",
    " a",
    " cup",
    " c",
]
VOCAB = SPECIAL + WORDS
BOS = 1  # id of <s> where a model adds one
BYTE_BASE = 1000  # ids of single bytes: BYTE_BASE + byte


def tid_of(piece: str) -> int:
    return 10 + VOCAB.index(piece)


HEAD_BASE = 100_000  # ids of a character's leading bytes: HEAD_BASE + their value


def piece_of(tid: int) -> bytes:
    if tid >= HEAD_BASE:
        value = tid - HEAD_BASE
        return value.to_bytes((value.bit_length() + 7) // 8, "big")
    if tid >= BYTE_BASE:
        return bytes([tid - BYTE_BASE])
    return VOCAB[tid - 10].encode()


def decoded(tid: int) -> str:
    """What vLLM's detokenizer sends: a partial character as U+FFFD."""
    data = piece_of(tid)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd"


def tokenize(text: str) -> list[int]:
    """Greedy longest match over the vocabulary; a character it lacks goes as byte-level BPE
    splits one: its leading bytes as one token (two bytes: each alone), its last byte alone."""
    out: list[int] = []
    pos = 0
    pieces = sorted(VOCAB, key=lambda p: -len(p))
    while pos < len(text):
        for piece in pieces:
            if text.startswith(piece, pos):
                out.append(tid_of(piece))
                pos += len(piece)
                break
        else:
            data = text[pos].encode()
            if len(data) == 1:
                out.append(BYTE_BASE + data[0])
            elif len(data) == 2:
                out.extend(BYTE_BASE + b for b in data)
            else:
                out.append(HEAD_BASE + int.from_bytes(data[:-1], "big"))
                out.append(BYTE_BASE + data[-1])
            pos += 1
    return out


def own_rank(tid: int, i: int, k: int) -> int:
    """Where the prompt token stands among the model's: outside the top k now and then."""
    return 1 + (tid + i) % (k + 2)


def value(i: int, rank: int) -> float:
    return -0.1 - 0.05 * (i % 5) - 0.4 * (rank - 1)


def entry(ids: list[int], i: int, k: int) -> dict[str, dict]:
    """vLLM's dict for prompt position ``i``: the token itself and the top k."""
    tid = ids[i]
    rank = own_rank(tid, i, k)
    others = [t for t in (tid_of(" Par"), tid_of(" P"), *range(10, 10 + len(VOCAB))) if t != tid]
    out: dict[str, dict] = {}
    slot = iter(dict.fromkeys(others))
    for r in range(1, k + 1):
        t = tid if r == rank else next(slot)
        out[str(t)] = {"logprob": value(i, r), "rank": r, "decoded_token": decoded(t)}
    if rank > k:
        out[str(tid)] = {"logprob": value(i, rank), "rank": rank, "decoded_token": decoded(tid)}
    return out


def prompt_logprobs(ids: list[int], k: int) -> list:
    return [None] + [entry(ids, i, k) for i in range(1, len(ids))]


def render_chat(messages: list[dict]) -> str:
    """ChatML with the final message left open (continue_final_message)."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    parts[-1] = parts[-1][: -len("<|im_end|>\n")]
    return "".join(parts)


class VLLM:
    """vLLM's answers, with prompt_logprobs; ``bos`` as a Llama tokenizer adds one;
    ``ids``: whether return_token_ids is honoured (vLLM 0.10.2+); ``echo_shift`` makes echo
    disagree with generation (so doctor finds it unusable)."""

    def __init__(self, bos: bool = False, ids: bool = True, echo_shift: float = 0.0) -> None:
        self.bos, self.ids, self.echo_shift = bos, ids, echo_shift

    def __call__(self, body: dict, chat: bool) -> Reply:
        k = body.get("prompt_logprobs")
        if not isinstance(k, int):
            reply = vllm_handler(body, chat)
            if body.get("echo") and self.echo_shift and isinstance(reply.body, dict):
                for choice in reply.body["choices"]:
                    lps = choice["logprobs"]["token_logprobs"]
                    choice["logprobs"]["token_logprobs"] = [
                        None if v is None else v + self.echo_shift for v in lps
                    ]
            return reply
        text = render_chat(body["messages"]) if chat else body["prompt"]
        ids = ([BOS] if self.bos else []) + tokenize(text)
        lps = prompt_logprobs(ids, k)
        extra = {"prompt_logprobs": lps}
        if self.ids and body.get("return_token_ids"):
            extra["prompt_token_ids"] = ids
        choice = {"index": 0, "finish_reason": "length", "logprobs": None, "token_ids": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": " x"}
            return Reply(body={"object": "chat.completion", "choices": [choice], **extra})
        choice.update(text=" x", **extra)
        return Reply(body={"object": "text_completion", "choices": [choice]})


@pytest.fixture
def vllm():
    srv = ScriptedServer()
    srv.owned_by = "vllm"
    srv.model_meta = {"max_model_len": 4096}
    yield srv
    srv.close()


def backend(srv: ScriptedServer, **caps) -> APIBackend:
    base = dict(stream=False, timeout=5.0, server="vllm", supports_echo=False)
    base.update(caps)
    return APIBackend(srv.base, srv.model, Capabilities(prompt_logprobs=True, **base), FAKE_KEY)


def expected(full: str, text: str, k: int, bos: bool = False) -> list[tuple]:
    """(bytes, id, logprob, top-k ids) the text's tokens must have, computed here from the
    tokenizer and the scripted model, independently of loomtui."""
    ids = ([BOS] if bos else []) + tokenize(full)
    start = len(ids) - len(tokenize(text))
    out = []
    for i in range(start, len(ids)):
        tid = ids[i]
        if i == 0:
            out.append((piece_of(tid), tid, None, []))
            continue
        lps = entry(ids, i, k)
        top = sorted(
            ((int(t), v["logprob"]) for t, v in lps.items() if v["rank"] <= k), key=lambda x: -x[1]
        )
        out.append((piece_of(tid), tid, value(i, own_rank(tid, i, k)), [t for t, _ in top]))
    return out


def seen(tokens) -> list[tuple]:
    return [(t.bytes, t.token_id, t.logprob, [a.token_id for a in t.top]) for t in tokens]


@pytest.mark.parametrize("ids", [True, False], ids=["with-token-ids", "decoded-only"])
@pytest.mark.parametrize("bos", [False, True], ids=["no-bos", "bos"])
def test_completion_prompt_scored_from_prompt_logprobs(vllm, ids, bos):
    k = 3
    vllm.path_handler = VLLM(bos=bos, ids=ids)
    api = backend(vllm)
    before = "The capital of France is"
    text = " Paris. caf\u00e9 \u2615 a cup"  # two- and three-byte characters split into bytes
    result = api.score(text, top_k=k, prefix=Context(text=before))
    assert result.note is None
    assert seen(result.tokens) == expected(before + text, text, k, bos)
    assert b"".join(t.bytes for t in result.tokens) == text.encode()
    # A token outside the top k keeps its own logprob but is not in its top-k list.
    outside = [t for t in result.tokens if t.token_id not in [a.token_id for a in t.top]]
    assert outside and all(len(t.top) == k for t in result.tokens)
    body = vllm.posts()[-1].body
    assert body["prompt"] == before + text and body["prompt_logprobs"] == k
    assert "echo" not in body and body["max_tokens"] == 1
    # The prefix's ids as far as the server said them: without prompt_token_ids the first
    # prompt token's id is not sent (a BOS goes unnamed; a first word makes them unknown).
    n = len(tokenize(before))
    want = {(True, False): n, (True, True): n + 1, (False, False): 0, (False, True): n}
    assert len(result.prefix_token_ids) == want[(ids, bos)]


def test_first_token_of_a_bare_text_has_no_logprob(vllm):
    vllm.path_handler = VLLM(ids=False)
    result = backend(vllm).score("Hello world", top_k=2)
    assert [t.bytes for t in result.tokens] == [b"Hello", b" world"]
    assert result.tokens[0].logprob is None and result.tokens[1].logprob is not None


def test_chat_text_scored_as_the_assistant_reply_continued(vllm):
    """In chat mode the text continues the assistant's reply (continue_final_message): its
    tokens are the end of the rendered prompt, the template's own tokens are not scored."""
    k = 2
    vllm.path_handler = VLLM(ids=True)
    api = backend(vllm, mode="chat", prefill="continue")
    prefix = Context(
        text="",
        chat=True,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        prefill="The capital",
    )
    text = " of France is Paris."
    result = api.score(text, top_k=k, prefix=prefix)
    body = vllm.posts()[-1].body
    assert body["messages"][-1] == {"role": "assistant", "content": "The capital" + text}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    full = render_chat(body["messages"])
    assert seen(result.tokens) == expected(full, text, k)
    head = tokenize(full)[: -len(tokenize(text))]
    assert result.prefix_token_ids == head


def test_chat_scoring_refused_where_the_final_message_cannot_be_continued(vllm):
    vllm.path_handler = VLLM()
    api = backend(vllm, mode="chat", prefill="none", server="someserver")
    with pytest.raises(BackendError) as err:
        api.score(" Paris", prefix=Context(text="", chat=True, messages=[], prefill="A"))
    assert "continue_final_message" in str(err.value) and "\n" not in str(err.value)
    assert vllm.posts() == []


def test_text_that_does_not_line_up_is_refused_not_misread(vllm):
    """A server whose decoded tokens spell another text: one line, no wrong scores."""

    def wrong(body, chat):
        ids = tokenize("Hello world")
        return Reply(
            body={"choices": [{"index": 0, "text": "", "prompt_logprobs": prompt_logprobs(ids, 2)}]}
        )

    vllm.path_handler = wrong
    with pytest.raises(BackendError, match="do not line up"):
        backend(vllm).score("The capital", top_k=2, prefix=Context(text="Hi"))


def test_doctor_finds_prompt_logprobs_and_score_uses_them(vllm, capsys, tmp_path):
    """doctor against a vLLM-shaped server whose echo disagrees with generation: echo is
    refused, prompt_logprobs found; `score` then takes them from the cached findings."""
    vllm.path_handler = VLLM(ids=True, echo_shift=1.0)
    assert main(["doctor", "--api-base", vllm.base, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["capabilities"]
    assert found["echo"] is False and found["prompt_logprobs"] is True
    text = "The capital of France is Paris."
    code = main(["score", "--api-base", vllm.base, "--text", text, "--top-k", "3", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    want = expected(text, text, 3)
    assert [bytes.fromhex(t["bytes"]) for t in data["tokens"]] == [w[0] for w in want]
    assert [t["logprob"] for t in data["tokens"]] == [w[2] for w in want]
    body = vllm.posts()[-1].body
    assert body["prompt_logprobs"] == 3 and "echo" not in body


def test_refusal_names_what_the_server_lacks(vllm, capsys):
    """No usable echo and no prompt_logprobs: one line saying both."""
    from loomtests.scripted_server import play

    play(vllm, "ollama")
    code = main(["score", "--api-base", vllm.base, "--model", "fake-model", "--text", "Hi"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "no echo with logprobs" in err and "no prompt_logprobs" in err


def test_chat_prompt_logprobs_found_by_doctor_on_a_chat_only_server(vllm, capsys):
    def chat_only(body, chat):
        if not chat:
            return Reply(status=404, body={"error": {"message": "no completions here"}})
        return VLLM()(body, chat)

    vllm.path_handler = chat_only
    assert main(["doctor", "--api-base", vllm.base, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["capabilities"]
    assert found["completions"] is False and found["prompt_logprobs"] is True
