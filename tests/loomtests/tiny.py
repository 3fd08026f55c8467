"""A tiny random Llama with a byte-level BPE tokenizer built offline, for fast backend cases."""

from __future__ import annotations


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
