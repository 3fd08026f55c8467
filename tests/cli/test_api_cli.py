"""The verbs over the API: same JSON as the local backend, clean errors, and the key never
reaches any file the program writes."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from loomtests.scripted_server import FAKE_KEY, Reply

from loomtui.cli import main

pytest.importorskip("loomtui.cli.generate")

TOKENS = [" upon", " a", " time", "\u2019s"]


def stream_handler(body):
    """A legacy-shape answer (SSE when asked to stream) that echoes the key back in an
    unused field, as a careless proxy might, to prove nothing copies it onward."""
    lps = [-0.5, -0.25, -0.125, -1.0][: body.get("max_tokens", 4)]
    toks = TOKENS[: len(lps)]
    choice = lambda t, lp, fin: {  # noqa: E731
        "index": 0,
        "text": t,
        "finish_reason": fin,
        "logprobs": {
            "tokens": [t],
            "token_logprobs": [lp],
            "top_logprobs": [{t: lp, " other": lp - 1}],
        },
    }
    if body.get("stream"):
        events = [
            {"choices": [choice(t, lp, "length" if i == len(toks) - 1 else None)]}
            for i, (t, lp) in enumerate(zip(toks, lps, strict=True))
        ]
        return Reply(sse=[*events, "[DONE]"])
    return Reply(
        body={
            "choices": [
                {
                    "index": 0,
                    "text": "".join(toks),
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": toks,
                        "token_logprobs": lps,
                        "top_logprobs": [{t: lp} for t, lp in zip(toks, lps, strict=True)],
                    },
                }
            ]
        }
    )


def generate_json(capsys, base, *extra):
    code = main(
        [
            "generate",
            "--api-base",
            base,
            "--model",
            "fake-model",
            "--prompt",
            "Once",
            "--max-tokens",
            "4",
            "--json",
            *extra,
        ]
    )
    out = capsys.readouterr()
    return code, out


def test_generate_json_has_the_local_shape_with_null_ids(scripted, capsys, monkeypatch):
    scripted.handler = stream_handler
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    code, out = generate_json(capsys, scripted.base)
    assert code == 0, out.err
    data = json.loads(out.out)
    assert {"model", "backend", "prompt", "completions"} <= set(data)
    assert data["backend"] == "api" and data["model"] == "fake-model"
    (comp,) = data["completions"]
    assert comp["text"] == " upon a time\u2019s"
    tok = comp["tokens"][3]
    assert tok["token_id"] is None and tok["bytes"] == "\u2019s".encode().hex()
    assert tok["logprob"] == -1.0 and tok["entropy"] is None
    assert tok["top"][0]["text"] == "\u2019s"


def test_unreachable_server_is_one_line_and_exit_2(capsys):
    from loomtests.llama_server import free_port

    code = main(
        [
            "generate",
            "--api-base",
            f"http://127.0.0.1:{free_port()}/v1",
            "--model",
            "m",
            "--prompt",
            "x",
            "--json",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot connect" in err


def _written_files(*roots: Path) -> list[Path]:
    files = []
    for root in roots:
        if root.is_dir():
            files += [p for p in root.rglob("*") if p.is_file()]
        elif root.is_file():
            files.append(root)
    return files


def test_the_key_is_in_no_file_the_program_writes(scripted, capsys, monkeypatch, tmp_path):
    scripted.handler = stream_handler
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    session = tmp_path / "s.json"
    code, out = generate_json(capsys, scripted.base, "-o", str(session))
    assert code == 0, out.err
    code, out2 = generate_json(capsys, scripted.base, "-o", str(session), "--n", "2")
    assert code == 0, out2.err
    # The other verbs that write files (when they exist in this tree).
    if importlib.util.find_spec("loomtui.cli.export") is not None:
        for fmt in ("text", "markdown", "jsonl"):
            out_file = str(tmp_path / f"export.{fmt}")
            assert main(["export", str(session), "--all", "--format", fmt, "-o", out_file]) == 0
    # A failing request whose error body repeats the key.
    scripted.handler = lambda b: Reply(status=401, body={"error": {"message": f"bad {FAKE_KEY}"}})
    code = main(
        [
            "generate",
            "--api-base",
            scripted.base,
            "--model",
            "fake-model",
            "--prompt",
            "x",
            "-o",
            str(session),
        ]
    )
    assert code == 2
    printed = capsys.readouterr()
    config_dir = Path(os.environ["LOOMTUI_CONFIG"]).parent
    data_dir = Path(os.environ["LOOMTUI_DATA_DIR"])
    files = _written_files(tmp_path, config_dir, data_dir)
    assert session in files
    key = FAKE_KEY.encode()
    for f in files:
        assert key not in f.read_bytes(), f"the key leaked into {f}"
    for text in (out.out, out.err, out2.out, out2.err, printed.out, printed.err):
        assert FAKE_KEY not in text
    # The requests did carry it: the test would be vacuous otherwise.
    assert any(r.headers.get("Authorization") == f"Bearer {FAKE_KEY}" for r in scripted.requests)


@pytest.mark.server
def test_wrong_key_through_the_cli_is_one_line_exit_2(llama_server_with_key, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-the-right-one-1234")
    code = main(
        [
            "generate",
            "--api-base",
            llama_server_with_key.base,
            "--model",
            "smollm2",
            "--prompt",
            "Hi",
            "--max-tokens",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "authentication failed (401)" in err
    assert "sk-not-the-right-one-1234" not in err


@pytest.mark.server
def test_generate_and_score_against_llama_server(llama_server, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    session = tmp_path / "real.json"
    code = main(
        [
            "generate",
            "--api-base",
            llama_server.base,
            "--model",
            "smollm2",
            "--prompt",
            "The sky is",
            "--max-tokens",
            "5",
            "--temperature",
            "0",
            "--json",
            "-o",
            str(session),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    comp = data["completions"][0]
    assert len(comp["tokens"]) == 5 and comp["text"]
    assert all(t["token_id"] is None and t["logprob"] <= 0 for t in comp["tokens"])
    assert FAKE_KEY.encode() not in session.read_bytes()


def test_score_over_echo_and_a_clear_refusal_without_it(scripted, capsys):
    scripted.owned_by = "vllm"  # vLLM scores prompts through echo
    scripted.handler = lambda body: Reply(
        body={
            "choices": [
                {
                    "index": 0,
                    "text": body["prompt"] + " x",
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": ["Hello", " world", " x"],
                        "token_logprobs": [None, -3.5, -1.0],
                        "top_logprobs": [None, {" world": -3.5, " there": -1.5}, {" x": -1.0}],
                    },
                }
            ]
        }
    )
    code = main(
        [
            "score",
            "--api-base",
            scripted.base,
            "--model",
            "fake-model",
            "--text",
            "Hello world",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert [t["text"] for t in data["tokens"]] == ["Hello", " world"]
    assert [t["logprob"] for t in data["tokens"]] == [None, -3.5]
    assert scripted.posts()[-1].body["echo"] is True
    scripted.owned_by = "me"  # llama-cpp-python: echo is unreliable, so no scoring
    code = main(["score", "--api-base", scripted.base, "--model", "fake-model", "--text", "Hi"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot score prompt text" in err


def test_score_over_openai_legacy_echo_in_its_real_shape(scripted, capsys, shared_fixtures):
    """The response OpenAI's legacy completions sent for echo (n=2, top_logprobs null),
    served as it is: the prompt's tokens and their logprobs, the generated token dropped."""
    answer = json.loads((shared_fixtures / "api/legacy_completions_echo_response.json").read_text())
    scripted.owned_by = "system"  # OpenAI's /models
    scripted.handler = lambda body: Reply(body=answer)
    code = main(
        [
            "score",
            "--api-base",
            scripted.base,
            "--model",
            "curie",
            "--text",
            "Test prompt",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert [t["text"] for t in data["tokens"]] == ["Test", " prompt"]
    assert [t["logprob"] for t in data["tokens"]] == [None, -12.956981]
    body = scripted.posts()[-1].body
    assert body["echo"] is True and body["prompt"] == "Test prompt"


def test_score_refused_in_one_line_where_doctor_found_echo_unusable(scripted, capsys):
    from loomtests.scripted_server import play

    play(scripted, "ollama")  # ignores echo: doctor finds no prompt scores
    assert main(["doctor", "--api-base", scripted.base, "--json"]) == 0
    capsys.readouterr()
    scripted.owned_by = "someone"  # no family guess left: only the findings say so
    code = main(["score", "--api-base", scripted.base, "--text", "Hi there"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot score prompt text" in err
