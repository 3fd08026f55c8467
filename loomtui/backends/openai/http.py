"""HTTP for the API backend through the ``openai`` SDK: one-line errors, cancellable reads.

``openai.OpenAI`` does the requests, the retries (429 with ``Retry-After``, 5xx, dropped
connections) and the SSE parsing; this module picks the endpoint, puts the fields the SDK
does not name into ``extra_body`` (llama.cpp's ``n_probs``, vLLM's ``prompt_logprobs``,
``continue_final_message``, ``top_k``...), hands the parsers plain dicts (``to_dict()`` keeps
every field a server added, such as llama.cpp's ``content[]``), and maps the SDK's typed errors
to :class:`BackendError` lines a user can act on, with the API key redacted from anything a
server might echo back.
"""

from __future__ import annotations

import inspect
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from ..base import BackendError

#: Retries the SDK makes for a 429, a 5xx or a dropped connection (3 attempts in all).
MAX_RETRIES = 2


class AuthError(BackendError):
    """The server refused the key (401) or the access (403)."""


class UnreachableError(BackendError):
    """No server answers at the API base (refused, or no connection in time)."""


class Redactor:
    """Removes a secret from text before it reaches a message, a log or a file."""

    def __init__(self, secret: str | None) -> None:
        self._secret = secret or ""

    def __call__(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def __repr__(self) -> str:  # never show the secret, even in a debugger
        return "Redactor(***)"


class _SDKClient(openai.OpenAI):
    """The SDK's client, except that a time-out is final: a server that did not answer
    within the time-out is not asked again (the SDK would retry it, multiplying a 600 s
    wait on a slow local server)."""

    def _send_request(self, request: Any, *, stream: bool, **kwargs: Any) -> Any:
        try:
            return super()._send_request(request, stream=stream, **kwargs)
        except httpx2.TimeoutException as exc:
            # An OpenAIError is propagated as it is, without a retry.
            raise openai.APITimeoutError(request=request) from exc

    def __repr__(self) -> str:  # the SDK's repr is the default one; keep the key out anyway
        return "_SDKClient(***)"


def _server_message(response: Any) -> str:
    """The server's own error text (from an httpx2 response), shortened to one line."""
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - not JSON, not read: use the text if there is one
        try:
            text = response.text
        except Exception:  # noqa: BLE001
            text = ""
        return " ".join(str(text).split())[:200]
    msg: Any = body
    if isinstance(body, dict):
        msg = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
        if isinstance(msg, list):  # FastAPI validation errors
            msg = "; ".join(str(m.get("msg", m)) if isinstance(m, dict) else str(m) for m in msg)
    return " ".join(str(msg).split())[:200]


def _names(method: Any) -> frozenset[str]:
    return frozenset(p for p in inspect.signature(method).parameters if not p.startswith("extra_"))


class HttpClient:
    """An SDK client bound to one API base: requests as dicts in and out, clean errors."""

    def __init__(
        self,
        api_base: str,
        api_key: str | None,
        key_source: str,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.redact = Redactor(api_key)
        self._key_source = key_source  # e.g. "OPENAI_API_KEY": named in auth errors, not the key
        self.timeout = timeout
        # No key: the SDK insists on one, so it gets a placeholder and every request omits
        # the Authorization header (local servers need none, and must not see a fake one).
        self._headers: dict[str, Any] = {} if api_key else {"Authorization": openai.omit}
        self._sdk = _SDKClient(
            base_url=self.api_base,
            api_key=api_key or "no-key",
            max_retries=max_retries,
            timeout=openai.Timeout(timeout, connect=min(connect_timeout, timeout)),
        )
        self._endpoints = {
            "completions": self._sdk.completions,
            "chat/completions": self._sdk.chat.completions,
        }
        self._known = {path: _names(resource.create) for path, resource in self._endpoints.items()}

    def __repr__(self) -> str:
        return f"HttpClient({self.api_base!r})"

    def close(self) -> None:
        self._sdk.close()

    # -- errors ---------------------------------------------------------------------------

    def error(self, exc: Exception, model: str | None = None) -> BackendError:
        """One line a user can act on, for anything the SDK or a server raised."""
        where = self.api_base
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc, model)
        if isinstance(exc, openai.APITimeoutError):
            cause = exc.__cause__
            if isinstance(cause, httpx2.ConnectTimeout):
                return UnreachableError(f"timed out connecting {where} (after {self.timeout:g} s)")
            return BackendError(f"timed out waiting for {where} (after {self.timeout:g} s)")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            if isinstance(cause, httpx2.ConnectError):
                return UnreachableError(f"cannot connect to {where}: is the server running?")
            msg = self.redact(" ".join(str(cause or exc).split()))[:200]
            return BackendError(f"connection to {where} failed: {msg or type(exc).__name__}")
        if isinstance(exc, json.JSONDecodeError):
            return BackendError(f"{where} answered with something that is not JSON")
        if isinstance(exc, openai.APIError):  # an error event inside a stream
            msg = self.redact(" ".join(str(exc.message).split()))[:200]
            return BackendError(f"server error during streaming: {msg}")
        if isinstance(exc, httpx2.HTTPError):
            msg = self.redact(" ".join(str(exc).split()))[:200]
            return BackendError(f"connection to {where} failed: {msg or type(exc).__name__}")
        msg = self.redact(" ".join(f"{type(exc).__name__}: {exc}".split()))[:300]
        return BackendError(f"unexpected answer from {where}: {msg}")

    def _status_error(self, exc: openai.APIStatusError, model: str | None) -> BackendError:
        code = exc.status_code
        detail = self.redact(_server_message(exc.response))
        where = self.api_base
        if isinstance(exc, openai.AuthenticationError) or code in (401, 403):
            hint = f"check the key in {self._key_source}" if self._key_source else "set a key"
            what = "authentication failed" if code == 401 else "access denied"
            return AuthError(f"{what} ({code}) at {where}: {hint}" + _tail(detail))
        if isinstance(exc, openai.NotFoundError):
            name = f"model {model!r} or endpoint" if model else "endpoint"
            return BackendError(f"{name} not found (404) at {where}" + _tail(detail))
        if isinstance(exc, openai.RateLimitError):
            wait = self._sdk._parse_retry_after_header(exc.response.headers)
            if wait is not None and wait > 60:
                return BackendError(
                    f"rate limited (429) at {where}: the server asks to wait {wait:.0f} s; "
                    "try again later"
                )
            return BackendError(
                f"rate limited (429) at {where}, gave up after retries" + _tail(detail)
            )
        if code >= 500:
            return BackendError(f"server error ({code}) at {where}" + _tail(detail))
        return BackendError(f"request refused ({code}) by {where}" + _tail(detail))

    # -- requests -------------------------------------------------------------------------

    def _call(self, path: str, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        """``body`` as the SDK's arguments: its named fields, the rest in ``extra_body``."""
        if path not in self._endpoints:
            raise BackendError(f"unknown endpoint {path!r}")
        known = self._known[path]
        args = {k: v for k, v in body.items() if k in known and k != "stream"}
        extra = {k: v for k, v in body.items() if k not in known}
        args["stream"] = stream
        if extra:
            args["extra_body"] = extra
        if self._headers:
            args["extra_headers"] = self._headers
        return args

    def post_json(
        self,
        path: str,
        body: dict[str, Any],
        model: str | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` (no streaming) and return the answer as a dict; a set ``cancel``
        interrupts a blocked read of the answer."""
        resource = self._endpoints.get(path)
        args = self._call(path, body, stream=False)
        try:
            if cancel is None:
                return _as_dict(resource.create(**args), self.api_base)  # type: ignore[union-attr]
            if cancel.is_set():
                raise BackendError("cancelled")
            with resource.with_streaming_response.create(**args) as raw:  # type: ignore[union-attr]
                watcher = _CancelWatcher(cancel, raw.http_response)
                try:
                    answer = raw.parse()
                finally:
                    watcher.stop()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            if cancel is not None and cancel.is_set():
                raise BackendError("cancelled") from None
            raise self.error(exc, model) from None
        if cancel.is_set():
            raise BackendError("cancelled")
        return _as_dict(answer, self.api_base)

    def get_json(self, path: str, timeout: float | None = None) -> dict[str, Any]:
        """GET ``path`` (under the API base) as a dict, e.g. ``models``."""
        try:
            answer = self._sdk.get(
                path,
                cast_to=object,
                options={"headers": self._headers, **({"timeout": timeout} if timeout else {})},
            )
        except Exception as exc:  # noqa: BLE001
            raise self.error(exc) from None
        return _as_dict(answer, self.api_base)

    def stream_sse(
        self,
        path: str,
        body: dict[str, Any],
        model: str | None,
        cancel: threading.Event,
    ) -> Iterator[dict[str, Any]]:
        """POST with ``stream: true`` and yield each event's JSON object.

        Stops (closing the response, so the server stops generating) as soon as ``cancel`` is
        set or the caller closes the generator.
        """
        if cancel.is_set():
            return
        resource = self._endpoints.get(path)
        args = self._call(path, body, stream=True)
        try:
            stream = resource.create(**args)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            if cancel.is_set():
                return
            raise self.error(exc, model) from None
        # Shutting the socket from another thread is how a cancel interrupts a blocked read.
        watcher = _CancelWatcher(cancel, stream.response)
        try:
            for chunk in stream:
                if cancel.is_set():
                    return
                data = _as_dict(chunk, self.api_base)
                if "error" in data and "choices" not in data:
                    err = data["error"]
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    raise BackendError(
                        f"server error during streaming: {self.redact(str(msg))[:200]}"
                    )
                yield data
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            if cancel.is_set():
                return
            raise self.error(exc, model) from None
        finally:
            watcher.stop()
            stream.close()


def _as_dict(answer: Any, where: str) -> dict[str, Any]:
    """An SDK object (or parsed JSON) as a plain dict with every field the server sent."""
    if isinstance(answer, openai.BaseModel):
        answer = answer.to_dict()
    if not isinstance(answer, dict):
        raise BackendError(f"{where} answered with an unexpected JSON shape")
    return answer


class _CancelWatcher:
    """Shuts a response's socket when ``cancel`` is set, unblocking a waiting read."""

    def __init__(self, cancel: threading.Event, response: Any) -> None:
        self._cancel = cancel
        self._response = response
        self._stopped = threading.Event()
        # Held while shutting the socket down and by stop(): once stop() returns the socket
        # is never touched again. It goes back to the connection pool then, and shutting it
        # down later would cut whichever request reuses it ("connection reset by peer").
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            if self._cancel.wait(0.05):
                with self._lock:
                    if self._stopped.is_set():
                        return  # the answer was read whole before the cancel came
                    # close() alone does not wake a thread blocked in recv(); shutting the
                    # socket down does (the server then sees the client go and stops).
                    try:
                        stream = self._response.extensions.get("network_stream")
                        sock = stream.get_extra_info("socket") if stream is not None else None
                        if sock is not None:
                            sock.shutdown(socket.SHUT_RDWR)
                    except Exception:  # noqa: BLE001 - best effort from another thread
                        pass
                return

    def stop(self) -> None:
        """The response is done with: from now on the socket is left alone."""
        with self._lock:
            self._stopped.set()


def _tail(detail: str) -> str:
    return f" ({detail})" if detail else ""
