"""The one backend interface the UI, the CLI and the instruments use.

Backends are synchronous and thread-safe enough to be driven from one worker thread at a
time; generation is a generator of :class:`TokenEvent` that stops early when ``cancel`` is
set (and when closed). A backend knows nothing of widgets or sessions.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..core.errors import LoomError
from ..core.tokens import Alt, Token

if TYPE_CHECKING:
    import numpy as np


class BackendError(LoomError):
    """A failure with a one-line message fit to show a user (no traceback, no secrets)."""


@dataclass
class GenerationSettings:
    """How to sample. ``logprobs_k`` is how many alternatives to keep per token."""

    max_tokens: int = 64
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k truncation when sampling
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    logprobs_k: int = 20
    chat: bool = False
    # A context longer than the model's window: "refuse" (a clear error) or "truncate"
    # (drop the oldest tokens; the node records how many in meta["context_truncated"]).
    context_policy: str = "refuse"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationSettings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Context:
    """What to continue from.

    ``text`` is the raw text of the whole branch; ``token_ids``, when given, is the exact
    tokenization to use (model tokens keep their ids so a branch is not re-tokenized
    differently).

    In chat mode the backend applies the chat template to ``messages`` (``{"role", "content"}``
    dicts: the turns before the reply) with the generation prompt, then continues the
    assistant's partial reply ``prefill`` as the model's own turn (no end-of-turn token
    between): ``prefill_ids`` are its exact ids when the branch carries them. A chat context
    without ``messages`` is ``text`` as one user message.
    """

    text: str
    token_ids: list[int] | None = None
    chat: bool = False
    messages: list[dict[str, str]] | None = None
    prefill: str = ""
    prefill_ids: list[int] | None = None

    def chat_messages(self) -> list[dict[str, str]]:
        """The turns before the reply (``text`` as one user message when none were given)."""
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        return [{"role": "user", "content": self.text}]


@dataclass
class TokenEvent:
    """One step of a generation: a token for completion ``index``, or its end."""

    index: int
    token: Token | None = None
    finish_reason: str | None = None  # "length", "stop", "eos", "cancelled", "error"
    error: str | None = None


@dataclass
class ScoreResult:
    """Every token of a text with its logprob (None for the first without a prefix)."""

    prefix_token_ids: list[int]
    tokens: list[Token]
    note: str | None = None  # e.g. why a server could not score


@dataclass
class Distribution:
    """The next-token distribution at a point: top-k and, when known, exact entropy."""

    top: list[Alt]
    entropy: float | None
    vocab_size: int | None


@dataclass
class ModelInfo:
    name: str
    backend: str  # "local" or "api"
    vocab_size: int | None = None
    context_length: int | None = None
    chat_template: bool = False
    device: str | None = None
    dtype: str | None = None
    # Which distribution the logprobs are taken from ("raw" or "sampling").
    dist: str = "raw"
    # Max alternatives per token the backend can return (None = unlimited / full vocab).
    max_logprobs: int | None = None
    exact_entropy: bool = True
    notes: list[str] = field(default_factory=list)
    # What the server was found not to do (short words, e.g. "n", "prefill"; `loomtui doctor`).
    lacks: list[str] = field(default_factory=list)
    # What runs a local model: "torch" or "llamacpp" (None: a server's business).
    engine: str | None = None


ProgressCallback = Callable[[str, float | None], None]


class Backend(ABC):
    """A language model that can generate with logprobs and score text."""

    @abstractmethod
    def info(self) -> ModelInfo:
        """Facts about the model (name, vocabulary size, context length, chat template)."""

    @abstractmethod
    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        """Stream ``settings.n`` continuations as token events.

        Every completion ends with exactly one event with ``finish_reason`` set (and
        ``token`` None). Tokens carry logprobs/top-k from the distribution that
        ``info().dist`` names; their ``dist`` field says so.
        """

    @abstractmethod
    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        """Teacher-force ``text`` (after ``prefix`` if given) and return every token's numbers."""

    @abstractmethod
    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        """The next-token distribution after ``context``."""

    def next_distributions(
        self, contexts: Sequence[Context], top_k: int = 20
    ) -> list[Distribution]:
        """Batched :meth:`next_distribution`; backends override to batch for real."""
        return [self.next_distribution(c, top_k) for c in contexts]

    def tokenize(self, text: str) -> list[int] | None:
        """Token ids of ``text`` without special tokens (None if the backend cannot)."""
        return None

    def close(self) -> None:  # noqa: B027 - a no-op is the right default
        """Release resources (connections, memory)."""


def starts_with_digit(data: bytes) -> bool:
    """Whether a token's bytes start with an ASCII digit (no leading space): the rule of
    :meth:`FullDistribution.digit_start_mask` and of the probe's digit end rule."""
    return bool(data) and 0x30 <= data[0] <= 0x39


#: Sequences per batch in :meth:`FullDistribution.full_logprobs`: callers that feed it in
#: pieces (for progress) use the same size, so the batches and their padding are the same.
FULL_BATCH = 16


@runtime_checkable
class FullDistribution(Protocol):
    """The capability of a backend that holds the whole vocabulary's distribution at every
    position (the local one). Instruments test ``isinstance(backend, FullDistribution)``
    and give exact numbers; a backend with only top-k lists (an API) gets bounds instead.

    Rows are numpy arrays, so code above the backends needs no torch.
    """

    #: how many sequences one :meth:`full_logprobs` call reads best at once (callers that
    #: feed it in pieces, for progress, use this size; :data:`FULL_BATCH` unless the backend
    #: knows better, e.g. the local one on a shared prompt's cache)
    full_batch: int

    def full_logprobs(self, sequences: Sequence[list[int]], start: int) -> list[np.ndarray]:
        """For each token-id sequence, float32 log-softmax rows ``[len(seq) - start + 1, V]``:
        row ``r`` is the distribution after ``seq[:start + r]`` (so the last row follows the
        whole sequence); ``start >= 1``."""
        ...

    def vocab_bytes(self) -> list[bytes]:
        """The raw bytes of every token id."""
        ...

    def digit_start_mask(self) -> np.ndarray:
        """A bool array as wide as a :meth:`full_logprobs` row: which tokens start with a
        digit (:func:`starts_with_digit`). Computed once per backend and kept on it."""
        ...
