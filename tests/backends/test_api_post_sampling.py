"""llama-server's ``post_sampling_probs``: the probabilities after its sampler chain, asked for
by a profile setting (one kind a request: raw by default), read into ``sampling_logprob`` and
labelled ``dist="sampling"``.

The scripted server answers in llama-server's shapes (tools/server/server-task.cpp,
``probs_vector_to_json``): ``logprobs.content[]`` entries ``{"id", "token", "bytes", "logprob",
"top_logprobs": [{"id", "token", "bytes", "logprob"}]}`` by default, and with
``post_sampling_probs: true`` ``"prob"`` and ``"top_probs": [{"id", "token", "bytes",
"prob"}]`` instead (linear values, fewer than asked where the chain cut the rest, 0 for a token
it removed). Newer builds answer /v1/completions in the legacy shape, where the logs of the
post-sampling values do not say what they are: the request does.
"""

from __future__ import annotations

import math

import pytest
from loomtests.scripted_server import FAKE_KEY, Reply, ScriptedServer

from loomtui.backends.base import Context, GenerationSettings
from loomtui.backends.openai.caps import Capabilities
from loomtui.backends.openai.compat import APIBackend
from loomtui.cli.jsonout import token_json
from loomtui.core.tokens import DIST_RAW, DIST_SAMPLING

WORDS = [(" Paris", 11), (",", 12), (" the", 13)]
RAW = {11: -0.4, 12: -1.1, 13: -0.2}  # raw logprobs of the chosen tokens
# After the chain (top-p cut the tail, renormalised): the chosen token's share and one other.
POST = {11: 0.8125, 12: 0.625, 13: 1.0}
OTHER = (" Lyon", 99)


def _entry(word: str, tid: int, post: bool) -> dict:
    b = list(word.encode())
    other_b = list(OTHER[0].encode())
    if post:
        rest = round(1.0 - POST[tid], 6)
        top = [{"id": tid, "token": word, "bytes": b, "prob": POST[tid]}]
        if rest > 0:
            top.append({"id": OTHER[1], "token": OTHER[0], "bytes": other_b, "prob": rest})
        # A token the chain removed comes back with probability 0.
        top.append({"id": 7, "token": " x", "bytes": list(b" x"), "prob": 0.0})
        return {"id": tid, "token": word, "bytes": b, "prob": POST[tid], "top_probs": top}
    top = [
        {"id": tid, "token": word, "bytes": b, "logprob": RAW[tid]},
        {"id": OTHER[1], "token": OTHER[0], "bytes": other_b, "logprob": RAW[tid] - 1.5},
    ]
    return {"id": tid, "token": word, "bytes": b, "logprob": RAW[tid], "top_logprobs": top}


def shaped(legacy_completions: bool = False):
    """Answers as llama-server does, post-sampling values only when asked for."""

    def handler(body: dict, chat: bool) -> Reply:
        post = body.get("post_sampling_probs") is True
        entries = [_entry(w, t, post) for w, t in WORDS[: body.get("max_tokens", 3)]]
        text = "".join(w for w, _ in WORDS[: len(entries)])
        if chat:
            choice = {
                "index": 0,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": text},
                "logprobs": {"content": entries},
            }
        elif legacy_completions:
            lp = [math.log(e["prob"]) if post else e["logprob"] for e in entries]
            tops = []
            for e in entries:
                listed = e["top_probs"] if post else e["top_logprobs"]
                tops.append(
                    {
                        a["token"]: math.log(a["prob"]) if post else a["logprob"]
                        for a in listed
                        if not post or a["prob"] > 0
                    }
                )
            logprobs = {"tokens": [e["token"] for e in entries], "token_logprobs": lp}
            logprobs["top_logprobs"] = tops
            choice = {"index": 0, "text": text, "finish_reason": "length", "logprobs": logprobs}
        else:
            choice = {
                "index": 0,
                "text": text,
                "finish_reason": "length",
                "logprobs": {"content": entries},
            }
        return Reply(body={"choices": [choice]})

    return handler


@pytest.fixture
def srv():
    s = ScriptedServer()
    s.owned_by = "llamacpp"
    yield s
    s.close()


def backend(s: ScriptedServer, **caps) -> APIBackend:
    c = Capabilities(server="llama.cpp", stream=False, timeout=5.0, max_logprobs=20, **caps)
    return APIBackend(s.base, s.model, c, api_key=FAKE_KEY)


def tokens_of(api: APIBackend, chat: bool = False, temperature: float = 0.7) -> list:
    settings = GenerationSettings(
        max_tokens=3, temperature=temperature, top_p=0.9, logprobs_k=5, chat=chat
    )
    ctx = Context(text="The capital of France is", chat=chat)
    return [ev.token for ev in api.generate(ctx, settings) if ev.token is not None]


@pytest.mark.parametrize("chat", [False, True], ids=["completions", "chat"])
def test_post_sampling_values_become_sampling_logprob_labelled(srv, chat):
    srv.path_handler = shaped()
    toks = tokens_of(backend(srv, post_sampling_probs=True), chat=chat)
    assert srv.posts()[-1].body["post_sampling_probs"] is True
    assert [t.token_id for t in toks] == [11, 12, 13]
    for tok in toks:
        want = math.log(POST[tok.token_id])
        assert tok.dist == DIST_SAMPLING
        assert tok.sampling_logprob == pytest.approx(want, abs=1e-12)
        assert tok.logprob == pytest.approx(want, abs=1e-12)  # what "sampling" dist lists
        # The top list holds the chain's survivors only (probability 0 is not a logprob).
        assert 7 not in [a.token_id for a in tok.top]
        assert sum(math.exp(a.logprob) for a in tok.top) == pytest.approx(1.0, abs=1e-6)
    data = token_json(toks[0])
    assert data["dist"] == "sampling" and data["sampling_logprob"] == pytest.approx(
        math.log(0.8125)
    )


def test_raw_by_default_no_post_sampling_field_sent(srv):
    srv.path_handler = shaped()
    toks = tokens_of(backend(srv))
    assert "post_sampling_probs" not in srv.posts()[-1].body
    assert [t.logprob for t in toks] == [RAW[11], RAW[12], RAW[13]]
    assert all(t.dist == DIST_RAW and t.sampling_logprob is None for t in toks)


def test_newer_llama_server_legacy_completions_shape_labelled_by_the_request(srv):
    """Its /v1/completions sends the logs of the post-sampling values in the legacy shape:
    they are labelled sampling because they were asked for, on llama.cpp."""
    srv.path_handler = shaped(legacy_completions=True)
    toks = tokens_of(backend(srv, post_sampling_probs=True))
    assert [t.dist for t in toks] == [DIST_SAMPLING] * 3
    assert [t.sampling_logprob for t in toks] == pytest.approx(
        [math.log(POST[i]) for i in (11, 12, 13)]
    )
    raw = tokens_of(backend(srv))
    assert [t.dist for t in raw] == [DIST_RAW] * 3 and raw[0].sampling_logprob is None


def test_greedy_has_no_sampling_logprob(srv):
    srv.path_handler = shaped()
    toks = tokens_of(backend(srv, post_sampling_probs=True), temperature=0.0)
    assert toks and all(t.sampling_logprob is None for t in toks)


def test_instruments_get_raw_distributions_even_with_the_setting(srv):
    """A probe's or multiverse's next-token list is the raw distribution: the setting is for
    generated tokens only."""
    srv.path_handler = shaped()
    api = backend(srv, post_sampling_probs=True)
    dist = api.next_distribution(Context(text="The capital of France is"), top_k=5)
    assert "post_sampling_probs" not in srv.posts()[-1].body
    assert dist.top[0].logprob == RAW[11]


def test_info_says_the_values_are_after_sampling(srv):
    srv.path_handler = shaped()
    notes = " ".join(backend(srv, post_sampling_probs=True).info().notes)
    assert "post_sampling_probs" in notes and "sampling" in notes
    assert "post_sampling_probs" not in " ".join(backend(srv).info().notes)


def test_a_profile_setting_asks_for_them_and_generate_json_labels_them(
    srv, tmp_path, monkeypatch, capsys
):
    """`[profiles.NAME] post_sampling_probs = true` in the user's config: `generate --json`
    shows the sampled values, labelled, with the field sent; without it, raw."""
    import json

    from loomtui.cli import main

    srv.path_handler = shaped()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[profiles.ls]\napi_base = "{srv.base}"\nmodel = "fake-model"\nserver = "llama.cpp"\n'
        "stream = false\npost_sampling_probs = true\n"
        f'[profiles.raw]\napi_base = "{srv.base}"\nmodel = "fake-model"\nserver = "llama.cpp"\n'
        "stream = false\n"
    )
    monkeypatch.setenv("LOOMTUI_CONFIG", str(cfg))
    args = ["generate", "--prompt", "Hi", "--max-tokens", "3", "--temperature", "0.7", "--json"]
    assert main([*args, "--profile", "ls"]) == 0
    toks = json.loads(capsys.readouterr().out)["completions"][0]["tokens"]
    assert srv.posts()[-1].body["post_sampling_probs"] is True
    assert [t["dist"] for t in toks] == ["sampling"] * 3
    assert [t["sampling_logprob"] for t in toks] == pytest.approx(
        [math.log(POST[i]) for i in (11, 12, 13)]
    )
    assert main([*args, "--profile", "raw"]) == 0
    toks = json.loads(capsys.readouterr().out)["completions"][0]["tokens"]
    assert "post_sampling_probs" not in srv.posts()[-1].body
    assert [t["dist"] for t in toks] == ["raw"] * 3
    assert [t["sampling_logprob"] for t in toks] == [None] * 3
