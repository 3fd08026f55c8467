"""``loomtui generate`` and ``loomtui score`` on the embedded model: the JSON shape other tools
read, session output, and one-line errors."""

from __future__ import annotations

import json

import pytest

from loomtui.backends.base import Context
from loomtui.cli import main

# Batched, cached fp32 decoding and a plain forward pass sum in different orders: they
# agree to ~1e-5 nats, varying with batch shape and thread count. Far below display precision.
FP32_TOL = 1e-4

pytestmark = pytest.mark.slow

TOKEN_KEYS = {
    "text",
    "bytes",
    "token_id",
    "logprob",
    "dist",
    "sampling_logprob",
    "entropy",
    "entropy_bounds",
    "confidence",
    "confidence_k",
    "top",
}
ALT_KEYS = {"text", "bytes", "token_id", "logprob"}


def _check_token(tok: dict, k: int) -> None:
    assert set(tok) == TOKEN_KEYS
    assert tok["bytes"] == tok["bytes"].lower()
    bytes.fromhex(tok["bytes"])
    assert len(tok["top"]) == k
    for alt in tok["top"]:
        assert set(alt) == ALT_KEYS
        assert alt["bytes"] == alt["bytes"].lower()


def test_generate_json_shape_and_session_output(real_backend, capsys, tmp_path):
    out = tmp_path / "bugs.json"
    argv = [
        "generate",
        "--prompt",
        "Are bugs real?",
        "--chat",
        "--max-tokens",
        "6",
        "--n",
        "2",
        "--seed",
        "1",
        "--logprobs",
        "4",
        "--json",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "model",
        "backend",
        "prompt",
        "prompt_token_ids",
        "sampling",
        "completions",
        "timing",
    }
    assert data["model"] == "SmolLM2-135M-Instruct-Q4_1" and data["backend"] == "local"
    assert data["prompt"] == "Are bugs real?"
    expected_ids = real_backend.context_ids(Context("Are bugs real?", chat=True))
    assert data["prompt_token_ids"] == expected_ids
    assert set(data["timing"]) == {"load_s", "prefill_s", "decode_s", "tokens_per_s"}
    assert len(data["completions"]) == 2
    for comp in data["completions"]:
        assert set(comp) == {"text", "finish_reason", "tokens"}
        assert comp["finish_reason"] == "length" and len(comp["tokens"]) == 6
        joined = b"".join(bytes.fromhex(t["bytes"]) for t in comp["tokens"])
        assert comp["text"] == joined.decode("utf-8", "replace")
        for tok in comp["tokens"]:
            _check_token(tok, 4)
    # The session file holds the prompt and both completions as sibling branches.
    from loomtui.core.sessionfile import load_session

    session = load_session(out)
    prompt = [n for n in session.children(session.root_id) if n.plain == "Are bugs real?"]
    assert len(prompt) == 1
    kids = session.children(prompt[0].id)
    assert len(kids) == 2
    assert [n.text for n in kids] == [c["text"] for c in data["completions"]]
    assert kids[0].settings["chat"] is True and kids[0].settings["n"] == 2
    # A second run adds alternates beside the first ones, under the same prompt.
    assert main(argv[:-3] + ["-o", str(out)]) == 0
    capsys.readouterr()
    session = load_session(out)
    assert len(session.children(prompt[0].id)) == 4


def test_score_json_bytes_rebuild_the_text(real_backend, capsys, tmp_path):
    text = "Bugs are real. 😀 café"
    out = tmp_path / "scored.json"
    assert main(["score", "--text", text, "--top-k", "3", "--json", "-o", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"model", "prefix_token_ids", "tokens"}
    assert data["prefix_token_ids"] == [0]
    assert b"".join(bytes.fromhex(t["bytes"]) for t in data["tokens"]) == text.encode()
    for tok in data["tokens"]:
        _check_token(tok, 3)
    expected = real_backend.score(text, top_k=3)
    assert [t["logprob"] for t in data["tokens"]] == pytest.approx(
        [t.logprob for t in expected.tokens], abs=FP32_TOL
    )
    from loomtui.core.sessionfile import load_session

    session = load_session(out)
    assert session.current.text == text


def test_plain_output_prints_the_completion(capsys):
    assert (
        main(
            [
                "generate",
                "--prompt",
                "The capital of France is",
                "--max-tokens",
                "3",
                "--temperature",
                "0",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("The capital of France is\n--- completion 1/1")
    assert "Paris" in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--model", "nonsense", "--prompt", "x"], "unknown model spec"),
        (["generate", "--model", "/nowhere/m.gguf", "--prompt", "x"], "not found"),
        (["generate", "--prompt-file", "/nowhere/prompt.txt"], "prompt file not found"),
        (["score", "--model", "./no/such/dir", "--text", "x"], "not found"),
        (["generate", "--prompt", "x", "--temperature", "-1"], "temperature"),
    ],
)
def test_errors_are_one_line_with_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
