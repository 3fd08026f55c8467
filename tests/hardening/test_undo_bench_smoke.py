"""The undo measure runs (smoke, not timing): ``benchmarks/run.py --quick --only undo_1m_ratio``
on 20,000 tokens, every change made and undone through a real store and history file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_undo_measure_runs_and_says_what_it_measured():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--json", "--only"]
        + ["undo_1m_ratio"],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["undo_1m_ratio"]
    assert "error" not in result, result.get("error")
    assert result["unit"] == "x" and result["goal"] == "<= 2"
    assert result["baseline"].startswith("making the same changes")
    detail = result["detail"]
    assert detail["tokens"] == 20_000
    assert set(detail["undo_ms"]) == {"label", "split", "delete", "copy", "merge"}
    assert all(v > 0 for v in detail["undo_ms"].values())
    assert detail["history_file_bytes"] > 0
