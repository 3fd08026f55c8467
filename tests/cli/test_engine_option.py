"""``--engine torch|llamacpp`` and ``[model] engine``: which engine runs a local model, the
one-line refusals (no llama-cpp-python, a model that is not a GGUF), what ``generate --json``
and ``doctor`` report, and the app driven through the llama.cpp engine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from loomtests.ui import screen_text, until, wait_idle

from loomtui.backends.base import GenerationSettings
from loomtui.cli import main
from loomtui.cli.params import Args


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_engine_refuses_a_model_that_is_not_a_gguf(capsys):
    code, out, err = _run(
        capsys, "generate", "--model", "someone/some-model", "--engine", "llamacpp", "--prompt", "x"
    )
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "llamacpp engine runs .gguf files" in lines[0] and "someone/some-model" in lines[0]


def test_engine_without_llama_cpp_python_says_how_to_install(capsys, monkeypatch, smollm_gguf):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # an import of it now fails
    code, out, err = _run(
        capsys, "generate", "--model", "default", "--engine", "llamacpp", "--prompt", "x"
    )
    assert code == 2 and out == ""
    assert err.strip() == (
        "loomtui: the llamacpp engine needs llama-cpp-python: pip install 'loomtui[llamacpp]'"
    )


def test_an_unknown_engine_is_a_usage_error(capsys):
    code, _, err = _run(capsys, "generate", "--engine", "vllm", "--prompt", "x")
    assert code == 2 and "--engine" in err


def test_config_declares_the_engine_and_refuses_others(tmp_path, monkeypatch):
    from loomtui.config import load_config
    from loomtui.core.errors import LoomError

    path = tmp_path / "config.toml"
    monkeypatch.setenv("LOOMTUI_CONFIG", str(path))
    assert load_config().model.engine == "torch"  # the default
    path.write_text('[model]\nengine = "llamacpp"\n')
    assert load_config().model.engine == "llamacpp"
    path.write_text('[model]\nengine = "onnx"\n')
    with pytest.raises(LoomError, match="engine"):
        load_config()


@pytest.fixture
def llamacpp_config(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    path = tmp_path / "config.toml"
    path.write_text('[model]\nengine = "llamacpp"\n')
    monkeypatch.setenv("LOOMTUI_CONFIG", str(path))


@pytest.mark.slow
def test_generate_json_through_the_llamacpp_engine(capfd, smollm_gguf):
    pytest.importorskip("llama_cpp")
    code, out, err = _run(
        capfd,
        "generate",
        "--model",
        "default",
        "--engine",
        "llamacpp",
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "6",
        "--n",
        "2",
        "--temperature",
        "1.0",
        "--top-p",
        "0.9",
        "--logprobs",
        "5",
        "--json",
    )
    assert code == 0, err
    assert err == ""  # llama.cpp prints nothing over the terminal (file descriptors read)
    data = json.loads(out)
    assert data["model"] == "SmolLM2-135M-Instruct-Q4_1"
    assert data["prompt_token_ids"] == [504, 3575, 282, 4649, 314]
    assert len(data["completions"]) == 2
    for completion in data["completions"]:
        assert completion["tokens"]
        for tok in completion["tokens"]:
            assert tok["logprob"] <= 0 and tok["sampling_logprob"] <= 0
            assert tok["sampling_logprob"] >= tok["logprob"]  # T 1: top-p only removes mass
            assert tok["entropy"] > 0
            assert len(tok["top"]) == 5
            # The token's logprob is its own entry in its top list, when it is there.
            mine = [a for a in tok["top"] if a["token_id"] == tok["token_id"]]
            assert not mine or abs(mine[0]["logprob"] - tok["logprob"]) < 1e-6
            assert bytes.fromhex(tok["bytes"]).decode("utf-8", "replace") == tok["text"]


@pytest.mark.slow
def test_the_config_picks_the_engine_and_doctor_reports_it(capsys, llamacpp_config, smollm_gguf):
    code, out, err = _run(capsys, "doctor", "--model", "default", "--json")
    assert code == 0, err
    caps = json.loads(out)["capabilities"]
    assert caps["engine"] == "llamacpp" and caps["dtype"] == "Q4_1"
    # --engine on the command line wins over the config.
    code, out, err = _run(capsys, "doctor", "--model", "default", "--engine", "llamacpp")
    assert code == 0 and "engine" in out and "llamacpp" in out


@pytest.mark.slow
async def test_the_app_generates_and_opens_the_topk_menu_on_llamacpp(smollm_gguf, tmp_path):
    pytest.importorskip("llama_cpp")
    from loomtui.backends.llamacpp import LlamaCppBackend
    from loomtui.cli.common import backend_from_args
    from loomtui.core.tree import Session
    from loomtui.ui.app import make_app
    from loomtui.ui.widgets.topk import TopKMenu

    args = Args(
        model="default",
        engine="llamacpp",
        api_base=None,
        api_key_env=None,
        profile=None,
        device=None,
        dtype=None,
        trust_remote_code=False,
    )
    loaded = []

    def factory(progress):  # type: ignore[no-untyped-def]
        backend = backend_from_args(args, progress=progress)
        loaded.append(backend)
        return backend

    app = make_app(
        session=Session.new("The capital of France is"),
        path=tmp_path / "llama.json",
        backend_factory=factory,
        new_session=False,
    )
    app.settings = GenerationSettings(max_tokens=3, temperature=0.0, logprobs_k=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine.backend is not None, timeout=120)
        assert "SmolLM2" in app.model_label
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot, timeout=120)
        assert loaded and isinstance(loaded[0], LlamaCppBackend)
        node = app.session.current
        assert node.error is None and len(node.tokens) == 3
        for tok in node.tokens:
            assert tok.logprob is not None and tok.entropy is not None
            assert len(tok.top) == 5 and tok.rank() == 1  # greedy picks the top token
        assert "done: 3 tok" in screen_text(app)
        await pilot.press("left", "left")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, TopKMenu)


@pytest.mark.slow
def test_the_llamacpp_engine_loads_without_torch(smollm_gguf):
    """The engine needs neither torch nor transformers: a start takes well under a second."""
    pytest.importorskip("llama_cpp")
    code = (
        "import sys; from loomtui.backends.resolve import open_backend; "
        "b = open_backend(model='default', engine='llamacpp'); "
        "print(b.info().engine, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["llamacpp", "False", "False"]
    assert proc.stderr == ""


def test_opening_a_session_with_engine_loads_a_model_on_it(monkeypatch, tmp_path):
    """``loomtui S.json --engine llamacpp`` on an existing session: the app gets a model (the
    default, run by llama.cpp), not a replay without one."""
    from loomtui.cli import app_cmd
    from loomtui.core.store import SessionStore
    from loomtui.core.tree import Session

    path = tmp_path / "s.json"
    SessionStore.create(path, Session.new("hello")).close()
    assert path.is_file()
    launched: list[dict] = []
    monkeypatch.setattr(app_cmd, "launch_app", lambda **kw: launched.append(kw) or 0)
    opened: list[dict] = []
    monkeypatch.setattr(
        "loomtui.backends.resolve.open_backend", lambda **kw: opened.append(kw) or kw
    )
    assert main([str(path), "--engine", "llamacpp"]) == 0
    factory = launched[0]["backend_factory"]
    assert factory is not None
    factory(None)
    assert opened[0]["engine"] == "llamacpp" and opened[0]["model"] in (None, "default")
