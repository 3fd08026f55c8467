"""The benchmark suite runs (smoke, not timing): ``benchmarks/run.py --quick`` on tiny inputs.

No timed assertions here: performance numbers live in benchmarks/ and are read by people. These
tests fail when a measure breaks (an exception, a wrong shape, a missing name), so the suite
still runs when someone needs the numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "benchmarks" / "run.py"

#: Every name issue 7 asks the suite to report.
ISSUE_NAMES = {
    "topk_overhead",
    "cursor_regen_speedup",
    "n8_cost",
    "multiverse_batched_speedup",
    "ui_first_paint_20k_s",
    "ui_page_scroll_ms",
    "session_save_100k_s",
    "session_load_100k_s",
    "cold_start_ui_s",
    "api_n4_speedup",
}
#: Measures that need no model: run in the smoke test.
NO_MODEL = [
    "ui_first_paint_20k_s",
    "ui_page_scroll_ms",
    "session_save_100k_s",
    "session_load_100k_s",
    "session_bytes_per_token",
]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def _check_result(name: str, result: dict) -> None:
    assert "error" not in result, f"{name}: {result.get('error')}"
    assert set(result) >= {"value", "unit", "goal", "baseline", "met"}, result
    # The issue's shape: {"value": number, "unit": str, "goal": str, "baseline": str}.
    assert isinstance(result["value"], (int, float)), f"{name}: {result['value']!r}"
    for key in ("unit", "goal", "baseline"):
        assert isinstance(result[key], str) and result[key], f"{name}.{key}: {result[key]!r}"
    assert not result["baseline"].startswith("none"), f"{name}: {result['baseline']}"
    assert result["value"] > 0, f"{name}: {result['value']!r}"


def test_every_issue_measure_is_registered():
    proc = _run("--list", timeout=60)
    assert proc.returncode == 0, proc.stderr
    names = set(proc.stdout.split())
    assert ISSUE_NAMES <= names, f"missing: {sorted(ISSUE_NAMES - names)}"


@pytest.fixture(scope="module")
def quick_results() -> dict:
    proc = _run("--quick", "--json", "--only", *NO_MODEL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_view_and_file_measures_run_on_tiny_inputs(quick_results):
    assert set(quick_results) == set(NO_MODEL)
    for name in NO_MODEL:
        _check_result(name, quick_results[name])
    save = quick_results["session_save_100k_s"]
    assert save["goal"] == "<= 1" and save["met"] in (True, False)
    # 2,000 tokens with 20 alternatives each round-tripped through the real file code.
    assert save["detail"]["tokens"] == 2_000
    # 20 alternatives a token cannot fit in under 20 bytes, nor need a kilobyte.
    assert 20 < quick_results["session_bytes_per_token"]["value"] < 1_000
    scroll = quick_results["ui_page_scroll_ms"]
    assert scroll["unit"] == "ms" and scroll["detail"]["lines"] > 24  # more than one page


def test_table_output_names_every_measure_run():
    proc = _run("--quick", "--only", "session_bytes_per_token")
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()[:2]
    assert header.split()[:2] == ["measure", "value"]
    assert row.split()[0] == "session_bytes_per_token"


@pytest.mark.skipif(sys.platform == "win32", reason="the cold start drives a POSIX pty")
def test_cold_start_drives_the_real_program():
    """The real `loomtui` in a pseudo-terminal draws its first frame and answers F1."""
    proc = _run("--quick", "--json", "--only", "cold_start_ui_s")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["cold_start_ui_s"]
    _check_result("cold_start_ui_s", result)
    detail = result["detail"]
    # Answering a key comes after the first frame.
    assert detail["input_runs_s"][0] >= detail["first_frame_runs_s"][0]


#: Issue 19's measures of million-token sessions and of opening a 50,000-node tree.
SCALE_NAMES = [
    "session_save_1m_s",
    "session_load_1m_s",
    "session_rss_1m_mb",
    "session_change_1m_ms",
    "ui_first_paint_1m_s",
    "ui_page_scroll_1m_ms",
    "ui_open_50k_s",
]


def test_million_token_and_big_tree_measures_run_on_tiny_inputs():
    proc = _run("--quick", "--json", "--only", *SCALE_NAMES, timeout=400)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert set(results) == set(SCALE_NAMES)
    for name in SCALE_NAMES:
        _check_result(name, results[name])
    detail = results["session_load_1m_s"]["detail"]
    # 20,000 tokens (smoke size) saved, then loaded in a fresh process that holds them.
    assert detail["tokens"] == 20_000 and detail["file_mb"] > 1
    assert detail["rss_holding_mb"] > detail["rss_before_load_mb"]
    assert len(detail["change_runs_ms"]) == 9
    ui = results["ui_first_paint_1m_s"]["detail"]
    assert ui["branch_tokens"] == 20_000 and ui["lines_laid_out"] > 24
    assert results["ui_open_50k_s"]["detail"]["nodes"] == 2_000


@pytest.mark.slow
def test_cursor_regen_first_token_steps_runs_through_the_engine():
    """Regenerating at a cursor with the branch's cache stored: the first token's time is
    counted in decode steps, and the stored prefix was reused (else the measure fails)."""
    proc = _run("--quick", "--json", "--only", "cursor_regen_first_token_steps", timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["cursor_regen_first_token_steps"]
    _check_result("cursor_regen_first_token_steps", result)
    assert result["goal"] == "<= 2" and "decode step" in result["baseline"]
    detail = result["detail"]
    assert detail["context_tokens"] > 60 and len(detail["ratios"]) == 1


@pytest.mark.slow
def test_llamacpp_decode_ratio_runs_both_sides():
    """The llama.cpp engine (top-20 and exact entropy on every token) against llama-cpp-python's
    plain greedy completion on the same GGUF, on a few tokens."""
    pytest.importorskip("llama_cpp")
    proc = _run("--quick", "--json", "--only", "llamacpp_decode_ratio", timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["llamacpp_decode_ratio"]
    _check_result("llamacpp_decode_ratio", result)
    assert result["goal"] == ">= 0.8" and "create_completion" in result["baseline"]
    detail = result["detail"]
    assert detail["tokens"] == [8]  # both sides decoded every token asked for
    assert detail["threads"] == detail["llama_cpp_threads"]


@pytest.mark.slow
def test_adaptive_cost_growth_is_numbers_in_the_json():
    """The growth of adaptive looming's cost with K and D: numbers, not text, read from the
    grid adaptive_batched_speedup measured (run once)."""
    names = ["adaptive_batched_speedup", "adaptive_cost_growth_K", "adaptive_cost_growth_D"]
    proc = _run("--quick", "--json", "--only", *names, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for axis in ("K", "D"):
        result = results[f"adaptive_cost_growth_{axis}"]
        _check_result(f"adaptive_cost_growth_{axis}", result)
        cols = result["detail"]
        assert cols[axis] == sorted(cols[axis]) and len(cols[axis]) >= 2
        for key in ("nodes", "tokens", "forward_passes", "seconds"):
            assert all(isinstance(x, (int, float)) for x in cols[key]), key
        assert cols == results["adaptive_batched_speedup"]["detail"][f"growth_with_{axis}"]
        # A deeper or wider tree grows at least as many nodes.
        assert cols["nodes"][-1] >= cols["nodes"][0] and cols["nodes_growth"] >= 1
