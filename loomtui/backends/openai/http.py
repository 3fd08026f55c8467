"""HTTP for the API backend: requests with bounded retries, SSE streams, one-line errors.

Every failure becomes a :class:`BackendError` whose message is one line a user can act on,
with the API key redacted from anything a server or httpx might echo back.
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ..base import BackendError

#: Attempts for a 5xx or a dropped connection (the first try included).
MAX_5XX_ATTEMPTS = 3
#: Attempts for a 429 (rate limited); each waits what Retry-After asks, within MAX_WAIT_S.
MAX_429_ATTEMPTS = 5
MAX_WAIT_S = 60.0


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


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def _server_message(response: httpx.Response) -> str:
    """The server's own error text, shortened to one line."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError, httpx.ResponseNotRead):
        try:
            text = response.text
        except httpx.ResponseNotRead:
            text = ""
        return " ".join(text.split())[:200]
    msg: Any = body
    if isinstance(body, dict):
        msg = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
        if isinstance(msg, list):  # FastAPI validation errors
            msg = "; ".join(str(m.get("msg", m)) if isinstance(m, dict) else str(m) for m in msg)
    return " ".join(str(msg).split())[:200]


class HttpClient:
    """A thread-safe httpx client bound to one API base, with retries and clean errors."""

    def __init__(
        self,
        api_base: str,
        api_key: str | None,
        key_source: str,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.redact = Redactor(api_key)
        self._key_source = key_source  # e.g. "OPENAI_API_KEY": named in auth errors, not the key
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._sleep = sleep
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpClient({self.api_base!r})"

    def url(self, path: str) -> str:
        return f"{self.api_base}/{path.lstrip('/')}"

    def close(self) -> None:
        self._client.close()

    # -- errors ---------------------------------------------------------------------------

    def _status_error(self, response: httpx.Response, model: str | None) -> BackendError:
        code = response.status_code
        detail = self.redact(_server_message(response))
        where = self.api_base
        if code in (401, 403):
            hint = f"check the key in {self._key_source}" if self._key_source else "set a key"
            what = "authentication failed" if code == 401 else "access denied"
            return BackendError(f"{what} ({code}) at {where}: {hint}" + _tail(detail))
        if code == 404:
            name = f"model {model!r} or endpoint" if model else "endpoint"
            return BackendError(f"{name} not found (404) at {where}" + _tail(detail))
        if code == 429:
            return BackendError(
                f"rate limited (429) at {where}, gave up after retries" + _tail(detail)
            )
        if code >= 500:
            return BackendError(f"server error ({code}) at {where}" + _tail(detail))
        return BackendError(f"request refused ({code}) by {where}" + _tail(detail))

    def _transport_error(self, exc: Exception) -> BackendError:
        if isinstance(exc, httpx.TimeoutException):
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
            return BackendError(f"timed out {kind} {self.api_base} (after {self.timeout:g} s)")
        if isinstance(exc, httpx.ConnectError):
            return BackendError(f"cannot connect to {self.api_base}: is the server running?")
        msg = self.redact(" ".join(str(exc).split()))[:200]
        return BackendError(f"connection to {self.api_base} failed: {msg or type(exc).__name__}")

    # -- requests -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        stream: bool,
        model: str | None,
        cancel: threading.Event | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response (streamed when ``stream``)."""
        attempts_5xx = 0
        attempts_429 = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise BackendError("cancelled")
            try:
                request = self._client.build_request(method, self.url(path), json=body)
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                attempts_5xx += 1
                if isinstance(exc, httpx.ConnectError) or attempts_5xx >= MAX_5XX_ATTEMPTS:
                    raise self._transport_error(exc) from None
                self._wait(0.5 * 2 ** (attempts_5xx - 1), cancel)
                continue
            except httpx.TimeoutException as exc:
                raise self._transport_error(exc) from None
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from None
            code = response.status_code
            if code < 400:
                return response
            if stream:
                response.read()
            response.close()
            if code == 429 and attempts_429 + 1 < MAX_429_ATTEMPTS:
                attempts_429 += 1
                wait = retry_after_seconds(
                    response.headers.get("retry-after"), default=float(2**attempts_429)
                )
                if wait > MAX_WAIT_S:
                    raise BackendError(
                        f"rate limited (429) at {self.api_base}: the server asks to wait "
                        f"{wait:.0f} s; try again later"
                    )
                self._wait(wait, cancel)
                continue
            if code >= 500 and attempts_5xx + 1 < MAX_5XX_ATTEMPTS:
                attempts_5xx += 1
                self._wait(0.5 * 2 ** (attempts_5xx - 1), cancel)
                continue
            raise self._status_error(response, model)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if cancel is not None:
            if cancel.wait(seconds):
                raise BackendError("cancelled")
        else:
            self._sleep(seconds)

    def post_json(
        self,
        path: str,
        body: dict[str, Any],
        model: str | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` and return the JSON answer (interrupted when ``cancel`` is set)."""
        if cancel is None:
            response = self._send("POST", path, body, stream=False, model=model)
            return self._json(response)
        response = self._send("POST", path, body, stream=True, model=model, cancel=cancel)
        watcher = _CancelWatcher(cancel, response)
        try:
            response.read()
        except httpx.TimeoutException as exc:
            raise self._transport_error(exc) from None
        except httpx.HTTPError as exc:
            if cancel.is_set():
                raise BackendError("cancelled") from None
            raise self._transport_error(exc) from None
        finally:
            watcher.stop()
            response.close()
        if cancel.is_set():
            raise BackendError("cancelled")
        return self._json(response)

    def get_json(self, path: str) -> dict[str, Any]:
        response = self._send("GET", path, None, stream=False, model=None)
        return self._json(response)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except (ValueError, json.JSONDecodeError):
            raise BackendError(
                f"{self.api_base} answered with something that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise BackendError(f"{self.api_base} answered with an unexpected JSON shape")
        return data

    def stream_sse(
        self,
        path: str,
        body: dict[str, Any],
        model: str | None,
        cancel: threading.Event,
    ) -> Iterator[dict[str, Any]]:
        """POST with ``stream: true`` and yield each SSE ``data:`` JSON object.

        Stops (closing the response, so the server stops generating) as soon as ``cancel`` is
        set or the caller closes the generator.
        """
        response = self._send("POST", path, body, stream=True, model=model, cancel=cancel)
        # Closing the response from another thread is how a cancel interrupts a blocked read.
        watcher = _CancelWatcher(cancel, response)
        try:
            for line in response.iter_lines():
                if cancel.is_set():
                    return
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    data = json.loads(payload)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict) and "error" in data and "choices" not in data:
                    err = data["error"]
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    raise BackendError(
                        f"server error during streaming: {self.redact(str(msg))[:200]}"
                    )
                if isinstance(data, dict):
                    yield data
        except httpx.TimeoutException as exc:
            raise self._transport_error(exc) from None
        except (httpx.HTTPError, RuntimeError) as exc:
            if cancel.is_set():
                return
            raise self._transport_error(exc) from None
        finally:
            watcher.stop()
            response.close()


class _CancelWatcher:
    """Closes a streaming response when ``cancel`` is set, unblocking a waiting read."""

    def __init__(self, cancel: threading.Event, response: httpx.Response) -> None:
        self._cancel = cancel
        self._response = response
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            if self._cancel.wait(0.05):
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
        self._stopped.set()


def _tail(detail: str) -> str:
    return f" ({detail})" if detail else ""
