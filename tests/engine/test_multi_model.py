"""Several models in one generate (issue 16): n continuations dealt over the models, each
node marked by its model and every token's numbers that model's own; one model failing
leaves the others' nodes and one line naming it."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest
from loomtests import fakes

from loomtui.backends.base import BackendError, GenerationSettings
from loomtui.backends.resolve import model_entry
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments.multimodel import generate_many, spread

PROMPT = "The cat sat on the mat."


class Broken(fakes.FullBackend):
    """A model whose server answers every request with an error."""

    def generate(self, context, settings, cancel=None):
        raise BackendError("503 from the server: overloaded")
        yield  # pragma: no cover


class Spy(fakes.FullBackend):
    """Records the contexts it was asked to continue."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.contexts = []

    def generate(self, context, settings, cancel=None):
        self.contexts.append(context)
        yield from super().generate(context, settings, cancel)


def _engine() -> tuple[Engine, str]:
    session = Session.new()
    engine = Engine(session, None)
    prompt = engine.add(session.root_id, plain=PROMPT, origin="prompt")
    return engine, prompt.id


def _own_logprobs(backend: fakes.TopKBackend, session: Session, node) -> list[float]:
    """The node's tokens' logprobs recomputed from ``backend``'s own distribution, over the
    branch text as that model tokenizes it."""
    ids = backend.tokenize(session.branch_text(node.parent))
    out = []
    for tok in node.tokens:
        out.append(float(backend._logprobs(ids)[tok.token_id]))
        ids.append(tok.token_id)
    return out


def test_spread_is_round_robin_and_gives_every_model_one():
    assert spread(4, 2) == [2, 2]
    assert spread(5, 3) == [2, 2, 1]
    assert spread(1, 2) == [1, 1]
    assert spread(3, 1) == [3]
    with pytest.raises(ValueError):
        spread(2, 0)


def test_n_continuations_are_dealt_over_the_models_each_marked_with_its_numbers():
    engine, prompt = _engine()
    a, b = fakes.FullBackend("model-a", seed=1), fakes.TopKBackend("model-b", seed=2)
    settings = GenerationSettings(n=4, max_tokens=5, temperature=1.0, seed=3, logprobs_k=3)
    seen = []
    result = generate_many(
        engine, [a, b], prompt, None, settings, on_model=lambda i, m, name: seen.append(name)
    )
    assert seen == ["model-a", "model-b"]
    session = engine.session
    kids = session.children(prompt)
    assert [n.model for n in kids] == ["model-a", "model-a", "model-b", "model-b"]
    assert [n.backend for n in kids] == ["local", "local", "api", "api"]
    assert [n.id for n in result.nodes] == [n.id for n in kids]
    assert result.tokens == 20 and not result.errors and not result.failures
    for node, model in zip(kids, [a, a, b, b], strict=True):
        assert len(node.tokens) == 5 and node.finish_reason == "length"
        mine = _own_logprobs(model, session, node)
        other = _own_logprobs(b if model is a else a, session, node)
        got = [t.logprob for t in node.tokens]
        assert got == pytest.approx(mine, abs=1e-9)
        assert not all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(got, other, strict=True))
        # exact entropy only where the model gives whole distributions
        assert all((t.entropy is not None) == (model is a) for t in node.tokens)


def test_a_model_continuing_anothers_text_tokenizes_it_itself():
    engine, prompt = _engine()
    a, b = fakes.FullBackend("model-a", seed=1), Spy("model-b", seed=2)
    settings = GenerationSettings(n=1, max_tokens=4, temperature=0.0, logprobs_k=2)
    first = engine.generate(prompt, None, settings, backend=a).nodes[0]
    generate_many(engine, [a, b], first.id, None, settings)
    # B saw the whole branch (prompt + A's tokens) as its own tokenization of the text.
    text = engine.session.branch_text(first.id)
    assert b.contexts[-1].text == text
    assert b.contexts[-1].token_ids == b.tokenize(text)
    kids = engine.session.children(first.id)
    assert [n.model for n in kids] == ["model-a", "model-b"]
    assert [t.logprob for t in kids[1].tokens] == pytest.approx(
        _own_logprobs(b, engine.session, kids[1]), abs=1e-9
    )


def test_one_model_failing_leaves_the_others_and_one_line_naming_it():
    engine, prompt = _engine()
    a, broken = fakes.FullBackend("model-a", seed=1), Broken("flaky-api")
    settings = GenerationSettings(n=4, max_tokens=3, temperature=0.0, logprobs_k=2)
    result = generate_many(engine, [broken, a], prompt, None, settings)
    kids = engine.session.children(prompt)
    good = [n for n in kids if n.model == "model-a"]
    bad = [n for n in kids if n.model == "flaky-api"]
    assert len(good) == 2 and all(len(n.tokens) == 3 for n in good)
    assert len(bad) == 2 and all(n.error and "503" in n.error for n in bad)  # visible failures
    assert result.failures == ["flaky-api: 503 from the server: overloaded"]
    assert result.tokens == 6


def test_a_cancel_stops_before_the_next_model():
    engine, prompt = _engine()
    cancel = threading.Event()
    a, b = fakes.FullBackend("model-a"), fakes.FullBackend("model-b")
    settings = GenerationSettings(n=2, max_tokens=3, temperature=0.0)
    result = generate_many(
        engine, [a, b], prompt, None, settings, cancel=cancel,
        on_token=lambda node, tok: cancel.set(),  # Escape during model A's first token
    )  # fmt: skip
    assert result.cancelled
    kids = engine.session.children(prompt)
    assert [n.model for n in kids] == ["model-a"]  # model B never started


def test_a_generation_point_inside_a_node_is_split_once():
    engine, prompt = _engine()
    a, b = fakes.FullBackend("model-a", seed=1), fakes.FullBackend("model-b", seed=2)
    settings = GenerationSettings(n=1, max_tokens=6, temperature=0.0)
    node = engine.generate(prompt, None, settings, backend=a).nodes[0]
    result = generate_many(engine, [a, b], node.id, 2, settings)
    head = result.head
    assert len(head.tokens) == 2
    # the split-off rest of A's first node, then one new continuation from each model
    kids = engine.session.children(head.id)
    assert [n.model for n in kids] == ["model-a", "model-a", "model-b"]
    assert [n.id for n in kids[1:]] == [n.id for n in result.nodes]


def test_a_failure_before_any_node_is_one_line_too():
    class TinyWindow(fakes.FullBackend):
        def info(self):
            return dataclasses.replace(super().info(), context_length=2)

    engine, prompt = _engine()
    settings = GenerationSettings(n=2, max_tokens=3, temperature=0.0)
    result = generate_many(
        engine, [TinyWindow("tiny-window"), fakes.FullBackend("model-a")], prompt, None, settings
    )
    assert len(result.failures) == 1 and result.failures[0].startswith("tiny-window: ")
    assert "window is 2" in result.failures[0]
    assert [n.model for n in engine.session.children(prompt)] == ["model-a"]


@pytest.mark.parametrize(
    "entry, api_base, profile, expected",
    [
        ("default", None, None, ("default", None, None)),
        ("m.gguf", None, None, ("m.gguf", None, None)),
        ("gpt-x", "http://h/v1", None, ("gpt-x", "http://h/v1", None)),
        ("local:m.gguf", "http://h/v1", None, ("m.gguf", None, None)),
        ("profile:gpu", None, None, (None, None, "gpu")),
        ("profile:gpu", "http://h/v1", "other", (None, None, "gpu")),
        ("llama3:8b", None, "gpu", ("llama3:8b", None, "gpu")),
    ],
)
def test_a_model_entry_names_a_local_model_or_a_server_model(entry, api_base, profile, expected):
    assert model_entry(entry, api_base, profile) == expected


def test_an_empty_profile_entry_is_refused():
    with pytest.raises(BackendError, match="profile:NAME"):
        model_entry("profile:")
