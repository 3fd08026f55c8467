"""The real `loomtui` program in a real terminal (tmux), on the real embedded model:
launch, type, ctrl+g, ctrl+k, ctrl+q; then `loomtui export` shows the prompt and its text."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is"


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _wait_for(session: str, needle: str, timeout: float) -> str:
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} did not appear; screen was:\n{screen}")


@pytest.fixture
def tmux_session(tmp_path, smollm_gguf):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install -y tmux)")
    name = f"loomtui-test-{uuid.uuid4().hex[:8]}"
    yield name
    _tmux("kill-session", "-t", name)


def test_real_program_in_tmux(tmp_path: Path, tmux_session: str):
    config = tmp_path / "config.toml"
    # Greedy and short, so the test does not depend on sampling or a fast machine.
    config.write_text("[generation]\nmax_tokens = 4\ntemperature = 0.0\nlogprobs_k = 5\n")
    path = tmp_path / "tmux-session.json"
    env_vars = {
        "LOOMTUI_CONFIG": str(config),
        "LOOMTUI_DATA_DIR": str(tmp_path / "data"),
        "TERM": "xterm-256color",
    }
    env = " ".join(f"{k}={v}" for k, v in env_vars.items())
    command = f"env {env} {sys.executable} -m loomtui {path}; sleep 30"
    _tmux("new-session", "-d", "-s", tmux_session, "-x", "100", "-y", "30", command)
    _wait_for(tmux_session, "Generate", timeout=30)  # the app is up (footer shown)
    for ch in PROMPT:  # typed into the editor a new session opens with
        _tmux("send-keys", "-t", tmux_session, "-l", ch)
    _wait_for(tmux_session, PROMPT, timeout=10)
    _wait_for(tmux_session, "[local]", timeout=240)  # the model finished loading
    _tmux("send-keys", "-t", tmux_session, "C-g")
    _wait_for(tmux_session, "done: 4 tok", timeout=240)
    _tmux("send-keys", "-t", tmux_session, "Left")
    _tmux("send-keys", "-t", tmux_session, "C-k")
    _wait_for(tmux_session, "alternatives to", timeout=10)
    _tmux("send-keys", "-t", tmux_session, "Escape")
    time.sleep(0.5)
    _tmux("send-keys", "-t", tmux_session, "C-q")
    _wait_for(tmux_session, "session: ", timeout=30)  # printed after the app exits

    from loomtui.core.sessionfile import load_session

    session = load_session(path)
    leaf = session.current
    assert leaf.origin == "model" and len(leaf.tokens) == 4
    expected = session.branch_text(leaf.id)
    assert expected.startswith(PROMPT) and len(expected) > len(PROMPT)
    if not (Path(__file__).resolve().parents[2] / "loomtui" / "cli" / "export.py").exists():
        pytest.skip("the export verb is not there yet (loomtui/cli/export.py)")
    out = subprocess.run(
        [sys.executable, "-m", "loomtui", "export", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env_vars},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert PROMPT in out.stdout and expected in out.stdout
