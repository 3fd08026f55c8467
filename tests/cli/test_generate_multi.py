"""``loomtui generate --model A --model B``: the continuations spread over the models, each
loaded once and closed, each completion naming its model; a model that fails is one line on
stderr, the others' completions still land, and the exit status says so."""

from __future__ import annotations

import json

import pytest
from loomtests import fakes
from loomtests.scripted_server import Reply

from loomtui.backends.base import BackendError
from loomtui.cli import main
from loomtui.core.errors import LoomError
from loomtui.core.sessionfile import load_session

PROMPT = "The cat sat on the mat."


class Closing(fakes.FullBackend):
    def __init__(self, *a, log=None, **kw) -> None:
        super().__init__(*a, **kw)
        self.log = log if log is not None else []

    def close(self) -> None:
        self.log.append(("closed", self.name))


class Broken(Closing):
    def generate(self, context, settings, cancel=None):
        raise BackendError("503 from the server: overloaded")
        yield  # pragma: no cover


@pytest.fixture
def models(monkeypatch):
    """The verb's model entries opened as fakes (``bad`` cannot be loaded at all)."""
    log: list[tuple[str, str]] = []
    made = {}

    def open_entry(args, entry, progress=None):
        log.append(("opened", entry))
        if entry == "bad":
            raise LoomError("model file not found: bad.gguf")
        cls = Broken if entry == "broken" else Closing
        made[entry] = cls(f"fake-{entry}", seed=len(made) + 1, log=log)
        return made[entry]

    monkeypatch.setattr("loomtui.cli.generate_multi.backend_for_entry", open_entry)
    return made, log


def _own_logprobs(backend, prompt_text, tokens):
    ids = backend.tokenize(prompt_text)
    out = []
    for tok in tokens:
        out.append(float(backend._logprobs(ids)[tok["token_id"]]))
        ids.append(tok["token_id"])
    return out


def test_n_spread_over_two_models_json_names_each_completions_model(models, tmp_path, capsys):
    made, log = models
    out = tmp_path / "two.json"
    argv = [
        "generate", "--model", "a", "--model", "b", "--model", "a", "--prompt", PROMPT,
        "--n", "4", "--max-tokens", "4", "--temperature", "1", "--seed", "2",
        "--logprobs", "3", "--json", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert captured.err == ""
    # each distinct entry loaded once, and closed on exit
    assert [e for what, e in log if what == "opened"] == ["a", "b"]
    assert sorted(e for what, e in log if what == "closed") == ["fake-a", "fake-b"]
    assert [m["model"] for m in data["models"]] == ["fake-a", "fake-b"]
    assert [m["n"] for m in data["models"]] == [2, 2]
    assert data["failures"] == []
    comps = data["completions"]
    assert [c["model"] for c in comps] == ["fake-a", "fake-a", "fake-b", "fake-b"]
    for c in comps:
        own = made[c["model"][-1]]
        assert [t["logprob"] for t in c["tokens"]] == pytest.approx(
            _own_logprobs(own, PROMPT, c["tokens"]), abs=1e-4
        )
    # the session holds the four as siblings under the prompt, each marked by its model
    session = load_session(out)
    prompt = next(n for n in session.children(session.root_id) if n.plain == PROMPT)
    kids = session.children(prompt.id)
    assert [n.model for n in kids] == ["fake-a", "fake-a", "fake-b", "fake-b"]
    assert [n.text for n in kids] == [c["text"] for c in comps]


def test_a_model_that_fails_is_one_line_the_others_land_exit_non_zero(models, tmp_path, capsys):
    made, log = models
    out = tmp_path / "fail.json"
    argv = [
        "generate", "--model", "a", "--model", "broken", "--model", "bad", "--prompt", PROMPT,
        "--n", "2", "--max-tokens", "3", "--temperature", "0", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err == [
        "loomtui: generate: bad: cannot load: model file not found: bad.gguf",
        "loomtui: generate: fake-broken: 503 from the server: overloaded",
    ]
    assert "(fake-a; finish: length)" in captured.out
    session = load_session(out)
    prompt = next(n for n in session.children(session.root_id) if n.plain == PROMPT)
    kids = session.children(prompt.id)
    assert [n.model for n in kids] == ["fake-a", "fake-broken"]
    assert len(kids[0].tokens) == 3 and kids[1].error  # the failure is a visible node
    assert sorted(e for what, e in log if what == "closed") == ["fake-a", "fake-broken"]


def test_every_model_failing_to_load_is_a_refusal(monkeypatch, capsys):
    def refuse(args, entry, progress=None):
        raise LoomError(f"unknown model spec {entry!r}")

    monkeypatch.setattr("loomtui.cli.generate_multi.backend_for_entry", refuse)
    code = main(["generate", "--model", "x", "--model", "y", "--prompt", PROMPT])
    assert code == 2
    err = capsys.readouterr().err
    assert "no model could be loaded" in err and "'x'" in err and "'y'" in err
    assert len(err.strip().splitlines()) == 1


def _api_handler(body):
    """A legacy completions answer (SSE when asked): " upon a time", one token a chunk."""
    toks, lps = [" upon", " a", " time"], [-0.5, -0.25, -0.125]

    def choice(t, lp, fin):
        return {
            "index": 0,
            "text": t,
            "finish_reason": fin,
            "logprobs": {"tokens": [t], "token_logprobs": [lp], "top_logprobs": [{t: lp}]},
        }

    n = body.get("max_tokens", 3)
    events = [
        {"choices": [choice(t, lp, "length" if i == n - 1 else None)]}
        for i, (t, lp) in enumerate(zip(toks[:n], lps[:n], strict=True))
    ]
    if body.get("stream"):
        return Reply(sse=[*events, "[DONE]"])
    text = "".join(toks[:n])
    return Reply(
        body={
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": toks[:n],
                        "token_logprobs": lps[:n],
                        "top_logprobs": [{t: lp} for t, lp in zip(toks[:n], lps[:n], strict=True)],
                    },
                }
            ]
        }
    )


def test_a_server_model_and_a_local_one_in_one_generate(scripted, real_backend, capsys):
    """Real parts: a scripted OpenAI-compatible server on loopback, and the embedded model
    named beside it with local:."""
    scripted.handler = _api_handler
    argv = [
        "generate", "--api-base", scripted.base, "--model", "served-model",
        "--model", "local:default", "--prompt", "Once", "--n", "2", "--max-tokens", "3",
        "--temperature", "0", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    local = real_backend.info().name
    assert [(m["model"], m["backend"]) for m in data["models"]] == [
        ("served-model", "api"),
        (local, "local"),
    ]
    comps = data["completions"]
    assert [c["model"] for c in comps] == ["served-model", local]
    assert comps[0]["text"] == " upon a time"
    assert [t["logprob"] for t in comps[0]["tokens"]] == [-0.5, -0.25, -0.125]
    assert all(t["token_id"] is not None for t in comps[1]["tokens"])  # the local model's ids
    # the server was asked for the server's model, never for the local one
    asked = {s.body.get("model") for s in scripted.requests if isinstance(s.body, dict)}
    assert asked == {"served-model"}


def test_a_failing_server_is_one_line_and_the_local_model_still_lands(
    scripted, real_backend, tmp_path, capsys
):
    scripted.handler = lambda body: Reply(
        status=404, body={"error": {"message": "the model served-model does not exist"}}
    )
    out = tmp_path / "mixed.json"
    argv = [
        "generate", "--api-base", scripted.base, "--model", "served-model",
        "--model", "local:default", "--prompt", "Once", "--n", "2", "--max-tokens", "3",
        "--temperature", "0", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 1
    # (the server's own thread may print to stderr too: only loomtui's lines count)
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("loomtui:")]
    assert len(err) == 1 and err[0].startswith("loomtui: generate: served-model: ")
    assert "does not exist" in err[0]
    session = load_session(out)
    prompt = next(n for n in session.children(session.root_id) if n.plain == "Once")
    kids = session.children(prompt.id)
    assert [n.model for n in kids] == ["served-model", real_backend.info().name]
    assert kids[0].error and len(kids[1].tokens) == 3


def test_the_app_opens_its_model_list_as_generate_spells_an_entry(monkeypatch, tmp_path):
    """``loomtui --api-base URL --model m S.json`` with ``[model] also``: the app's opener reads
    each entry as ``generate --model`` does (a server model, local:, profile:)."""
    from loomtui.cli import app_cmd

    launched: list[dict] = []
    monkeypatch.setattr(app_cmd, "launch_app", lambda **kw: launched.append(kw) or 0)
    opened: list[dict] = []
    monkeypatch.setattr(
        "loomtui.backends.resolve.open_backend", lambda **kw: opened.append(kw) or kw
    )
    base = "http://127.0.0.1:9/v1"
    assert main(["--api-base", base, "--model", "m", str(tmp_path / "s.json")]) == 0
    open_model = launched[0]["open_model"]
    open_model("other-served", None)
    open_model("local:x.gguf", None)
    assert [(o["model"], o["api_base"]) for o in opened] == [
        ("other-served", base),
        ("x.gguf", None),
    ]
    with pytest.raises(LoomError, match="no profile 'gpu'"):
        open_model("profile:gpu", None)
