"""The local backend: a transformers causal LM run by our own decode loop on torch.

Why our own loop and not ``model.generate``: every token must carry the numbers of the raw
distribution (logprob, exact entropy, top-k) and its logprob under the distribution it was
drawn from (``sampling_logprob``), computed as we go, and the KV cache must stay ours so
regenerating inside a long branch reuses the prefix instead of re-reading it.

- n continuations share one prefill; the cache is then expanded to n rows
  (``batch_repeat_interleave``) and the rows decode as one batch.
- After a generation each row's cache is kept in a :class:`PrefixCache` (LRU within a
  memory budget); the next generation, score-free distribution or regeneration at a cursor
  starts from the longest stored prefix of its context.
"""

from __future__ import annotations

import inspect
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import DynamicCache

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
    ProgressCallback,
    ScoreResult,
    TokenEvent,
    starts_with_digit,
)
from .contextids import context_ids, score_prefix_ids
from .kvcache import DEFAULT_BUDGET_BYTES, PrefixCache, can_slice, expand_cache
from .model_spec import load_pretrained, resolve_spec
from .sampling import StopFilter, check_settings, draw, raw_numbers
from .stepcopy import step_numbers
from .tokenbytes import token_bytes_table
from .vocabtables import VocabTables

if TYPE_CHECKING:
    from .forkdecode import ForkDecoder

#: GPT-2-style document separator: the natural "start of text" for scoring when the
#: tokenizer adds no BOS (SmolLM2 was trained with it between documents).
DOC_SEPARATOR = "<|endoftext|>"


def _cache_argument(model: Any) -> str:
    """The name the model's ``forward`` takes its KV cache by: ``cache`` from transformers 5.2x
    on (the old ``past_key_values`` still works there, with a FutureWarning on every call),
    ``past_key_values`` before."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


class LocalBackend(VocabTables, Backend, FullDistribution):
    """A local transformers model. Build with :meth:`load` or from a (model, tokenizer)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str | None = None,
        kv_budget_bytes: int = DEFAULT_BUDGET_BYTES,
        load_s: float | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", None) or "local-model"
        param = next(model.parameters())
        self.device = param.device
        self.dtype = param.dtype
        self.load_s = load_s
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self._set_vocab(token_bytes_table(tokenizer, self.vocab_size))
        self._digit_mask: np.ndarray | None = None  # built on first use, see digit_start_mask
        self._eos_ids = self._find_eos_ids()
        self._prefix_ids = self._find_prefix_ids()
        self._doc_id: int | None = tokenizer.get_vocab().get(DOC_SEPARATOR)
        self._lock = threading.RLock()
        self.kv = PrefixCache(kv_budget_bytes, config=model.config)
        self._cache_arg = _cache_argument(model)
        #: Facts about the last generation, for ``generate --json``'s timing and prompt ids.
        self.last_stats: dict[str, Any] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        spec: str,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        progress: ProgressCallback | None = None,
        cache_dir: Path | None = None,
    ) -> LocalBackend:
        """Load a model spec (see :mod:`loomtui.backends.model_spec`); converted GGUF
        weights are kept under ``cache_dir`` (the front ends pass the user's cache dir)."""
        start = time.perf_counter()
        resolved = resolve_spec(spec, cache_dir)
        model, tokenizer, _, _ = load_pretrained(
            resolved,
            cache_dir=cache_dir,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            progress=progress,
        )
        return cls(model, tokenizer, name=resolved.name, load_s=time.perf_counter() - start)

    def _find_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self.tokenizer.eos_token_id, self._gen_config_eos()):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, (list, tuple)):
                ids.update(i for i in source if isinstance(i, int))
        return ids

    def _gen_config_eos(self) -> Any:
        gen = getattr(self.model, "generation_config", None)
        return getattr(gen, "eos_token_id", None)

    def _find_prefix_ids(self) -> list[int]:
        """The ids the tokenizer puts before any text (e.g. a BOS), often none."""
        plain = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(plain) + 1):
            if full[i : i + len(plain)] == plain:
                return list(full[:i])
        return []

    # ------------------------------------------------------------------ facts
    def info(self) -> ModelInfo:
        config = self.model.config.get_text_config()
        return ModelInfo(
            name=self.name,
            backend="local",
            vocab_size=self.vocab_size,
            context_length=getattr(config, "max_position_embeddings", None),
            chat_template=bool(getattr(self.tokenizer, "chat_template", None)),
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
            dist=DIST_RAW,
            max_logprobs=None,
            exact_entropy=True,
        )

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes of one token id."""
        return self._bytes[token_id]

    def context_ids(self, context: Context) -> list[int]:
        """The exact ids given to the model for ``context`` (the rule both local engines
        share: :func:`.contextids.context_ids`)."""
        return context_ids(
            context,
            prefix_ids=self._prefix_ids,
            doc_id=self._doc_id,
            tokenize=self.tokenize,
            chat_ids=self._chat_ids,
            limit=self.info().context_length,
        )

    def _chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat template over ``messages`` with the generation prompt (the assistant's
        turn opened, nothing in it yet)."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise BackendError(f"{self.name} has no chat template; use completion mode")
        out = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True
        )
        if not isinstance(out, list):  # transformers 5 returns a BatchEncoding
            out = out["input_ids"]
        return [int(i) for i in out]

    def _tops(self, top_v: torch.Tensor, top_i: torch.Tensor) -> list[PackedTop]:
        """Each row's top-k list, packed: token ids into the vocabulary table and the
        logprobs as the float32 values the model computed, bit for bit."""
        return packed_tops(
            self._rows, top_i.to(torch.int32).cpu().numpy(), top_v.to(torch.float32).cpu().numpy()
        )

    # ------------------------------------------------------------------ model calls
    def _forward(self, ids: torch.Tensor, cache: Any, keep: int = 1, **kw: Any) -> Any:
        with self._lock, torch.no_grad():
            out = self.model(
                input_ids=ids.to(self.device),
                use_cache=cache is not None,
                logits_to_keep=keep,
                **{self._cache_arg: cache},
                **kw,
            )
        return out

    def _kv(self, out: Any) -> Any:
        """The cache a forward pass returned, by whichever name the model uses."""
        return getattr(out, self._cache_arg, None)

    def _prefill(self, ids: list[int]) -> tuple[torch.Tensor, DynamicCache, int]:
        """Logits after ``ids`` (1, V) and a batch-1 cache covering ``ids``; reuses the
        longest stored prefix. Returns how many ids came from the store."""
        cache, covered = self.kv.lookup(ids, max_len=len(ids) - 1)
        if cache is None:
            cache = DynamicCache(config=self.model.config)
        out = self._forward(torch.tensor([ids[covered:]]), cache)
        return out.logits[:, -1, :].float(), self._kv(out), covered

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        # A generator all the way: a bad setting or an over-long context raises on the first
        # step, inside the engine's loop, which turns it into a visible failed node.
        check_settings(settings)
        ids = self.context_ids(context)
        yield from self._generate(ids, settings, cancel or threading.Event())

    def _generate(
        self, ids: list[int], settings: GenerationSettings, cancel: threading.Event
    ) -> Iterator[TokenEvent]:
        n = settings.n
        limit = self.info().context_length or 1 << 30
        max_tokens = min(settings.max_tokens, limit - len(ids))
        seed = settings.seed if settings.seed is not None else secrets.randbits(62)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        stats: dict[str, Any] = {"prompt_token_ids": ids, "seed": seed, "tokens": 0}
        self.last_stats = stats
        start = time.perf_counter()
        last, cache, covered = self._prefill(ids)
        stats.update(reused_tokens=covered, prefill_s=time.perf_counter() - start)
        if n > 1:
            cache.batch_repeat_interleave(n)
            last = last.expand(n, -1)
        alive = [True] * n
        fed: list[list[int]] = [[] for _ in range(n)]
        filters = [StopFilter(settings.stop) for _ in range(n)]
        decode_start = time.perf_counter()
        try:
            for step in range(max_tokens):
                if cancel.is_set():
                    break
                logp, entropy, top_v, top_i = raw_numbers(last, settings.logprobs_k)
                chosen, drawn_lp = draw(last, settings, generator)
                chosen_lp = logp.gather(1, chosen[:, None])[:, 0]
                c_ids, c_lp, s_lp, ents, tops = step_numbers(
                    self._rows, chosen, chosen_lp, drawn_lp, entropy, top_v, top_i
                )
                for r in range(n):
                    if not alive[r]:
                        continue
                    tid = c_ids[r]
                    if tid in self._eos_ids:
                        alive[r] = False
                        yield from self._flush(r, filters[r])
                        yield TokenEvent(r, finish_reason="eos")
                        continue
                    token = self._token(tid, c_lp[r], ents[r], tops[r], s_lp[r])
                    stats["tokens"] += 1
                    ready, stopped = filters[r].push(token)
                    for t in ready:
                        yield TokenEvent(r, token=t)
                    if stopped:
                        alive[r] = False
                        yield TokenEvent(r, finish_reason="stop")
                if not any(alive) or step == max_tokens - 1:
                    break
                for r in range(n):
                    if alive[r]:
                        fed[r].append(c_ids[r])
                out = self._forward(chosen[:, None], cache)
                cache = self._kv(out)
                last = out.logits[:, -1, :].float()
            reason = "cancelled" if cancel.is_set() else "length"
            for r in range(n):
                if alive[r]:
                    alive[r] = False
                    yield from self._flush(r, filters[r])
                    yield TokenEvent(r, finish_reason=reason)
        finally:
            stats["decode_s"] = time.perf_counter() - decode_start
            for r in range(n):
                self.kv.store(ids + fed[r], cache, row=r)

    @staticmethod
    def _flush(row: int, stop_filter: StopFilter) -> Iterator[TokenEvent]:
        for t in stop_filter.flush():
            yield TokenEvent(row, token=t)

    # ------------------------------------------------------------------ scoring
    def score_prefix_ids(self) -> list[int]:
        """What :meth:`score` puts before a text by default: the tokenizer's BOS if it adds
        one, else the document separator ``<|endoftext|>`` if the vocabulary has it (so the
        first token gets a logprob too), else nothing."""
        return score_prefix_ids(self._prefix_ids, self._doc_id)

    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        """Teacher-force ``text``; each token's numbers come from the distribution that
        predicted it. ``prefix`` (a context) replaces the default prefix."""
        prefix_ids = self.score_prefix_ids() if prefix is None else self._prefix_for(prefix)
        text_ids = self.tokenize(text)
        if not text_ids:
            return ScoreResult(prefix_ids, [])
        ids = prefix_ids + text_ids
        limit = self.info().context_length
        if limit and len(ids) > limit:
            raise BackendError(f"the text has {len(ids)} tokens; the model takes {limit}")
        out = self._forward(torch.tensor([ids]), None, keep=0)
        logits = out.logits[0]
        tokens: list[Token] = []
        p = len(prefix_ids)
        if p == 0:
            tokens.append(self._token(text_ids[0], None, None, ()))
        first = max(p - 1, 0)
        # Rows of logits that predict text tokens, in chunks to bound memory.
        for start in range(first, len(ids) - 1, 256):
            rows = logits[start : min(start + 256, len(ids) - 1)]
            logp, entropy, top_v, top_i = raw_numbers(rows, top_k)
            targets = torch.tensor(ids[start + 1 : start + 1 + rows.shape[0]])
            lp = logp.gather(1, targets[:, None].to(logp.device))[:, 0].tolist()
            ents, tops = entropy.tolist(), self._tops(top_v, top_i)
            for j, tid in enumerate(targets.tolist()):
                tokens.append(self._token(tid, lp[j], ents[j], tops[j]))
        return ScoreResult(prefix_ids, tokens)

    def _prefix_for(self, prefix: Context) -> list[int]:
        if prefix.token_ids is None and not prefix.chat and not prefix.text:
            return self.score_prefix_ids()
        return self.context_ids(prefix)

    # ------------------------------------------------------------------ distributions
    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        ids = self.context_ids(context)
        last, _, _ = self._prefill(ids)
        return self._distribution(last, top_k)[0]

    def next_distributions(
        self, contexts: Sequence[Context], top_k: int = 20, batch_size: int = 32
    ) -> list[Distribution]:
        """One padded forward pass per ``batch_size`` contexts (left padding, attention mask
        and position ids), returning each context's next-token distribution."""
        all_ids = [self.context_ids(c) for c in contexts]
        out: list[Distribution] = []
        for b in range(0, len(all_ids), batch_size):
            logits = self._padded_logits(all_ids[b : b + batch_size], keep=1)
            out.extend(self._distribution(logits[:, -1, :].float(), top_k))
        return out

    def _padded_logits(self, chunk: list[list[int]], keep: int) -> torch.Tensor:
        """Logits of one forward pass over ``chunk`` left-padded to one width, with the
        attention mask and position ids that make the padding change nothing; ``keep``
        as in :meth:`_forward` (0: every position)."""
        pad = self._doc_id if self._doc_id is not None else 0
        width = max(len(ids) for ids in chunk)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in chunk])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in chunk])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return self._forward(
            input_ids,
            None,
            keep=keep,
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
        ).logits

    def _distribution(self, logits: torch.Tensor, top_k: int) -> list[Distribution]:
        _, entropy, top_v, top_i = raw_numbers(logits, top_k)
        ents, tops = entropy.tolist(), self._tops(top_v, top_i)
        return [
            Distribution(list(tops[r]), ents[r], self.vocab_size) for r in range(logits.shape[0])
        ]

    # ------------------------------------------------------------------ forking decode
    def fork_decoder(self, top_k: int = 20) -> ForkDecoder:
        """Greedy rows that fork from shared KV caches, a branch point's children decoded
        as one batch (adaptive looming's batched path; see :mod:`.forkdecode`)."""
        from .forkdecode import ForkDecoder

        return ForkDecoder(self, top_k)

    # ------------------------------------------------------------------ FullDistribution
    #: How many answers a probe hands :meth:`full_logprobs` at once: on their shared prefix's
    #: cache, batches this big cost 0.65x of batches of 16 (100 answers: fewer passes, each
    #: with a fixed cost per layer), and the batches are cut further to bound the logits.
    full_batch = 64
    #: Bytes of float32 logits one batch of answers may hold (every tail position's row).
    tails_logits_bytes = 128 << 20

    def full_logprobs(
        self, sequences: Sequence[list[int]], start: int, batch_size: int | None = None
    ) -> list[np.ndarray]:
        """Whole-vocabulary log-softmax rows for each token-id sequence: row ``r`` is the
        distribution after ``seq[:start + r]`` (so the last row follows the whole sequence);
        ``start >= 1``. Each sequence is read as ``Context(token_ids=seq)``.

        Sequences that share their first ``start`` ids (a probe: one prompt, many answers)
        read that prefix once: its KV cache (kept in the prefix store, so the next batch of
        answers finds it) is shared by a batch of their tails, right-padded, and only the
        tails' rows go through the LM head. Others go through the model whole, in
        left-padded batches, like :meth:`next_distributions`."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, seq in enumerate(sequences):
            groups.setdefault(tuple(seq[:start]), []).append(i)
        out: list[np.ndarray | None] = [None] * len(sequences)
        for head, members in groups.items():
            tails = [list(sequences[i][start:]) for i in members]
            rows = self._tails_logprobs(list(head), tails, batch_size or self.full_batch)
            if rows is None:  # a cache we cannot share: whole sequences
                whole = [sequences[i] for i in members]
                rows = self._whole_logprobs(whole, start, batch_size or FULL_BATCH)
            for i, r in zip(members, rows, strict=True):
                out[i] = r
        return out  # type: ignore[return-value]

    def _tails_logprobs(
        self, head: list[int], tails: list[list[int]], batch_size: int
    ) -> list[np.ndarray] | None:
        """:meth:`full_logprobs` rows of ``head + tail`` for each tail, from ``head``'s cache
        (None where the model's cache cannot be shared across a batch)."""
        ids = self.context_ids(Context(text="", token_ids=head))
        limit = self.info().context_length
        longest = len(ids) + max(len(t) for t in tails)
        if limit and longest >= limit:
            raise BackendError(f"the context has {longest} tokens; the model takes {limit}")
        last, cache, _ = self._prefill(ids)
        if not can_slice(cache):
            return None
        self.kv.store(ids, cache)  # the next batch of the same probe starts from here
        first = torch.log_softmax(last[0], -1).cpu().numpy()  # row 0 of every tail
        pad = self._doc_id if self._doc_id is not None else 0
        widest = max(1, max(len(t) for t in tails))
        batch_size = max(
            1, min(batch_size, self.tails_logits_bytes // (4 * self.vocab_size * widest))
        )
        out: list[np.ndarray] = []
        for b in range(0, len(tails), batch_size):
            chunk = tails[b : b + batch_size]
            width = max(len(t) for t in chunk)
            if width == 0:
                out.extend(first[None].copy() for _ in chunk)
                continue
            # Right padding: a real position only sees the prefix and the tokens before it
            # (causal attention), so the padding after it changes nothing and needs no mask.
            batch = torch.tensor([t + [pad] * (width - len(t)) for t in chunk])
            shared = expand_cache(cache, len(chunk), self.model.config)
            logits = self._forward(batch, shared, keep=0).logits
            # The batch's rows in one copy off the device (one wait per batch, not per answer).
            rows = torch.log_softmax(logits.float(), -1).cpu().numpy()
            for row, tail in enumerate(chunk):
                out.append(np.concatenate((first[None], rows[row, : len(tail)])))
        return out

    def _whole_logprobs(
        self, sequences: Sequence[list[int]], start: int, batch_size: int
    ) -> list[np.ndarray]:
        """:meth:`full_logprobs` with every sequence read whole (no shared prefix)."""
        all_ids = [self.context_ids(Context(text="", token_ids=list(s))) for s in sequences]
        out: list[np.ndarray] = []
        for b in range(0, len(all_ids), batch_size):
            chunk = all_ids[b : b + batch_size]
            seqs = sequences[b : b + batch_size]
            width = max(len(ids) for ids in chunk)
            rows = torch.log_softmax(self._padded_logits(chunk, keep=0).float(), -1).cpu().numpy()
            for row, (ids, seq) in enumerate(zip(chunk, seqs, strict=True)):
                # Left padding: the sequence's own position p sits at column width-len+p.
                first = width - len(ids) + start - 1 + len(ids) - len(seq)
                out.append(rows[row, first:].copy())
        return out

    def vocab_bytes(self) -> list[bytes]:
        """The raw bytes of every token id (for vocabulary masks such as digit-start)."""
        return list(self._bytes)

    def digit_start_mask(self) -> np.ndarray:
        """Which token ids start with a digit, as wide as a logits row (the vocabulary
        does not change under a backend, so the mask is built once and kept here)."""
        if self._digit_mask is None:
            self._digit_mask = np.fromiter(
                (starts_with_digit(b) for b in self._bytes), dtype=bool, count=len(self._bytes)
            )
        return self._digit_mask

    def close(self) -> None:
        self.kv.clear()
