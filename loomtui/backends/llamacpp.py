"""The llama.cpp engine: a GGUF run in-process by llama.cpp (llama-cpp-python's C API), with
every token's full distribution read from the logits row llama.cpp computed.

Why: on a CPU, llama.cpp's quantized kernels read a quarter of the bytes an fp32 torch
forward pass reads, so it decodes several times faster. Its Python convenience layer gives
only top-k lists (and slowly); here each step's whole row (the vocabulary's logits) is read
in place with ``llama_get_logits`` and turned into the same numbers the torch engine gives:
the token's logprob, exact entropy over the full row, the true top-k, token ids and raw
bytes, and ``sampling_logprob`` after temperature/top-k/top-p exactly as
:mod:`.sampling` defines them (its numpy twins).

**Tolerance.** llama.cpp's arithmetic is quantized (weights in Q4/Q8 blocks, activations
quantized to Q8 for the matrix products), so its numbers are not an fp32 forward pass's:
against the torch engine's fp32 forward over the same ids they differ by at most
:data:`LOGPROB_TOLERANCE` nats (each token's logprob, the likely alternatives, the entropy;
:data:`TAIL_TOLERANCE` for a top-20 list's unlikely tail). The README's engine section has
the measured max and mean. The torch engine (the default) stays the one that matches an fp32
forward pass within 1e-4. The arithmetic is also not position-free: a batch of tokens goes
through other kernels than one token (up to ~0.2 nats apart), and a sequence's numbers move
slightly (up to ~0.1 nats measured) with where its cells sit among other sequences' cells.

- n continuations: the prompt is read once into one KV sequence and copied to n-1 others
  (cells shared, nothing recomputed); each step then decodes the rows one after another, one
  token per ``llama_decode``, so a row gets the one-token kernels a single generation gets.
  ``batch_rows = True`` decodes them as one batch instead. Measured on 2 CPU cores, 32
  tokens: quiet (load ~1.2), n=4 1.27 s batched / 1.23 s row by row, n=8 1.95 s / 2.52 s;
  under load (average 12) n=4 took 72.7 s batched against 3.8 s (llama.cpp's batch threads
  spin against the other processes).
- Seeds: a generation with an explicit seed starts from an empty cache (its prompt read
  again), so the rows' cells sit the same way every time and the same seed gives the same
  text (measured: without this, the same seeded n=3 generation after other work gave another
  text); without a seed the stored prefixes are reused.
- Stored prefixes: the KV cache's sequences keep what they held after each call
  (:class:`.llamacpp_model.SeqStore`); a generation, score or distribution starts from the
  longest stored prefix of its ids.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import llama_cpp as lc
import numpy as np

from ..core.tokens import DIST_RAW, PackedTop, Token, packed_tops
from .base import (
    FULL_BATCH,
    Backend,
    BackendError,
    Context,
    Distribution,
    FullDistribution,
    GenerationSettings,
    ModelInfo,
    ScoreResult,
    TokenEvent,
    starts_with_digit,
)
from .contextids import context_ids, score_prefix_ids
from .llamacpp_model import (
    N_BATCH,
    LlamaModelFile,
    SeqStore,
    render_chat,
    special_id,
    tokenize,
    vocab_table,
)
from .sampling import (
    StopFilter,
    check_settings,
    draw_np,
    log_softmax_np,
    raw_numbers_np,
)
from .vocabtables import VocabTables

#: The engine's stated agreement with an fp32 forward pass over the same ids, in nats: every
#: token's logprob, every alternative more likely than e^-7, and the entropy (measured max
#: over 400 tokens: 0.46 on SmolLM2-135M Q4_1, 0.67 on Gemma-3-270M Q4_K_M; means 0.05-0.10;
#: the README's engine section has the table).
LOGPROB_TOLERANCE = 1.0
#: The same for the unlikely alternatives of a top-20 list (p < e^-7; measured max 1.80).
TAIL_TOLERANCE = 3.0
#: Bytes of float32 logits one llama_decode call may hand back (score, full_logprobs).
LOGITS_BYTES = 64 << 20
DOC_SEPARATOR = "<|endoftext|>"


class LlamaCppBackend(VocabTables, Backend, FullDistribution):
    """A GGUF model run by llama.cpp in this process. Build with :meth:`load`."""

    full_batch = FULL_BATCH
    #: Decode a generation's rows as one batch per step (faster for n > 1 on a quiet
    #: machine; numbers then depend on the cache's layout: see the module's docstring).
    batch_rows = False

    def __init__(self, path: str, name: str, *, n_ctx: int | None = None) -> None:
        start = time.perf_counter()
        self.path = path
        self.name = name
        self.lib = LlamaModelFile(path, n_ctx=n_ctx)
        self.vocab_size = self.lib.n_vocab
        vocab = self.lib.vocab
        self._set_vocab(vocab_table(vocab, self.vocab_size))
        # The end-of-sequence id, as the torch engine stops at (llama.cpp's own end-of-
        # generation set also holds e.g. <|endoftext|> and <end_of_turn>).
        eos = int(lc.llama_vocab_eos(vocab))
        self._eos_ids = {eos} if 0 <= eos < self.vocab_size else set()
        bos = int(lc.llama_vocab_bos(vocab))
        self._prefix_ids = [bos] if bos >= 0 and lc.llama_vocab_get_add_bos(vocab) else []
        self._doc_id = special_id(vocab, DOC_SEPARATOR)
        self._template = self.lib.meta("tokenizer.chat_template")
        self._special = {
            name: self._texts[tid]
            for name, tid in (
                ("bos_token", bos),
                ("eos_token", int(lc.llama_vocab_eos(vocab))),
                ("pad_token", int(lc.llama_vocab_pad(vocab))),
            )
            if 0 <= tid < self.vocab_size
        }
        self._dtype = _file_type(self.lib)
        self._digit_mask: np.ndarray | None = None
        self._lock = threading.RLock()
        self.seqs = SeqStore(self.lib.memory)
        self.last_stats: dict[str, Any] = {}
        self.load_s = time.perf_counter() - start

    @classmethod
    def load(cls, spec: str, n_ctx: int | None = None) -> LlamaCppBackend:
        """Load a model spec that names a GGUF (``default``: the embedded one)."""
        from .model_spec import resolve_spec

        resolved = resolve_spec(spec)
        if resolved.kind != "gguf":
            raise BackendError(
                f"the llamacpp engine runs .gguf files; {resolved.name} is not one "
                "(use --engine torch)"
            )
        return cls(resolved.location, resolved.name, n_ctx=n_ctx)

    # ------------------------------------------------------------------ facts
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            backend="local",
            vocab_size=self.vocab_size,
            context_length=self.lib.n_ctx,
            chat_template=bool(self._template),
            device="cpu",
            dtype=self._dtype,
            dist=DIST_RAW,
            max_logprobs=None,
            exact_entropy=True,
            notes=[
                f"engine: llama.cpp (llama-cpp-python {lc.__version__}), "
                f"{self.lib.n_threads} decode threads; logprobs within "
                f"{LOGPROB_TOLERANCE} nats of an fp32 forward pass"
            ],
            engine="llamacpp",
        )

    def tokenize(self, text: str) -> list[int]:
        return tokenize(self.lib.vocab, text)

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[token_id]

    def context_ids(self, context: Context) -> list[int]:
        """The exact ids given to the model for ``context``, by the rule the torch engine
        uses too (:func:`.contextids.context_ids`)."""
        return context_ids(
            context,
            prefix_ids=self._prefix_ids,
            doc_id=self._doc_id,
            tokenize=self.tokenize,
            chat_ids=self._chat_ids,
            limit=self.lib.n_ctx,
        )

    def _chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        if not self._template:
            raise BackendError(f"{self.name} has no chat template; use completion mode")
        return self.tokenize(render_chat(self._template, messages, self._special))

    def _tops(self, top_v: np.ndarray, top_i: np.ndarray) -> list[PackedTop]:
        return packed_tops(self._rows, top_i, top_v)

    # ------------------------------------------------------------------ llama.cpp calls
    def _decode(self, items: Sequence[tuple[int, int, int, bool]], keep: set[int]) -> np.ndarray:
        """One ``llama_decode`` of ``(token, position, sequence, wants_logits)`` items; the
        logits rows of the items that want them, in order (a view valid until the next
        call). A full cache frees the stored prefixes outside ``keep`` and tries again."""
        batch = self.lib.batch
        for j, (tok, pos, seq, logits) in enumerate(items):
            batch.token[j] = tok
            batch.pos[j] = pos
            batch.n_seq_id[j] = 1
            batch.seq_id[j][0] = seq
            batch.logits[j] = logits
        batch.n_tokens = len(items)
        rc = lc.llama_decode(self.lib.ctx, batch)
        if rc == 1 and self.seqs.drop_all_but(keep):
            rc = lc.llama_decode(self.lib.ctx, batch)
        if rc != 0:
            raise BackendError(f"llama.cpp could not decode (code {rc}; the KV cache is full?)")
        outputs = sum(1 for item in items if item[3])
        if not outputs:
            return np.empty((0, self.vocab_size), np.float32)
        ptr = lc.llama_get_logits(self.lib.ctx)
        return np.ctypeslib.as_array(ptr, shape=(outputs, self.vocab_size))

    def _read(
        self, ids: list[int], seq: int, start: int, rows_from: int, keep: set[int]
    ) -> list[np.ndarray]:
        """Feed ``ids[start:]`` to ``seq`` (which holds ``ids[:start]``), in chunks; return
        copies of the logits rows after each position ``p >= rows_from`` (row ``p`` follows
        ``ids[:p + 1]``)."""
        out: list[np.ndarray] = []
        per_call = max(1, min(N_BATCH, LOGITS_BYTES // (4 * self.vocab_size)))
        pos = start
        while pos < len(ids):
            end = min(len(ids), pos + N_BATCH)
            # Bound the rows one call hands back.
            wanted = [p for p in range(pos, end) if p >= rows_from]
            if len(wanted) > per_call:
                end = wanted[per_call - 1] + 1
            items = [(ids[p], p, seq, p >= rows_from) for p in range(pos, end)]
            rows = self._decode(items, keep | {seq})
            self.seqs.held[seq].extend(ids[pos:end])
            if len(rows):
                out.append(np.array(rows, dtype=np.float32))
            pos = end
        return out

    def _prefill(self, ids: list[int], rows_from: int | None = None) -> tuple[int, int, np.ndarray]:
        """Bring a sequence to hold ``ids``, from the longest stored prefix (at least the
        last id is read, for its logits). Returns ``(sequence, reused ids, rows)``: the logits
        after each position from ``rows_from`` (default: the last) on, ``[rows, V]``."""
        last = len(ids) - 1
        rows_from = last if rows_from is None else rows_from
        seq, common = self.seqs.best(ids)
        covered = min(common, rows_from)
        self.seqs.cut(seq, covered)
        covered = len(self.seqs.held[seq])
        self.seqs.touch(seq)
        if rows_from == last and covered < last:
            # The last id in a call of its own, whatever was stored: llama.cpp's arithmetic
            # differs slightly between a batch and a single token, and the row a generation
            # samples from must not depend on what the cache held (same seed, same text).
            self._read(ids[:last], seq, covered, last, {seq})
            covered_now = last
        else:
            covered_now = covered
        rows = self._read(ids, seq, covered_now, rows_from, {seq})
        return seq, covered, np.concatenate(rows) if len(rows) > 1 else rows[0]

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        check_settings(settings)
        ids = self.context_ids(context)
        with self._lock:
            yield from self._generate(ids, settings, cancel or threading.Event())

    def _generate(
        self, ids: list[int], settings: GenerationSettings, cancel: threading.Event
    ) -> Iterator[TokenEvent]:
        n = settings.n
        max_tokens = min(settings.max_tokens, self.lib.n_ctx - len(ids))
        if settings.seed is not None:
            # An explicit seed asks for the same text every time: llama.cpp's numbers depend
            # slightly (up to ~0.1 nats) on where the rows' cells sit in the shared cache, so
            # a seeded generation starts from an empty cache (the prompt is read again).
            self.seqs.clear()
        seed = settings.seed if settings.seed is not None else secrets.randbits(62)
        rng = np.random.default_rng(seed)
        stats: dict[str, Any] = {"prompt_token_ids": ids, "seed": seed, "tokens": 0}
        self.last_stats = stats
        start = time.perf_counter()
        # Rows beyond the cache's sequences run in groups, each from the stored prompt.
        width = len(self.seqs.held) - 1
        groups = [range(g, min(n, g + width)) for g in range(0, n, width)] or [range(0)]
        decode_start = start
        try:
            for group in groups:
                seq, covered, last = self._prefill(ids)
                if group.start == 0:
                    stats.update(reused_tokens=covered, prefill_s=time.perf_counter() - start)
                    decode_start = time.perf_counter()
                seqs = [seq] + self.seqs.others(seq, len(group) - 1)
                for s in seqs[1:]:
                    self.seqs.copy(seq, s)
                    self.seqs.touch(s)
                rows = np.repeat(last, len(group), axis=0) if len(group) > 1 else last
                yield from self._decode_rows(
                    list(group), seqs, ids, rows, settings, rng, cancel, stats, max_tokens
                )
        finally:
            stats["decode_s"] = time.perf_counter() - decode_start

    def _decode_rows(
        self,
        indexes: list[int],
        seqs: list[int],
        ids: list[int],
        rows: np.ndarray,
        settings: GenerationSettings,
        rng: np.random.Generator,
        cancel: threading.Event,
        stats: dict[str, Any],
        max_tokens: int,
    ) -> Iterator[TokenEvent]:
        """Decode one group of rows (``indexes``: the completions' numbers, ``seqs`` their
        KV sequences, all holding ``ids``; ``rows`` the logits after ``ids``)."""
        n = len(indexes)
        live = list(range(n))  # positions in indexes/seqs still generating, in row order
        filters = [StopFilter(settings.stop) for _ in range(n)]
        k = settings.logprobs_k
        pos = len(ids)
        for step in range(max_tokens):
            if cancel.is_set() or not live:
                break
            lse, entropy, top_v, top_i = raw_numbers_np(rows, k)
            chosen, drawn_lp = draw_np(rows, settings, rng)
            c_ids = chosen.tolist()
            c_lp = (rows[np.arange(len(live)), chosen] - lse).astype(np.float32).tolist()
            s_lp = [None] * len(live) if drawn_lp is None else drawn_lp.tolist()
            ents, tops = entropy.tolist(), self._tops(top_v, top_i)
            still: list[int] = []
            for j, r in enumerate(live):
                tid = c_ids[j]
                if tid in self._eos_ids:
                    yield from self._flush(indexes[r], filters[r])
                    yield TokenEvent(indexes[r], finish_reason="eos")
                    continue
                token = self._token(tid, c_lp[j], ents[j], tops[j], s_lp[j])
                stats["tokens"] += 1
                ready, stopped = filters[r].push(token)
                for t in ready:
                    yield TokenEvent(indexes[r], token=t)
                if stopped:
                    yield TokenEvent(indexes[r], finish_reason="stop")
                    continue
                still.append(j)
            live = [live[j] for j in still]
            if not live or step == max_tokens - 1:
                break
            items = [(c_ids[j], pos, seqs[r], True) for j, r in zip(still, live, strict=True)]
            if self.batch_rows or len(items) == 1:
                rows = self._decode(items, set(seqs))
            else:
                rows = np.concatenate([self._decode([it], set(seqs)).copy() for it in items])
            for j, r in zip(still, live, strict=True):
                self.seqs.held[seqs[r]].append(c_ids[j])
            pos += 1
        reason = "cancelled" if cancel.is_set() else "length"
        for r in live:
            yield from self._flush(indexes[r], filters[r])
            yield TokenEvent(indexes[r], finish_reason=reason)

    @staticmethod
    def _flush(row: int, stop_filter: StopFilter) -> Iterator[TokenEvent]:
        for t in stop_filter.flush():
            yield TokenEvent(row, token=t)

    # ------------------------------------------------------------------ scoring
    def score_prefix_ids(self) -> list[int]:
        """As the torch engine: the BOS it adds, else ``<|endoftext|>``, else nothing."""
        return score_prefix_ids(self._prefix_ids, self._doc_id)

    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        if prefix is None or (prefix.token_ids is None and not prefix.chat and not prefix.text):
            prefix_ids = self.score_prefix_ids()
        else:
            prefix_ids = self.context_ids(prefix)
        text_ids = self.tokenize(text)
        if not text_ids:
            return ScoreResult(prefix_ids, [])
        ids = prefix_ids + text_ids
        if len(ids) > self.lib.n_ctx:
            raise BackendError(f"the text has {len(ids)} tokens; the model takes {self.lib.n_ctx}")
        tokens: list[Token] = []
        p = len(prefix_ids)
        if p == 0:
            tokens.append(self._token(text_ids[0], None, None, ()))
        first = max(p - 1, 0)
        if len(ids) > 1:
            with self._lock:
                _, _, rows = self._prefill(ids[:-1], rows_from=first)
            targets = ids[first + 1 :]
            for b in range(0, len(targets), 256):
                chunk = rows[b : b + 256]
                tgt = np.array(targets[b : b + 256])
                lse, ent, top_v, top_i = raw_numbers_np(chunk, top_k)
                lp = (chunk[np.arange(len(tgt)), tgt] - lse).astype(np.float32).tolist()
                tops = self._tops(top_v, top_i)
                for j, tid in enumerate(tgt.tolist()):
                    tokens.append(self._token(tid, lp[j], float(ent[j]), tops[j]))
        return ScoreResult(prefix_ids, tokens)

    # ------------------------------------------------------------------ distributions
    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        ids = self.context_ids(context)
        with self._lock:
            _, _, rows = self._prefill(ids)
        _, ent, top_v, top_i = raw_numbers_np(rows, top_k)
        return Distribution(list(self._tops(top_v, top_i)[0]), float(ent[0]), self.vocab_size)

    def full_logprobs(self, sequences: Sequence[list[int]], start: int) -> list[np.ndarray]:
        """Whole-vocabulary log-softmax rows (see :class:`.base.FullDistribution`), each
        sequence read from the longest stored prefix (a probe's prompt is read once)."""
        out: list[np.ndarray] = []
        for seq in sequences:
            ids = self.context_ids(Context(text="", token_ids=list(seq)))
            shift = len(ids) - len(seq)
            with self._lock:
                _, _, rows = self._prefill(ids, rows_from=start - 1 + shift)
            out.append(log_softmax_np(rows))
        return out

    def vocab_bytes(self) -> list[bytes]:
        return list(self._bytes)

    def digit_start_mask(self) -> np.ndarray:
        if self._digit_mask is None:
            self._digit_mask = np.fromiter(
                (starts_with_digit(b) for b in self._bytes), dtype=bool, count=len(self._bytes)
            )
        return self._digit_mask

    def close(self) -> None:
        with self._lock:
            self.lib.close()


def _file_type(lib: LlamaModelFile) -> str:
    """The GGUF's quantization as llama.cpp describes the model (e.g. ``Q4_1``)."""
    import ctypes

    buf = ctypes.create_string_buffer(256)
    lc.llama_model_desc(lib.model, buf, len(buf))
    desc = buf.value.decode("utf-8", "replace")  # e.g. "llama ?B Q4_1"
    return desc.split()[-1] if desc else "gguf"
