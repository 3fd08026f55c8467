"""Weights only from safetensors/GGUF, no network for local models, and the context window
policy, with a tiny random Llama (real transformers, the embedded model's tokenizer)."""

from __future__ import annotations

import shutil
import socket

import pytest

from loomtui.backends.base import BackendError, GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine

WINDOW = 64


@pytest.fixture(scope="session")
def tiny_model(smollm_gguf, tmp_path_factory):
    """A 1-layer random Llama with a 64-token window, saved as safetensors."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from loomtui.backends.model_spec import convert_gguf
    from loomtui.config import cache_dir

    converted = convert_gguf(smollm_gguf, cache_dir())  # cached after the first run
    folder = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(converted / name, folder / name)
    tok = AutoTokenizer.from_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=WINDOW,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)  # safetensors
    return folder


@pytest.fixture(scope="session")
def tiny_backend(tiny_model):
    from loomtui.backends.local import LocalBackend

    return LocalBackend.load(str(tiny_model))


def test_pickle_only_model_folder_is_refused(tiny_model, tmp_path):
    import torch
    from safetensors.torch import load_file

    from loomtui.backends.local import LocalBackend

    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, folder / name)
    torch.save(load_file(tiny_model / "model.safetensors"), folder / "pytorch_model.bin")
    with pytest.raises(BackendError) as err:
        LocalBackend.load(str(folder))
    msg = str(err.value)
    assert "pickle" in msg and "safetensors" in msg and "\n" not in msg


def test_local_model_loads_without_touching_the_network(tiny_model, monkeypatch):
    from loomtui.backends.local import LocalBackend

    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError("network access in a test of a local model")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: guarded(socket.socket(), a[0]))
    backend = LocalBackend.load(str(tiny_model))
    assert backend.info().context_length == WINDOW
    assert attempts == []


def _session_with_prompt(words: int) -> Session:
    return Session.new(" ".join(f"w{i}" for i in range(words)))


def test_too_long_context_is_refused_with_a_clear_message(tiny_backend):
    session = _session_with_prompt(200)
    engine = Engine(session, tiny_backend)
    before = len(session.nodes)
    with pytest.raises(BackendError) as err:
        engine.generate(session.current_id, None, GenerationSettings(max_tokens=4))
    msg = str(err.value)
    assert f"window is {WINDOW}" in msg and "truncate" in msg
    assert len(session.nodes) == before, "a refused generation adds no node"


def test_truncate_policy_drops_the_oldest_tokens_visibly(tiny_backend):
    session = _session_with_prompt(200)
    engine = Engine(session, tiny_backend)
    settings = GenerationSettings(max_tokens=4, temperature=0, context_policy="truncate")
    result = engine.generate(session.current_id, None, settings)
    node = result.nodes[0]
    assert len(node.tokens) == 4 and node.finish_reason == "length"
    dropped = node.meta["context_truncated"]
    total = len(tiny_backend.tokenize(session.branch_text(node.parent)))
    assert dropped >= total - (WINDOW - 4)
    assert node.settings["context_policy"] == "truncate"
    # The model saw the newest text: the prompt it was given ends like the branch.
    seen = tiny_backend.last_stats["prompt_token_ids"]
    assert len(seen) <= WINDOW - 4 + 1  # (+ BOS)
    assert tiny_backend.tokenize(" w199") == seen[-len(tiny_backend.tokenize(" w199")) :]


def test_short_context_is_untouched_by_the_policy(tiny_backend):
    session = _session_with_prompt(3)
    settings = GenerationSettings(max_tokens=3, context_policy="truncate")
    result = Engine(session, tiny_backend).generate(session.current_id, None, settings)
    assert "context_truncated" not in result.nodes[0].meta


def test_cli_generate_killed_mid_generation_keeps_its_tokens(tiny_model, tmp_path):
    """``loomtui generate -o S`` with a real (tiny) model, SIGKILLed while tokens stream:
    the next open takes over the lock and finds the tokens the journal had."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from loomtui.core.store import SessionStore, journal_path, lock_path

    session = tmp_path / "cli.json"
    for attempt in range(2):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loomtui",
                "generate",
                "--model",
                str(tiny_model),
                "--prompt",
                "Once",
                "--max-tokens",
                "60",
                "--temperature",
                "1",
                "-o",
                str(session),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "LOOMTUI_DEBUG": "1"},
        )
        journal = journal_path(session)
        deadline = time.monotonic() + 120
        # Wait until a few token records are in the journal, then kill at once.
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_bytes().count(b'"op":"tok"') >= 3:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.returncode != -signal.SIGKILL:
            pytest.fail(f"generate ended first: {proc.stderr.read().decode()[-800:]}")
        journaled = journal.read_bytes().count(b'"op":"tok"')
        assert lock_path(session).exists()
        with SessionStore.open(session) as store:
            gens = [n for n in store.session.nodes.values() if n.origin == "model"]
            assert len(gens) == attempt + 1  # one per run, the older one kept too
            newest = max(gens, key=lambda n: n.created)
            assert len(newest.tokens) >= journaled >= 3
            # Cut short, and it says so: a visible failed node with the tokens kept.
            assert newest.finish_reason == "error" and "interrupted" in newest.error
