"""What the llama.cpp engine needs around llama.cpp's C API: loading a GGUF quietly, the
vocabulary (every token's raw bytes, the end-of-generation ids), tokenizing, the GGUF's chat
template, and the KV cache's sequences kept as stored prefixes.

Only :mod:`.llamacpp` imports this module, and only when the user chose ``--engine
llamacpp``: ``llama_cpp`` (llama-cpp-python) is an optional dependency.
"""

from __future__ import annotations

import ctypes
import json
import os
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

import llama_cpp as lc

from .base import BackendError

#: The KV cache's sequences: one per live row of a generation, the rest keep stored prefixes.
N_SEQ = 16
#: The window the engine opens when the model's own is longer (KV memory is n_ctx cells).
DEFAULT_N_CTX = 8192
#: Tokens per llama_decode call when reading a prompt (llama.cpp's own default).
N_BATCH = 512


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _silent(level: int, text: bytes, user_data: Any) -> None:  # pragma: no cover - C calls it
    return None


_READY = False


def init_llama() -> None:
    """llama.cpp's backend, once per process, with its log lines silenced (LOOMTUI_DEBUG
    lets them through): a terminal UI cannot have a C library print over it."""
    global _READY
    if _READY:
        return
    if not os.environ.get("LOOMTUI_DEBUG"):
        lc.llama_log_set(_silent, ctypes.c_void_p(0))
    lc.llama_backend_init()
    _READY = True


def default_threads() -> tuple[int, int]:
    """llama-cpp-python's own defaults: decode on half the cores, prompts on all of them."""
    cores = os.cpu_count() or 1
    return max(cores // 2, 1), cores


class LlamaModelFile:
    """A GGUF loaded by llama.cpp, with a context of :data:`N_SEQ` sequences sharing one KV
    cache (unified, so copying a prompt to another sequence copies no tensors)."""

    def __init__(
        self,
        path: str,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
    ) -> None:
        init_llama()
        start = time.perf_counter()
        mparams = lc.llama_model_default_params()
        mparams.n_gpu_layers = 0
        model = lc.llama_model_load_from_file(path.encode("utf-8"), mparams)
        if not model:
            raise BackendError(f"llama.cpp cannot load {os.path.basename(path)}")
        self.model = model
        self.vocab = lc.llama_model_get_vocab(model)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(lc.llama_model_n_ctx_train(model))
        threads, threads_batch = default_threads()
        self.n_threads = n_threads or threads
        self.n_threads_batch = n_threads_batch or threads_batch
        cparams = lc.llama_context_default_params()
        self.n_ctx = int(n_ctx or min(self.n_ctx_train or DEFAULT_N_CTX, DEFAULT_N_CTX))
        cparams.n_ctx = self.n_ctx
        cparams.n_batch = N_BATCH
        cparams.n_ubatch = N_BATCH
        cparams.n_seq_max = N_SEQ
        cparams.n_threads = self.n_threads
        cparams.n_threads_batch = self.n_threads_batch
        cparams.kv_unified = True
        # Sliding-window layers (Gemma 3) keep every position, so a stored prefix can be cut
        # anywhere and reused.
        cparams.swa_full = True
        cparams.no_perf = True
        # Flash attention on a CPU accumulates in fp16: off, as llama-cpp-python has it (its
        # numbers are measurably closer to an fp32 forward pass; see LOGPROB_TOLERANCE).
        cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        ctx = lc.llama_init_from_model(model, cparams)
        if not ctx:
            lc.llama_model_free(model)
            raise BackendError(f"llama.cpp cannot open a context for {os.path.basename(path)}")
        self.ctx = ctx
        self.memory = lc.llama_get_memory(ctx)
        self.batch = lc.llama_batch_init(max(N_BATCH, N_SEQ), 0, 1)
        self.load_s = time.perf_counter() - start

    def meta(self, key: str) -> str | None:
        """A string from the GGUF's metadata (None when absent)."""
        buf = ctypes.create_string_buffer(1 << 16)
        n = lc.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            lc.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def close(self) -> None:
        if getattr(self, "batch", None) is not None:
            lc.llama_batch_free(self.batch)
            self.batch = None
        if getattr(self, "ctx", None):
            lc.llama_free(self.ctx)
            self.ctx = None
        if getattr(self, "model", None):
            lc.llama_model_free(self.model)
            self.model = None

    def __del__(self) -> None:
        self.close()


# ---------------------------------------------------------------------- vocabulary
def piece(vocab: Any, token_id: int) -> bytes:
    """A token's raw bytes: llama.cpp's piece with special tokens spelt out (``<|im_end|>``),
    as the torch engine's table has them; byte-fallback tokens are their one byte."""
    buf = ctypes.create_string_buffer(64)
    n = lc.llama_token_to_piece(vocab, token_id, buf, len(buf), 0, True)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = lc.llama_token_to_piece(vocab, token_id, buf, len(buf), 0, True)
    return buf.raw[: max(n, 0)]


def vocab_table(vocab: Any, size: int) -> list[bytes]:
    """Raw bytes of every id in ``range(size)``."""
    return [piece(vocab, i) for i in range(size)]


def eog_ids(vocab: Any, size: int) -> set[int]:
    """The ids llama.cpp ends a generation at (end of sequence, end of turn...)."""
    return {i for i in range(size) if lc.llama_vocab_is_eog(vocab, i)}


def tokenize(vocab: Any, text: str, add_special: bool = False) -> list[int]:
    """Token ids of ``text``; special tokens written in it are read as themselves (as the
    Hugging Face tokenizers do)."""
    data = text.encode("utf-8")
    room = len(data) + 8
    buf = (lc.llama_token * room)()
    n = lc.llama_tokenize(vocab, data, len(data), buf, room, add_special, True)
    if n < 0:
        room = -n
        buf = (lc.llama_token * room)()
        n = lc.llama_tokenize(vocab, data, len(data), buf, room, add_special, True)
    return list(buf[:n])


def special_id(vocab: Any, text: str) -> int | None:
    """The id of a special token spelt ``text`` (None when the vocabulary lacks it)."""
    ids = tokenize(vocab, text)
    return ids[0] if len(ids) == 1 and piece(vocab, ids[0]) == text.encode() else None


# ---------------------------------------------------------------------- chat template
@lru_cache(maxsize=4)
def _compiled(template: str) -> Any:
    """The template compiled as transformers compiles chat templates (a sandboxed jinja
    environment, trimmed blocks, loop controls, its ``tojson`` and ``raise_exception``), so
    both engines render the same text."""
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat(template: str, messages: list[dict[str, str]], special: dict[str, str]) -> str:
    """The chat template over ``messages`` with the generation prompt."""
    try:
        return _compiled(template).render(messages=messages, add_generation_prompt=True, **special)
    except Exception as exc:  # a template's own error, or one jinja raises
        raise BackendError(f"the chat template failed: {str(exc)[:200]}") from None


# ---------------------------------------------------------------------- stored prefixes
class SeqStore:
    """Which token ids each of the KV cache's sequences holds, least recently used first.

    A sequence's cells stay in the cache after its generation ends: the next call whose
    ids start the same way continues from it (regenerating at a cursor reads one token).
    """

    def __init__(self, memory: Any, n_seq: int = N_SEQ) -> None:
        self.memory = memory
        self.held: list[list[int]] = [[] for _ in range(n_seq)]
        self.used = [0.0] * n_seq
        self._clock = 0.0

    def touch(self, seq: int) -> None:
        self._clock += 1
        self.used[seq] = self._clock

    def best(self, ids: list[int]) -> tuple[int, int]:
        """The sequence sharing the longest prefix with ``ids``, and that length."""
        best_seq, best_len = min(range(len(self.held)), key=self.used.__getitem__), 0
        for seq, held in enumerate(self.held):
            n = _common(held, ids)
            if n > best_len:
                best_seq, best_len = seq, n
        return best_seq, best_len

    def others(self, keep: int, count: int) -> list[int]:
        """``count`` sequences other than ``keep``, least recently used first."""
        rest = sorted((s for s in range(len(self.held)) if s != keep), key=self.used.__getitem__)
        return rest[:count]

    def cut(self, seq: int, length: int) -> None:
        """Keep the first ``length`` positions of ``seq`` (drop the rest from the cache)."""
        if length < len(self.held[seq]):
            if not lc.llama_memory_seq_rm(self.memory, seq, length, -1):
                lc.llama_memory_seq_rm(self.memory, seq, -1, -1)
                length = 0
            del self.held[seq][length:]

    def copy(self, src: int, dst: int) -> None:
        """Make ``dst`` hold what ``src`` holds (cells shared, nothing recomputed)."""
        lc.llama_memory_seq_rm(self.memory, dst, -1, -1)
        lc.llama_memory_seq_cp(self.memory, src, dst, -1, -1)
        self.held[dst] = list(self.held[src])

    def drop_all_but(self, keep: set[int]) -> bool:
        """Free every sequence not in ``keep`` (the cache is full); whether any was freed."""
        freed = False
        for seq, held in enumerate(self.held):
            if seq not in keep and held:
                lc.llama_memory_seq_rm(self.memory, seq, -1, -1)
                self.held[seq] = []
                freed = True
        return freed

    def clear(self) -> None:
        lc.llama_memory_clear(self.memory, True)
        self.held = [[] for _ in self.held]


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
