"""A request's cancel watcher never touches its socket once the request is done: the socket
goes back to the connection pool, and shutting it down then cut the next request that reused
it ("connection reset by peer", seen when a generation's stop event fired just after its
answer was read)."""

from __future__ import annotations

import threading
import time

from loomtui.backends.openai.http import _CancelWatcher


class _Socket:
    def __init__(self) -> None:
        self.shut = 0

    def shutdown(self, how: int) -> None:
        self.shut += 1


class _Stream:
    def __init__(self, sock: _Socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None


class _Response:
    def __init__(self, sock: _Socket) -> None:
        self.extensions = {"network_stream": _Stream(sock)}


def test_a_cancel_after_stop_leaves_the_socket_alone():
    for _ in range(40):  # the old race needed the cancel inside the watcher's 50 ms wait
        sock, cancel = _Socket(), threading.Event()
        watcher = _CancelWatcher(cancel, _Response(sock))
        time.sleep(0.001)
        watcher.stop()
        cancel.set()  # e.g. the generation's stop event, set when it ends
        watcher._thread.join(1)
        assert sock.shut == 0


def test_a_cancel_during_the_request_shuts_the_socket():
    sock, cancel = _Socket(), threading.Event()
    watcher = _CancelWatcher(cancel, _Response(sock))
    cancel.set()
    watcher._thread.join(1)
    assert sock.shut == 1
    watcher.stop()
