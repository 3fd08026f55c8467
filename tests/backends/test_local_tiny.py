"""Fast cases on a tiny random Llama with a byte-level BPE tokenizer built in the test."""

from __future__ import annotations

import pytest
import torch

from loomtui.backends.base import BackendError, Context, GenerationSettings
from loomtui.backends.kvcache import PrefixCache
from loomtui.backends.model_spec import resolve_spec
from loomtui.backends.sampling import StopFilter, sample
from loomtui.backends.tokenbytes import bytes_to_unicode
from loomtui.core.tokens import Token

# Batched, cached fp32 decoding and a plain forward pass sum in different orders: they
# agree to ~1e-5 nats, varying with batch shape and thread count. Far below display precision.
FP32_TOL = 1e-4


def test_every_token_has_its_true_bytes(tiny_backend):
    tok = tiny_backend.tokenizer
    text = "Are bugs real? café 😀 日本語"
    ids = tiny_backend.tokenize(text)
    assert b"".join(tiny_backend.token_bytes(i) for i in ids) == text.encode()
    for i in range(len(tok)):
        data = tiny_backend.token_bytes(i)
        try:
            whole = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a partial character: decode() would only say U+FFFD
        assert tok.decode([i]) == whole
    # Single-byte tokens of the byte alphabet include the continuation bytes themselves.
    assert {tiny_backend.token_bytes(i) for i in range(len(tok))} >= {bytes([0x80]), b"\xe6"}
    assert len(bytes_to_unicode()) == 256


def test_generation_matches_a_plain_forward_pass_for_every_row(tiny_backend, ref):
    settings = GenerationSettings(max_tokens=10, n=3, temperature=1.0, seed=2, logprobs_k=5)
    result = ref.completions(tiny_backend.generate(Context("Are bugs"), settings))
    prompt = tiny_backend.last_stats["prompt_token_ids"]
    assert prompt == tiny_backend.tokenize("Are bugs")
    assert len(result) == 3
    for tokens, reason in result.values():
        assert reason in ("length", "eos")
        ids = prompt + [t.token_id for t in tokens]
        logp = ref.plain_logprobs(tiny_backend, ids)
        for j, t in enumerate(tokens):
            row = logp[len(prompt) + j - 1]
            assert t.logprob == pytest.approx(float(row[t.token_id]), abs=FP32_TOL)
            assert t.entropy == pytest.approx(ref.entropy_of(row), abs=FP32_TOL)
            assert [a.token_id for a in t.top] == row.topk(5).indices.tolist()


def test_greedy_top_k_1_and_tiny_top_p_all_pick_the_argmax(tiny_backend, ref):
    def run(**kw):
        settings = GenerationSettings(**{"max_tokens": 8, "seed": 1, **kw})
        out = ref.completions(tiny_backend.generate(Context("The quick"), settings))
        return [t.token_id for t in out[0][0]]

    greedy = run(temperature=0)
    assert run(temperature=1.0, top_k=1) == greedy
    assert run(temperature=1.0, top_p=1e-6) == greedy
    assert run(temperature=1.5, seed=9) != greedy


def test_top_k_sampling_never_leaves_the_top_k():
    logits = torch.randn(4, 50)
    allowed = logits.topk(3).indices
    gen = torch.Generator().manual_seed(0)
    settings = GenerationSettings(temperature=2.0, top_k=3)
    for _ in range(50):
        picked = sample(logits, settings, gen)
        assert all(picked[r] in allowed[r] for r in range(4))


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    gen = torch.Generator().manual_seed(0)
    seen = {int(sample(logits, GenerationSettings(top_p=0.75), gen)) for _ in range(200)}
    assert seen == {0, 1}


def test_regeneration_reuses_the_stored_prefix(tiny_backend, ref):
    settings = GenerationSettings(max_tokens=30, temperature=0)
    first = ref.completions(tiny_backend.generate(Context("The lazy"), settings))
    prompt = tiny_backend.last_stats["prompt_token_ids"]
    branch = prompt + [t.token_id for t in first[0][0]]
    cursor = branch[:20]
    again = ref.completions(
        tiny_backend.generate(Context("", token_ids=cursor), GenerationSettings(max_tokens=5))
    )
    assert tiny_backend.last_stats["reused_tokens"] == 19
    logp = ref.plain_logprobs(tiny_backend, cursor + [t.token_id for t in again[0][0]])
    for j, t in enumerate(again[0][0]):
        assert t.logprob == pytest.approx(
            float(logp[len(cursor) + j - 1][t.token_id]), abs=FP32_TOL
        )


def test_prefix_cache_keeps_within_budget_and_drops_covered_prefixes(tiny_backend):
    model = tiny_backend.model
    with torch.no_grad():
        out = model(input_ids=torch.tensor([list(range(1, 41))]), use_cache=True)
    cache = out.past_key_values
    store = PrefixCache(budget_bytes=10**9, config=model.config)
    store.store(list(range(1, 21)), cache)
    store.store(list(range(1, 41)), cache)
    assert len(store) == 1  # the 20-token entry is a prefix of the 40-token one
    got, covered = store.lookup(list(range(1, 31)) + [99], max_len=30)
    assert covered == 30 and got.get_seq_length() == 30
    per_token = store.nbytes // 40
    small = PrefixCache(budget_bytes=per_token * 30, config=model.config)
    small.store(list(range(1, 21)), cache)
    small.store([7] * 20, cache)  # does not fit beside the first: the oldest goes
    assert len(small) == 1 and small.lookup([7] * 21, 20)[1] == 20


def test_score_without_a_start_token_leaves_the_first_logprob_empty(tiny_backend_no_doc, ref):
    text = "Are bugs real? 😀"
    result = tiny_backend_no_doc.score(text, top_k=3)
    assert result.prefix_token_ids == []
    first, rest = result.tokens[0], result.tokens[1:]
    assert first.logprob is None and first.top == () and first.entropy is None
    assert b"".join(t.bytes for t in result.tokens) == text.encode()
    ids = [t.token_id for t in result.tokens]
    logp = ref.plain_logprobs(tiny_backend_no_doc, ids)
    for j, t in enumerate(rest):
        assert t.logprob == pytest.approx(float(logp[j][t.token_id]), abs=FP32_TOL)


def test_stop_filter_holds_back_a_possible_stop_and_drops_the_stop_token():
    def tok(s: str) -> Token:
        return Token(s, s.encode())

    f = StopFilter(["\n\n"])
    ready, stop = f.push(tok("Hi"))
    assert [t.text for t in ready] == ["Hi"] and not stop
    ready, stop = f.push(tok(".\n"))
    assert ready == [] and not stop  # "\n" might begin "\n\n"
    ready, stop = f.push(tok("\nBye"))
    assert ready == [] and stop  # ".\n" held the stop's start; nothing after it is kept
    f = StopFilter(["\n\n"])
    f.push(tok("a\n"))
    ready, stop = f.push(tok("b"))
    assert [t.text for t in ready] == ["a\n", "b"] and not stop
    assert f.flush() == []


def test_model_specs_fail_with_one_line(tmp_path):
    with pytest.raises(BackendError, match="unknown model spec"):
        resolve_spec("no-such-thing")
    with pytest.raises(BackendError, match="not found"):
        resolve_spec(str(tmp_path / "missing.gguf"))
    with pytest.raises(BackendError, match="no config.json"):
        resolve_spec(str(tmp_path))
    with pytest.raises(BackendError, match="not found"):
        resolve_spec("./missing/folder")
    assert resolve_spec("HuggingFaceTB/SmolLM2-135M-Instruct").kind == "hub"


def test_chat_and_empty_contexts(tiny_backend):
    ids = tiny_backend.context_ids(Context("hi", chat=True))
    assert tiny_backend.tokenizer.decode(ids) == "<|endoftext|>user: hi\nassistant:"
    assert tiny_backend.context_ids(Context("")) == [0]  # the document separator
    with pytest.raises(BackendError, match="tokens"):
        tiny_backend.context_ids(Context("", token_ids=[5] * 600))


def test_an_over_long_context_fails_when_iterated_with_one_line(tiny_backend):
    # Raising on the first step (not on the call) lets the engine's loop turn it into a
    # visible failed node.
    events = tiny_backend.generate(Context("", token_ids=[5] * 600), GenerationSettings())
    with pytest.raises(BackendError, match="600 tokens"):
        next(events)


def test_engine_generation_through_the_tree_keeps_the_numbers(tiny_backend, ref):
    from loomtui.core.tree import Session
    from loomtui.engine import Engine

    session = Session.new("The quick brown")
    engine = Engine(session, tiny_backend)
    result = engine.generate(session.current_id, None, GenerationSettings(max_tokens=6, n=2))
    assert len(result.nodes) == 2 and all(len(n.tokens) == 6 for n in result.nodes)
    prompt = tiny_backend.tokenize("The quick brown")
    for node in result.nodes:
        ids = prompt + [t.token_id for t in node.tokens]
        logp = ref.plain_logprobs(tiny_backend, ids)
        for j, t in enumerate(node.tokens):
            assert t.logprob == pytest.approx(
                float(logp[len(prompt) + j - 1][t.token_id]), abs=FP32_TOL
            )
        assert node.settings["n"] == 2 and node.model == "tiny-llama"
