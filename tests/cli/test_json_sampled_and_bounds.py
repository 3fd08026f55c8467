"""``generate --json``: both probabilities, labelled, and honest entropy bounds for tokens
known only through a top-k list (a scripted server in the legacy completions shape)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from loomtests.scripted_server import Reply

from loomtui.cli import main

TOKENS = [" upon", " a", " time"]
LPS = [-0.5, -0.25, -1.5]
# Each position's top list: the chosen token and two others.
TOPS = [
    {" upon": -0.5, " a": -1.5, " the": -2.5},
    {" a": -0.25, " the": -2.0, " one": -3.0},
    {" time": -1.5, " day": -1.75, " while": -2.25},
]


def _choice(text, tokens, lps, tops, finish):
    return {
        "index": 0,
        "text": text,
        "finish_reason": finish,
        "logprobs": {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops},
    }


def _handler(body):
    """The legacy completions shape, as SSE events when asked to stream."""
    n = body.get("max_tokens", 3)
    if body.get("stream"):
        events = [
            {"choices": [_choice(t, [t], [lp], [top], "length" if i == n - 1 else None)]}
            for i, (t, lp, top) in enumerate(zip(TOKENS[:n], LPS[:n], TOPS[:n], strict=True))
        ]
        return Reply(sse=[*events, "[DONE]"])
    text = "".join(TOKENS[:n])
    return Reply(body={"choices": [_choice(text, TOKENS[:n], LPS[:n], TOPS[:n], "length")]})


def _bounds(top: dict[str, float], vocab: int | None) -> tuple[float, float | None]:
    """The entropy interval written out here from its definition (not loomtui's code): the
    listed terms plus the unseen mass r spread evenly over the V − k others (upper), or
    packed at the smallest listed probability (lower)."""
    lps = sorted(top.values(), reverse=True)
    known = -sum(math.exp(lp) * lp for lp in lps)
    r = 1 - sum(math.exp(lp) for lp in lps)
    lower = known - r * lps[-1]
    upper = None if vocab is None else known - r * math.log(r / (vocab - len(lps)))
    return lower, upper


def _generate(capsys, *extra) -> dict:
    code = main(["generate", "--prompt", "Once", "--max-tokens", "3", "--json", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_api_tokens_carry_entropy_bounds_and_no_exact_entropy(scripted, capsys):
    scripted.handler = _handler
    data = _generate(capsys, "--api-base", scripted.base, "--model", "fake-model")
    (comp,) = data["completions"]
    assert [t["text"] for t in comp["tokens"]] == TOKENS
    for tok, top in zip(comp["tokens"], TOPS, strict=True):
        assert tok["entropy"] is None  # not exact: only bounded
        lo, hi = tok["entropy_bounds"]
        want_lo, _ = _bounds(top, None)
        assert lo == pytest.approx(want_lo, abs=1e-9)
        assert hi is None  # the server publishes no vocabulary size: no upper bound
        assert tok["sampling_logprob"] is None and tok["dist"] == "raw"


def test_a_known_vocabulary_size_gives_a_finite_upper_bound(scripted, capsys):
    scripted.handler = _handler
    config = Path(os.environ["LOOMTUI_CONFIG"])
    config.write_text(
        f'[profiles.scripted]\napi_base = "{scripted.base}"\nmodel = "fake-model"\n'
        "vocab_size = 1000\n"
    )
    data = _generate(capsys, "--profile", "scripted")
    for tok, top in zip(data["completions"][0]["tokens"], TOPS, strict=True):
        lo, hi = tok["entropy_bounds"]
        want_lo, want_hi = _bounds(top, 1000)
        assert lo == pytest.approx(want_lo, abs=1e-9) and hi == pytest.approx(want_hi, abs=1e-9)
        assert lo < hi < math.log(1000)


@pytest.mark.slow
def test_local_json_labels_raw_and_sampled(real_backend, capsys):
    data = _generate(
        capsys, "--model", "default", "--temperature", "0.7", "--top-p", "0.9", "--seed", "3"
    )
    assert data["sampling"] == {"temperature": 0.7, "top_p": 0.9, "top_k": 0}
    toks = data["completions"][0]["tokens"]
    assert len(toks) == 3
    for tok in toks:
        assert tok["dist"] == "raw" and tok["sampling_logprob"] is not None
        assert tok["entropy"] is not None
        assert tok["entropy_bounds"] == [tok["entropy"], tok["entropy"]]
    greedy = _generate(capsys, "--model", "default", "--temperature", "0")
    assert all(t["sampling_logprob"] is None for t in greedy["completions"][0]["tokens"])
