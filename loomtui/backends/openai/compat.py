"""The API backend: any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, ...).

Completion mode (the loom's native raw continuation) sends ``logprobs`` as an integer clamped
to the server's cap; chat mode sends ``logprobs: true`` with ``top_logprobs`` and the turns as
messages with their real roles; a partial assistant reply is continued as the model's own
turn where the server can (``Capabilities.prefill``) and refused where it cannot. Responses in
either logprob shape become :class:`Token` objects keyed by their true bytes
(:mod:`.dialects`). ``n`` continuations run concurrently when the server ignores
``n``. Streaming is cancellable. The API key lives only in the HTTP client's headers: never
in a repr, a session, an error message or a log.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.tokens import DIST_RAW, DIST_SAMPLING, Token, VocabTable
from ..base import (
    Backend,
    BackendError,
    Context,
    Distribution,
    GenerationSettings,
    ModelInfo,
    ScoreResult,
    TokenEvent,
)
from .caps import (
    FAMILIES,
    Capabilities,
    family_from_models,
    family_from_url,
    model_meta,
    normalise_base,
    resolve_key,
)
from .dialects import ByteResolver, RawToken, parse_choice_logprobs
from .doctor import apply_findings, lacks, load_findings
from .http import AuthError, HttpClient, UnreachableError
from .scoring import NO_LOGPROBS, first_choice, score_echo, score_prompt_logprobs

NO_PROMPT_SCORES = (
    "this server cannot score prompt text (no echo with logprobs{why}, no prompt_logprobs); "
    "only generated tokens carry probabilities"
)


@dataclass
class _Request:
    """One HTTP request of a generation: completions ``offset .. offset+n-1``."""

    offset: int
    n: int
    seed: int | None


class APIBackend(Backend):
    """A model behind an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        api_base: str,
        model: str,
        caps: Capabilities,
        api_key: str | None = None,
        key_source: str = "OPENAI_API_KEY",
    ) -> None:
        self.api_base = api_base
        self.model = model
        self.caps = caps
        self.http = HttpClient(api_base, api_key, key_source, timeout=caps.timeout)
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="loomtui-api")
        # Prompt logprobs per text version: vLLM skips its prefix cache for them.
        self._score_cache: dict[tuple[str, str, int], ScoreResult] = {}
        self._lock = threading.Lock()
        #: Every (text, bytes, id) this server has sent, interned: top-k lists are kept
        #: packed against it (exact float64 logprobs), which keeps big sessions cheap to save.
        self._table = VocabTable()

    def __repr__(self) -> str:
        return f"APIBackend({self.api_base!r}, model={self.model!r}, server={self.caps.server!r})"

    # -- facts ----------------------------------------------------------------------------

    def info(self) -> ModelInfo:
        notes = list(self.caps.notes)
        notes.append(
            "entropy is bounded, not exact: the API returns only the top "
            f"{self.caps.max_logprobs} alternatives"
        )
        if not self.caps.prompt_logprobs and (
            self.caps.mode == "chat" or self.caps.supports_echo is False
        ):
            notes.append(NO_PROMPT_SCORES.format(why=self._no_echo_why()))
        if self.caps.post_sampling_probs and self.caps.server == "llama-cpp-python":
            notes.append(
                "llama-cpp-python ignores post_sampling_probs: the probabilities shown are raw"
            )
        elif self.caps.post_sampling_probs:
            notes.append(
                "generated tokens carry probabilities after the sampler chain "
                "(post_sampling_probs), labelled 'sampling', not the raw distribution"
            )
        if not self.caps.stream:
            notes.append("streaming is off for this server: tokens arrive per completion")
        missing = self.lacks()
        if missing:
            notes.append("the server lacks: " + ", ".join(missing) + " (loomtui doctor)")
        return ModelInfo(
            name=self.model,
            backend="api",
            vocab_size=self.caps.vocab_size,
            context_length=self.caps.context_length,
            chat_template=True,
            device=self.api_base,
            dist=DIST_RAW,
            max_logprobs=self.caps.max_logprobs,
            exact_entropy=False,
            notes=notes,
            lacks=missing,
        )

    def lacks(self) -> list[str]:
        """What ``loomtui doctor`` found this server does not do (empty if never checked)."""
        return lacks(self.caps.findings)

    def _no_echo_why(self) -> str:
        if self.caps.mode == "chat":
            return " in chat mode"
        return f" on {self.caps.server}" if self.caps.server != "unknown" else ""

    def _k(self, k: int, chat: bool) -> int:
        cap = min(self.caps.max_logprobs, 20) if chat else self.caps.max_logprobs
        return max(0, min(int(k), cap))

    def _is_chat(self, context: Context | None, settings: GenerationSettings | None) -> bool:
        return bool(
            self.caps.mode == "chat"
            or (context is not None and context.chat)
            or (settings is not None and settings.chat)
        )

    # -- request bodies --------------------------------------------------------------------

    def _messages(self, context: Context) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The chat messages for ``context`` with their real roles, and the body fields a
        partial assistant reply needs. A server that cannot continue one is refused (one
        line), never sent a request it would answer with a fresh reply."""
        messages: list[dict[str, Any]] = list(context.chat_messages())
        if not (context.prefill or context.prefill_ids):
            return messages, {}
        style = self.caps.prefill
        if style == "continue":
            messages.append({"role": "assistant", "content": context.prefill})
            return messages, {"continue_final_message": True, "add_generation_prompt": False}
        if style == "prefix":
            messages.append({"role": "assistant", "content": context.prefill, "prefix": True})
            return messages, {}
        server = self.caps.server if self.caps.server != "unknown" else "this server"
        if style == "none":
            raise BackendError(
                f"{server} cannot continue a partial chat reply (no assistant prefill): "
                "generate from the end of a user turn, or use completion mode"
            )
        raise BackendError(
            f"not known whether {server} can continue a partial chat reply: set prefill = "
            '"continue" (vLLM, llama-server) or "prefix" (DeepSeek) in its profile, or '
            "generate from the end of a user turn"
        )

    def _body(
        self,
        context: Context,
        settings: GenerationSettings,
        chat: bool,
        n: int,
        seed: int | None,
        stream: bool,
        post_sampling: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """The endpoint and body of one request; ``post_sampling`` asks llama.cpp for the
        probabilities after its sampler chain instead of the raw ones (one kind a request)."""
        k = self._k(settings.logprobs_k, chat)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": stream,
        }
        if n != 1:
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.top_k and self.caps.supports_top_k:
            body["top_k"] = settings.top_k
        if chat:
            messages, prefill_fields = self._messages(context)
            body["messages"] = messages
            body.update(prefill_fields)
            body["logprobs"] = True
            body["top_logprobs"] = k
            path = "chat/completions"
        else:
            body["prompt"] = context.text
            body["logprobs"] = k
            path = "completions"
        if post_sampling:
            body["post_sampling_probs"] = True
        body.update(self.caps.extra_body)
        return path, body

    # -- generation -----------------------------------------------------------------------

    def _plan(self, settings: GenerationSettings) -> list[_Request]:
        """How to split ``n`` into requests: one if the server honours ``n``, else n."""
        n = max(1, settings.n)
        if n == 1 or self.caps.supports_n is not False:
            return [_Request(0, n, settings.seed)]
        # Separate requests with one seed would give n identical continuations.
        return [
            _Request(i, 1, None if settings.seed is None else settings.seed + i) for i in range(n)
        ]

    def generate(
        self,
        context: Context,
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent]:
        """Stream ``settings.n`` continuations; requests run concurrently on a thread pool."""
        cancel = cancel or threading.Event()
        stop = threading.Event()  # set on cancel and when the caller closes this generator
        chat = self._is_chat(context, settings)
        n = max(1, settings.n)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        running = 0
        waiting: list[_Request] = []  # planned, not sent yet
        produced = 0
        finished: set[int] = set()
        first_error: str | None = None
        retried_n = False

        # A server that computes one request at a time gets them one after another: sent
        # together they only wait there, and crowd the cores it computes on.
        at_once = self.caps.parallel_requests or n

        def launch(req: _Request) -> None:
            nonlocal running
            if running >= at_once:
                waiting.append(req)
                return
            running += 1
            self._pool.submit(self._run_request, context, settings, chat, req, stop, events)

        if chat:
            self._messages(context)  # a prefill this server cannot do: refused before sending
        for req in self._plan(settings):
            launch(req)
        try:
            while running:
                if cancel.is_set():
                    # Nothing queued after the cancel reaches the caller: the requests stop,
                    # and every unfinished continuation ends "cancelled" below.
                    stop.set()
                    break
                try:
                    kind, payload = events.get(timeout=0.05)
                except queue.Empty:
                    continue
                if kind == "token":
                    index, token = payload
                    if index < n and index not in finished:
                        produced += 1
                        token.top = self._table.pack(token.top)
                        yield TokenEvent(index, token=token)
                elif kind == "finish":
                    index, reason, error = payload
                    if index < n and index not in finished:
                        finished.add(index)
                        if error and first_error is None:
                            first_error = error
                        yield TokenEvent(index, finish_reason=reason, error=error)
                elif kind == "done":
                    req, seen, error = payload
                    running -= 1
                    if waiting and not stop.is_set():
                        launch(waiting.pop(0))
                    if error is not None:
                        first_error = first_error or error
                        if produced == 0 and not finished:
                            # Nothing generated at all: one clean error for the caller.
                            stop.set()
                            raise BackendError(error)
                        for i in range(req.offset, req.offset + req.n):
                            if i not in finished and i < n:
                                finished.add(i)
                                yield TokenEvent(i, finish_reason="error", error=error)
                        continue
                    missing = [i for i in range(req.offset, req.offset + req.n) if i not in seen]
                    if missing and not stop.is_set() and not retried_n and req.n > 1:
                        # The server ignored n (llama-cpp-python): fill the rest concurrently.
                        retried_n = True
                        self.caps.supports_n = False
                        for j, i in enumerate(missing):
                            seed = None if settings.seed is None else settings.seed + j + 1
                            launch(_Request(i, 1, seed))
                        continue
                    for i in missing:
                        if i not in finished and i < n:
                            finished.add(i)
                            reason = "cancelled" if stop.is_set() else "error"
                            err = None if stop.is_set() else "the server returned no completion"
                            yield TokenEvent(i, finish_reason=reason, error=err)
            for i in range(n):
                if i not in finished:
                    finished.add(i)
                    yield TokenEvent(i, finish_reason="cancelled" if cancel.is_set() else "error")
        finally:
            stop.set()

    def _run_request(
        self,
        context: Context,
        settings: GenerationSettings,
        chat: bool,
        req: _Request,
        stop: threading.Event,
        events: queue.Queue,
    ) -> None:
        """One HTTP request; posts ("token"|"finish"|"done", ...) events to ``events``."""
        seen: set[int] = set()
        state: dict[int, _ChoiceState] = {}
        k = self._k(settings.logprobs_k, chat)
        post = self.caps.post_sampling_probs
        # llama-server's /v1/completions sends post-sampling values in the legacy shape,
        # which does not say so: the request does (content[] entries say it with "prob").
        dist = DIST_SAMPLING if post and self.caps.server == "llama.cpp" else DIST_RAW
        greedy = settings.temperature <= 0
        try:
            path, body = self._body(
                context, settings, chat, req.n, req.seed, self.caps.stream, post_sampling=post
            )
            if self.caps.stream:
                chunks: Iterator[dict[str, Any]] = self.http.stream_sse(
                    path, body, self.model, stop
                )
            else:
                chunks = iter([self.http.post_json(path, body, self.model, stop)])
            for chunk in chunks:
                for choice in chunk.get("choices") or []:
                    if not isinstance(choice, dict):
                        continue
                    index = req.offset + int(choice.get("index", 0) or 0)
                    seen.add(index)
                    st = state.setdefault(index, _ChoiceState(dist, greedy))
                    for tok in st.feed(choice, k, chat):
                        events.put(("token", (index, tok)))
                    reason = choice.get("finish_reason")
                    if reason:
                        for tok in st.resolver.finish():
                            events.put(("token", (index, tok)))
                        st.closed = True
                        error = NO_LOGPROBS if st.missing_logprobs else None
                        events.put(("finish", (index, "error" if error else reason, error)))
            for index, st in state.items():
                if not st.closed:
                    for tok in st.resolver.finish():
                        events.put(("token", (index, tok)))
                    if st.missing_logprobs:
                        events.put(("finish", (index, "error", NO_LOGPROBS)))
                    elif stop.is_set():
                        events.put(("finish", (index, "cancelled", None)))
                    else:
                        events.put(("finish", (index, "stop", None)))
            events.put(("done", (req, seen, None)))
        except BackendError as exc:
            for index, st in state.items():
                for tok in st.resolver.finish():
                    events.put(("token", (index, tok)))
            if stop.is_set():
                for index in state:
                    events.put(("finish", (index, "cancelled", None)))
                events.put(("done", (req, seen | set(state), None)))
            else:
                events.put(("done", (req, seen, self.http.redact(str(exc)))))
        except Exception as exc:  # noqa: BLE001 - a worker must always report back
            msg = self.http.redact(
                f"unexpected answer from {self.api_base}: {type(exc).__name__}: {exc}"
            )
            events.put(("done", (req, seen, " ".join(msg.split())[:300])))

    # -- scoring and distributions ---------------------------------------------------------

    def score(self, text: str, top_k: int = 20, prefix: Context | None = None) -> ScoreResult:
        """Prompt logprobs: by ``echo`` where it is usable (completion mode), else by vLLM's
        ``prompt_logprobs`` where the server has them; elsewhere a note and no tokens."""
        chat = self._is_chat(prefix, None)
        use_echo = not chat and self.caps.supports_echo is not False
        if not use_echo and not self.caps.prompt_logprobs:
            return ScoreResult([], [], note=NO_PROMPT_SCORES.format(why=self._no_echo_why()))
        k = self._k(top_k, False)
        key = (repr(prefix), text, k)
        with self._lock:
            cached = self._score_cache.get(key)
        if cached is not None:
            return cached
        if use_echo:
            result = score_echo(self, prefix.text if prefix is not None else "", text, k)
        else:
            result = score_prompt_logprobs(self, text, k, prefix, chat)
        for token in result.tokens:
            token.top = self._table.pack(token.top)
        with self._lock:
            if len(self._score_cache) > 64:
                self._score_cache.pop(next(iter(self._score_cache)))
            self._score_cache[key] = result
        return result

    def next_distribution(self, context: Context, top_k: int = 20) -> Distribution:
        """The next-token top-k from a one-token completion with logprobs."""
        chat = self._is_chat(context, None)
        settings = GenerationSettings(
            max_tokens=1, n=1, temperature=0.0, logprobs_k=top_k, chat=chat
        )
        path, body = self._body(context, settings, chat, 1, None, stream=False)
        answer = self.http.post_json(path, body, self.model)
        raw = parse_choice_logprobs(first_choice(answer, self.api_base), self._k(top_k, chat))
        if not raw:
            raise BackendError(NO_LOGPROBS)
        return Distribution(
            top=list(raw[0].token.top), entropy=None, vocab_size=self.caps.vocab_size
        )

    def next_distributions(
        self, contexts: Sequence[Context], top_k: int = 20
    ) -> list[Distribution]:
        """One request per context, all at once (one after another where the server computes
        one at a time: ``caps.parallel_requests``)."""
        if self.caps.parallel_requests == 1:
            return [self.next_distribution(c, top_k) for c in contexts]
        futures = [self._pool.submit(self.next_distribution, c, top_k) for c in contexts]
        return [f.result() for f in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.http.close()


class _ChoiceState:
    """Per-completion parsing state across stream chunks."""

    def __init__(self, dist: str = DIST_RAW, greedy: bool = False) -> None:
        self.resolver = ByteResolver()
        self.closed = False
        self.missing_logprobs = False
        self.dist = dist
        self.greedy = greedy

    def feed(self, choice: dict[str, Any], k: int, chat: bool) -> list[Token]:
        if chat:
            delta = choice.get("delta") or choice.get("message") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
        else:
            text = choice.get("text")
        raw = parse_choice_logprobs(choice, k, self.dist)
        if raw is not None and self.greedy:
            for rt in raw:  # greedy: no distribution was sampled from
                rt.token.sampling_logprob = None
        if raw is None:
            if text:
                # Keep what was generated, unscored, and say why at the end.
                self.missing_logprobs = True
                data = text.encode("utf-8", "surrogatepass")
                raw = [RawToken(Token(text=text, bytes=data, logprob=None), True)]
            else:
                raw = []
        return self.resolver.feed(raw, text)


def open_api_backend(
    model: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
    profile: Mapping[str, Any] | None = None,
    cache_dir: Path | None = None,
) -> APIBackend:
    """An :class:`APIBackend` from command-line options and/or a resolved config profile.

    ``profile`` is the profile's table as the front end read it from the user's config
    (``api_base``, ``model``, ``api_key`` or ``api_key_env``, capability overrides); this layer
    never reads the config itself. Explicit options beat the profile; detection (the URL, then
    ``/models``) fills what neither says, and what ``loomtui doctor`` found for this server
    and model (kept under ``cache_dir``, which the front end passes) beats the family's
    guess. An authentication failure here is reported at once, as one line. The key goes
    only into the HTTP client's headers.
    """
    prof: dict[str, Any] = dict(profile or {})
    base = api_base or prof.get("api_base")
    if not base:
        raise BackendError("no API base URL: give --api-base, or a profile with api_base")
    base = normalise_base(str(base))
    key, source = resolve_key(api_key_env, prof)
    caps = Capabilities()
    family = prof.get("server") or family_from_url(base)
    probe = HttpClient(base, key, source, timeout=float(prof.get("timeout", 10.0)))
    models: dict[str, Any] = {}
    try:
        models = probe.get_json("models")
    except (AuthError, UnreachableError):
        # A wrong key and "is it running" are worth failing on now; a server without
        # /models (some proxies) is not.
        raise
    except BackendError:
        pass
    finally:
        probe.close()
    family = family or family_from_models(models)
    if family in FAMILIES:
        caps.server = family
        caps.override(FAMILIES[family])
    name = model or prof.get("model") or _first_model(models)
    if not name:
        raise BackendError(f"give --model: {base} lists no models")
    vocab, ctx = model_meta(models, str(name))
    caps.vocab_size, caps.context_length = vocab, ctx
    findings = load_findings(cache_dir, base, str(name))
    if findings is not None:
        apply_findings(caps, findings)
    caps.override(prof)
    return APIBackend(base, str(name), caps, api_key=key, key_source=source)


def _first_model(models: dict[str, Any]) -> str | None:
    for entry in models.get("data") or []:
        if isinstance(entry, dict) and entry.get("id"):
            return str(entry["id"])
    return None
