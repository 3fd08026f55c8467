"""The local backend on the real embedded SmolLM2-135M-Instruct: the numbers shown are the
numbers the model computed."""

from __future__ import annotations

import threading

import pytest

from loomtui.backends.base import Context, GenerationSettings
from loomtui.core.tokens import PackedTop

pytestmark = pytest.mark.slow

BUGS = "Are bugs real?"
NUMBER = "Here is a random number between 1 and 100:"


def _gen(backend, ref, context, **kw):
    settings = GenerationSettings(**kw)
    result = ref.completions(backend.generate(context, settings))
    return result, list(backend.last_stats["prompt_token_ids"])


def _check_against_plain_forward(backend, ref, prompt_ids, tokens, k=20):
    ids = prompt_ids + [t.token_id for t in tokens]
    logp = ref.plain_logprobs(backend, ids)
    for j, tok in enumerate(tokens):
        row = logp[len(prompt_ids) + j - 1]
        assert tok.logprob == pytest.approx(float(row[tok.token_id]), abs=2e-4)
        assert tok.entropy == pytest.approx(ref.entropy_of(row), abs=2e-4)
        values, top_ids = row.topk(k)
        got_ids = [a.token_id for a in tok.top]
        # Near-ties may swap order; the sets and the values must agree.
        assert len(got_ids) == k
        assert [a.logprob for a in tok.top] == pytest.approx(values.tolist(), abs=2e-4)
        assert set(got_ids[:5]) == set(top_ids.tolist()[:5]) or got_ids[:3] == top_ids.tolist()[:3]
        assert tok.bytes == backend.token_bytes(tok.token_id)
        assert tok.dist == "raw"
        # Kept packed (cheap to hold and save), and the very numbers the model computed:
        # the token's own logprob and its entry in the list are the same float32.
        assert type(tok.top) is PackedTop and tok.top.lps.typecode == "f"
        if tok.rank() is not None:
            assert tok.top[tok.rank() - 1].logprob == tok.logprob


def test_greedy_tokens_match_a_plain_forward_pass_and_pick_the_argmax(real_backend, ref):
    result, prompt_ids = _gen(
        real_backend, ref, Context(BUGS, chat=True), max_tokens=16, temperature=0
    )
    tokens, reason = result[0]
    assert reason == "length" and len(tokens) == 16
    _check_against_plain_forward(real_backend, ref, prompt_ids, tokens)
    logp = ref.plain_logprobs(real_backend, prompt_ids + [t.token_id for t in tokens])
    for j, tok in enumerate(tokens):
        assert tok.token_id == int(logp[len(prompt_ids) + j - 1].argmax())
        assert tok.rank() == 1


def test_chat_mode_uses_the_chat_template(real_backend, ref):
    _, prompt_ids = _gen(real_backend, ref, Context(BUGS, chat=True), max_tokens=1, temperature=0)
    expected = real_backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": BUGS}], add_generation_prompt=True, tokenize=False
    )
    assert real_backend.tokenizer.decode(prompt_ids) == expected
    assert expected.rstrip().endswith("assistant")
    _, plain_ids = _gen(real_backend, ref, Context(BUGS), max_tokens=1, temperature=0)
    assert plain_ids == real_backend.tokenize(BUGS)


def test_sampled_tokens_keep_raw_numbers_and_n_rows_differ(real_backend, ref):
    result, prompt_ids = _gen(
        real_backend, ref, Context(NUMBER), max_tokens=12, n=4, temperature=1.0, seed=11
    )
    texts = [b"".join(t.bytes for t in toks) for toks, _ in result.values()]
    assert len(result) == 4 and len(set(texts)) == 4
    for toks, _ in result.values():
        _check_against_plain_forward(real_backend, ref, prompt_ids, toks)


def test_a_seed_reproduces_and_another_seed_differs(real_backend, ref):
    def ids(seed):
        result, _ = _gen(
            real_backend, ref, Context(NUMBER), max_tokens=10, temperature=1.0, seed=seed
        )
        return [t.token_id for t in result[0][0]]

    first = ids(5)
    assert ids(5) == first
    assert ids(6) != first


def test_logprobs_after_cache_reuse_equal_a_fresh_computation(real_backend, ref):
    result, prompt_ids = _gen(
        real_backend, ref, Context(BUGS, chat=True), max_tokens=40, temperature=0
    )
    branch = prompt_ids + [t.token_id for t in result[0][0]]
    cursor = branch[: len(prompt_ids) + 25]
    again, _ = _gen(
        real_backend, ref, Context("", token_ids=cursor), max_tokens=8, temperature=1.0, seed=3
    )
    # The prefix came from the stored cache, not from re-reading it.
    assert real_backend.last_stats["reused_tokens"] == len(cursor) - 1
    _check_against_plain_forward(real_backend, ref, cursor, again[0][0])


def test_stop_string_ends_the_completion_before_it(real_backend, ref):
    free, _ = _gen(real_backend, ref, Context(BUGS, chat=True), max_tokens=40, temperature=0)
    free_text = b"".join(t.bytes for t in free[0][0]).decode()
    assert "," in free_text, free_text
    stopped, _ = _gen(
        real_backend, ref, Context(BUGS, chat=True), max_tokens=40, temperature=0, stop=[","]
    )
    toks, reason = stopped[0]
    text = b"".join(t.bytes for t in toks).decode()
    assert reason == "stop"
    assert "," not in text
    assert free_text.startswith(text) and len(text) <= free_text.index(",")


def test_cancel_stops_the_generation(real_backend, ref):
    cancel = threading.Event()
    events = real_backend.generate(Context(BUGS), GenerationSettings(max_tokens=50), cancel)
    seen = []
    for ev in events:
        seen.append(ev)
        if ev.token is not None and len(seen) == 3:
            cancel.set()
    assert seen[-1].finish_reason == "cancelled"
    assert sum(ev.token is not None for ev in seen) == 3


def test_score_bytes_rebuild_the_text_and_match_a_forward_pass(real_backend, ref):
    text = "Bugs are real.\nCafé 😀 naïve — 日本語!"
    result = real_backend.score(text, top_k=5)
    assert b"".join(t.bytes for t in result.tokens) == text.encode()
    assert result.prefix_token_ids == [0]  # <|endoftext|>: SmolLM2's document separator
    assert all(t.logprob is not None for t in result.tokens)
    # Partial UTF-8: the emoji is split over tokens whose bytes are the true bytes.
    assert any(t.bytes and not _decodes(t.bytes) for t in result.tokens)
    ids = result.prefix_token_ids + [t.token_id for t in result.tokens]
    logp = ref.plain_logprobs(real_backend, ids)
    for j, tok in enumerate(result.tokens):
        row = logp[len(result.prefix_token_ids) + j - 1]
        assert tok.logprob == pytest.approx(float(row[tok.token_id]), abs=2e-4)
        assert tok.entropy == pytest.approx(ref.entropy_of(row), abs=2e-4)
        assert [a.token_id for a in tok.top][0] == int(row.argmax())


def test_batched_next_distributions_equal_single_ones(real_backend):
    contexts = [Context(BUGS), Context(NUMBER), Context("The")]
    batched = real_backend.next_distributions(contexts, top_k=5)
    for ctx, dist in zip(contexts, batched, strict=True):
        single = real_backend.next_distribution(ctx, top_k=5)
        assert [a.token_id for a in dist.top] == [a.token_id for a in single.top]
        assert [a.logprob for a in dist.top] == pytest.approx(
            [a.logprob for a in single.top], abs=1e-4
        )
        assert dist.entropy == pytest.approx(single.entropy, abs=1e-4)


def test_info_describes_the_embedded_model(real_backend):
    info = real_backend.info()
    assert info.name == "SmolLM2-135M-Instruct-Q4_1"
    assert info.backend == "local" and info.dist == "raw" and info.exact_entropy
    assert info.vocab_size == 49152 and info.context_length == 8192 and info.chat_template


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
