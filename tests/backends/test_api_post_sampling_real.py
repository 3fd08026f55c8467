"""``post_sampling_probs`` against the real llama-cpp-python server: it ignores the field (its
answers with and without it are the same raw numbers, checked by hand on 0.3.x), so loomtui
keeps the values raw, never labels them as sampled, and says so in the backend's notes."""

from __future__ import annotations

import httpx
import pytest

from loomtui.backends.base import Context, GenerationSettings
from loomtui.backends.openai import open_api_backend
from loomtui.core.tokens import DIST_RAW

pytestmark = pytest.mark.server


def test_llama_cpp_python_ignores_post_sampling_probs_so_values_stay_raw(llama_server):
    prof = {"post_sampling_probs": True}
    api = open_api_backend(model=llama_server.model, api_base=llama_server.base, profile=prof)
    try:
        assert api.caps.server == "llama-cpp-python"
        settings = GenerationSettings(max_tokens=3, temperature=0.0, logprobs_k=3, seed=1)
        ctx = Context(text="The capital of France is")
        toks = [ev.token for ev in api.generate(ctx, settings) if ev.token is not None]
        assert toks and all(t.dist == DIST_RAW and t.sampling_logprob is None for t in toks)
        # The server's own answer to the same request, with the field: the same raw values.
        answer = httpx.post(
            f"{llama_server.base}/completions",
            json={
                "model": llama_server.model,
                "prompt": "The capital of France is",
                "max_tokens": 3,
                "temperature": 0.0,
                "logprobs": 3,
                "post_sampling_probs": True,
            },
            timeout=120,
        ).json()
        lps = answer["choices"][0]["logprobs"]["token_logprobs"]
        assert [t.logprob for t in toks] == pytest.approx(lps, abs=1e-6)
        assert any("ignores post_sampling_probs" in n for n in api.info().notes)
    finally:
        api.close()
