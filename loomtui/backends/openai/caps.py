"""What an OpenAI-compatible server can do: detected from its URL and ``/models``, or set
in a config profile.

Every field can be overridden in ``[profiles.NAME]``; detection only fills what a profile
leaves out. Servers differ in the logprobs cap (OpenAI 5, vLLM 20), in whether ``echo``
scores a prompt, and in whether ``n`` is honoured (llama-cpp-python ignores it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..base import BackendError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass
class Capabilities:
    """One server's dialect. ``None`` means "not known yet: find out by trying"."""

    server: str = "unknown"  # openai, vllm, llama.cpp, llama-cpp-python, ollama, unknown
    mode: str = "completion"  # or "chat"
    max_logprobs: int = 20
    supports_echo: bool | None = None
    supports_n: bool | None = None
    supports_top_k: bool = True  # send the non-standard top_k sampling field
    stream: bool = True
    timeout: float = 60.0
    vocab_size: int | None = None
    context_length: int | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: How the server continues a partial assistant reply in chat mode: "continue" (a
    #: trailing assistant message with ``continue_final_message: true`` and
    #: ``add_generation_prompt: false``: vLLM, llama.cpp's llama-server), "prefix" (the
    #: message marked ``prefix: true``: DeepSeek), "none" (it cannot: refused), or None (not
    #: known: refused, with the profile setting that says otherwise).
    prefill: str | None = None
    #: vLLM's ``prompt_logprobs`` (the prompt's top-k per position): ``score`` uses it where
    #: echo is not usable (chat mode, or an echo doctor found wrong); found by ``doctor``.
    prompt_logprobs: bool | None = None
    #: Ask llama-server for the probabilities after its sampler chain
    #: (``post_sampling_probs: true``) instead of the raw ones: it sends one kind a request,
    #: so raw is the default and a profile sets this to get the other.
    post_sampling_probs: bool = False
    #: How many requests the server computes at once (None: not known, so the requests for
    #: ``n`` continuations go out together). llama-cpp-python: 1 (one model behind a lock).
    parallel_requests: int | None = None
    #: What ``loomtui doctor`` found for this server and model (None: never checked).
    findings: dict[str, Any] | None = None

    def override(self, profile: dict[str, Any]) -> None:
        """Apply a profile's explicit settings over what was detected."""
        names = {f.name for f in fields(self)}
        for key, value in profile.items():
            if key in names and key not in ("notes", "findings"):
                setattr(self, key, value)
        if self.mode not in ("completion", "chat"):
            raise BackendError(f"profile mode must be 'completion' or 'chat', not {self.mode!r}")
        if self.prefill not in PREFILL_STYLES:
            raise BackendError(
                f"profile prefill must be one of {', '.join(map(str, PREFILL_STYLES[1:]))}, "
                f"not {self.prefill!r}"
            )


PREFILL_STYLES = (None, "continue", "prefix", "none")


#: Defaults per server family (what each is known to do; see reference/logprobs.md §1).
FAMILIES: dict[str, dict[str, Any]] = {
    # OpenAI's chat API has no assistant prefill: a trailing assistant message is answered.
    "openai": dict(
        max_logprobs=5, supports_echo=True, supports_n=True, supports_top_k=False, prefill="none"
    ),
    "vllm": dict(
        max_logprobs=20,
        supports_echo=True,
        supports_n=True,
        prefill="continue",
        prompt_logprobs=True,
    ),
    # llama-server: chat-style content[] on /v1/completions, no echo; a trailing assistant
    # message is continued (its "prefill assistant" default).
    "llama.cpp": dict(max_logprobs=20, supports_echo=False, prefill="continue"),
    # llama-cpp-python: echo returns shifted values, n is ignored (one choice back), and
    # its stream drops every multi-byte character (partial tokens decode to "" and so does
    # the chunk text), while a whole answer carries the full text: do not stream by default.
    # Without streaming the read waits for the whole completion: a long time-out.
    # Its chat handler renders every message as finished and opens a new assistant turn:
    # it cannot continue a partial reply (tests/backends/test_api_llama_server.py).
    "llama-cpp-python": dict(
        max_logprobs=20,
        supports_echo=False,
        supports_n=False,
        stream=False,
        timeout=600.0,
        prefill="none",
        parallel_requests=1,
    ),
    "ollama": dict(max_logprobs=20, supports_echo=False, supports_n=False),
    "together": dict(max_logprobs=20, supports_echo=True),
    "fireworks": dict(max_logprobs=5, supports_echo=True, supports_n=True),
    "deepseek": dict(max_logprobs=20, supports_echo=False, prefill="prefix"),
}

_OWNED_BY = {
    "vllm": "vllm",
    "llamacpp": "llama.cpp",
    "me": "llama-cpp-python",
    "library": "ollama",
    "ollama": "ollama",
    "openai": "openai",
    "system": "openai",
}


def normalise_base(api_base: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a given path is kept as it is."""
    base = api_base.strip()
    if "://" not in base:
        base = "http://" + base
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendError(f"not an http(s) URL: {api_base!r}")
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def family_from_url(api_base: str) -> str | None:
    host = urlsplit(api_base).hostname or ""
    for needle, family in (
        ("openai.com", "openai"),
        ("together", "together"),
        ("fireworks", "fireworks"),
        ("deepseek", "deepseek"),
    ):
        if needle in host:
            return family
    return None


def family_from_models(models: dict[str, Any]) -> str | None:
    """The server family from a ``/models`` answer (its ``owned_by`` fields say a lot)."""
    data = models.get("data")
    if not isinstance(data, list):
        if "models" in models:  # Ollama and llama-server add their own list
            return "llama.cpp"
        return None
    for entry in data:
        if isinstance(entry, dict):
            owner = str(entry.get("owned_by", "")).lower()
            if owner in _OWNED_BY:
                return _OWNED_BY[owner]
            if "max_model_len" in entry:
                return "vllm"
    return None


def model_meta(models: dict[str, Any], model: str) -> tuple[int | None, int | None]:
    """(vocabulary size, context length) when the server publishes them."""
    for entry in models.get("data") or []:
        if not isinstance(entry, dict) or entry.get("id") != model:
            continue
        meta = entry.get("meta") or {}
        vocab = meta.get("n_vocab") if isinstance(meta, dict) else None
        ctx = entry.get("max_model_len") or (meta.get("n_ctx_train") if meta else None)
        return (vocab if isinstance(vocab, int) else None, ctx if isinstance(ctx, int) else None)
    return None, None


def resolve_key(api_key_env: str | None, profile: dict[str, Any]) -> tuple[str | None, str]:
    """The API key and where it came from (a variable name, or "the profile").

    A named variable that is not set is an error; the default ``OPENAI_API_KEY`` being unset
    just means no key (local servers need none).
    """
    if api_key_env is None and profile.get("api_key"):
        return str(profile["api_key"]), "the config profile"
    var = api_key_env or profile.get("api_key_env")
    if var:
        value = os.environ.get(var)
        if not value:
            raise BackendError(f"the environment variable {var} (the API key) is not set")
        return value, var
    return os.environ.get(DEFAULT_KEY_ENV) or None, DEFAULT_KEY_ENV
