"""Cold start: from launching ``loomtui`` to an app that answers keys, model still loading.

``cold_start_ui_s`` runs the real program (``python -m loomtui``, a new session on the
embedded default model, loaded in the background) in a pseudo-terminal of 100x30 and reads
what it draws. The clock starts before the process is spawned; when the footer is on screen
("Generate"), F1 is pressed; the value is the time until the help screen it opens is drawn.
So the number covers interpreter start, imports, the first frame and handling a first key,
all while the model loads in a worker thread. Goal <= 1. Bytecode is cached (in the measure's
own folder, filled by the untimed first launch), as in any installed loomtui.

Baseline (same run): the same program opening an existing session for replay (no model), so
the difference is what the background model load costs the UI. ``detail`` also has the
floor: ``python -c "import textual.app"``; the CPU seconds the program used up to answering
F1 (Linux), which other work on the machine barely moves; and the same launch while another
process keeps one core busy (``busy_core_input_s``): the goal is meant to hold on a loaded
machine too.

No hooks in the app: the measure only looks at the terminal, as a user would. POSIX only
(``pty``); elsewhere it reports "skipped".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:  # registered with benchmarks/run.py when it imports this module
    from run import measure
except ImportError:  # pragma: no cover - imported some other way
    measure = None

RUNS = 3
COLS, ROWS = 100, 30
PAINTED = b"Generate"  # the footer's first binding: the first frame is out
HELP = b"keymap section"  # the F1 screen's title: a key was handled and drawn
F1 = b"\x1bOP"
CTRL_Q = b"\x11"
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=!$]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*\x07")


class _Screen:
    """The program's output so far, with escape sequences removed (text runs stay whole)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.raw = bytearray()

    def wait_for(self, needle: bytes, deadline: float) -> float | None:
        """Read until ``needle`` shows up; the perf_counter time it did, or None."""
        seen = 0
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                return None
            if not chunk:
                return None
            now = time.perf_counter()
            self.raw += chunk
            # Search only the tail that may hold a new match (escapes stripped).
            text = _ESCAPES.sub(b"", bytes(self.raw[max(0, seen - 256) :]))
            seen = len(self.raw)
            if needle in text:
                return now
        return None


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TERM": "xterm-256color",
            "COLUMNS": str(COLS),
            "LINES": str(ROWS),
            "LOOMTUI_CONFIG": str(home / "config.toml"),  # no user config or keymap
            "LOOMTUI_DATA_DIR": str(home / "data"),  # new sessions go here, not to the user's
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    env.pop("TEXTUAL", None)  # no devtools
    # Compiled bytecode, as an installed loomtui has it (pip compiles on install, and a
    # checkout writes __pycache__ on first import), kept in the measure's own folder: an
    # environment that forbids writing it (PYTHONDONTWRITEBYTECODE, as on the CI and helper
    # boxes) would otherwise compile every loomtui module on every launch.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


def launch_to_input(
    args: list[str], home: Path, timeout: float = 60.0, program: list[str] | None = None
) -> dict[str, float]:
    """Spawn ``python -m loomtui ARGS`` in a pty; seconds to first frame and to a handled F1."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*(program or [sys.executable, "-m", "loomtui"]), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_env(home),
        cwd=home,
        start_new_session=True,  # the pty becomes its controlling terminal
        close_fds=True,
    )
    os.close(slave)
    screen = _Screen(master)
    try:
        painted = screen.wait_for(PAINTED, start + timeout)
        if painted is None:
            tail = _ESCAPES.sub(b"", bytes(screen.raw[-400:])).decode(errors="replace")
            raise RuntimeError(f"no first frame in {timeout:.0f} s: {tail!r}")
        os.write(master, F1)
        answered = screen.wait_for(HELP, painted + timeout)
        if answered is None:
            raise RuntimeError("the app drew its first frame but did not answer F1")
        times = {"first_frame_s": painted - start, "input_s": answered - start}
        cpu = _cpu_seconds(proc.pid)
        if cpu is not None:
            times["cpu_s"] = cpu
        return times
    finally:
        try:
            os.write(master, F1 + CTRL_Q)  # close help, quit (releases the session's lock)
            proc.wait(3)
        except (OSError, subprocess.TimeoutExpired):
            # Still busy (e.g. loading the model) or its terminal is gone: no need to wait.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) the process has used so far, where /proc
    tells (Linux): unlike the wall clock, barely moved by other work on the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _python_floor() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual.app"], check=True)
    return time.perf_counter() - start


def _median_of(runs: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return round(statistics.median(values), 3) if values else None


def cold_start(runs: int = RUNS, warmup: bool = True) -> dict[str, Any]:
    """The measure's result dict (median of ``runs`` launches of each kind)."""
    if os.name != "posix":
        return {"value": "skipped", "unit": "s", "goal": None, "baseline": None,
                "detail": {"why": "needs a POSIX pty"}}  # fmt: skip
    from loomtui.core.sessionfile import save_session
    from loomtui.core.tree import Session

    loading, replay, floor = [], [], []
    with tempfile.TemporaryDirectory(prefix="loomtui-cold-") as tmp:
        home = Path(tmp)
        replay_file = home / "replay.json"
        save_session(Session.new("An existing session, opened for replay."), replay_file)
        # One untimed launch: the first ever start may convert the model's weights to the
        # cache, and fills the OS file cache, as any earlier use of loomtui would have.
        if warmup:
            launch_to_input([], home)
        for _ in range(runs):
            loading.append(launch_to_input([], home))
            replay.append(launch_to_input([str(replay_file)], home))
            floor.append(_python_floor())
        # The same launch with one core kept busy by another process (a loaded machine).
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            busy = [launch_to_input([], home) for _ in range(runs)]
        finally:
            spinner.kill()
            spinner.wait()
    value = statistics.median(r["input_s"] for r in loading)
    return {
        "value": round(value, 3),
        "unit": "s",
        "goal": "<= 1",
        "baseline": round(statistics.median(r["input_s"] for r in replay), 3),
        "detail": {
            "what": "new session, default model loading in the background; F1 answered",
            "input_runs_s": [round(r["input_s"], 3) for r in loading],
            "first_frame_runs_s": [round(r["first_frame_s"], 3) for r in loading],
            "replay_input_runs_s": [round(r["input_s"], 3) for r in replay],
            # CPU seconds to F1 answered (Linux): what a busy machine stretches the wall
            # clock from; it moves far less than the wall clock when other work runs.
            "input_cpu_s": _median_of(loading, "cpu_s"),
            "replay_input_cpu_s": _median_of(replay, "cpu_s"),
            "busy_core_input_s": _median_of(busy, "input_s"),
            "busy_core_input_runs_s": [round(r["input_s"], 3) for r in busy],
            "python_import_textual_s": round(statistics.median(floor), 3),
        },
    }


if measure is not None:

    @measure("cold_start_ui_s")
    def _cold_start(ctx: Any) -> dict[str, Any]:
        return cold_start(getattr(ctx, "cold_runs", RUNS), warmup=not getattr(ctx, "quick", False))


if __name__ == "__main__":
    print(json.dumps(cold_start(), indent=1))
