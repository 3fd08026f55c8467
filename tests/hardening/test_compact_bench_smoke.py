"""``session_compact_key_ms`` runs on tiny inputs (smoke, not timing): the app holds a
session through its store, keys are sent while the compacting full save runs on the app's
thread (the baseline) and then on its own thread, and every key is handled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "benchmarks" / "run.py"


def test_session_compact_key_ms_runs_on_tiny_inputs():
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", "--only", "session_compact_key_ms"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["session_compact_key_ms"]
    assert "error" not in result, result.get("error")
    assert result["value"] > 0 and result["unit"] == "ms" and result["goal"] == "<= 100"
    assert result["baseline"].startswith("the same keys while the same save runs")
    detail = result["detail"]
    assert detail["tokens"] == 20_000
    # Keys were sent during both saves, and each save ran to its end.
    assert all(n >= 3 for n in detail["keys"] + detail["baseline_keys"])
    assert detail["save_on_thread_s"][0] > 0 and detail["save_on_app_thread_s"][0] > 0
