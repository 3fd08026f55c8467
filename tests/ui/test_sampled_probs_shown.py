"""Raw and sampled probabilities side by side, labelled, in the app: the info line, the top-k
menu and the colouring setting; and a top-k-only (API) token's entropy shown as a range."""

from __future__ import annotations

import math

from loomtests.ui import screen_text, wait_idle
from loomtests.words import WordsBackend
from rich.style import Style

from loomtui.backends.base import GenerationSettings
from loomtui.core.metrics import entropy_bounds
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.widgets.topk import TopKMenu

SIZE = (100, 24)


def _sampled(top: list[Alt], chosen: Alt, temperature: float, top_p: float) -> float:
    """The chosen token's logprob after temperature and top-p over the listed alternatives,
    renormalised (what a sampler that saw only these would have drawn it with)."""
    weights = [math.exp(a.logprob / temperature) for a in top]
    total = sum(weights)
    kept, mass = [], 0.0
    for alt, w in zip(top, weights, strict=True):
        if mass >= top_p:
            break
        kept.append((alt, w))
        mass += w / total
    norm = sum(w for _, w in kept)
    return math.log(next(w for a, w in kept if a.token_id == chosen.token_id) / norm)


class SampledWordsBackend(WordsBackend):
    """The words backend whose tokens also carry the probability they were sampled with."""

    def generate(self, context, settings, cancel=None):
        for ev in super().generate(context, settings, cancel):
            tok = ev.token
            if tok is not None:
                chosen = tok.top[0]
                tok.sampling_logprob = _sampled(
                    list(tok.top), chosen, settings.temperature, settings.top_p
                )
            yield ev


async def test_the_info_line_and_the_menu_show_raw_and_sampled_labelled():
    app = make_app(session=Session.new("Hi"), backend=SampledWordsBackend(), new_session=False)
    app.settings = GenerationSettings(max_tokens=3, temperature=0.7, top_p=0.9)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        tok = app.view.current_unit().token
        assert tok is not None and tok.sampling_logprob is not None
        sampled = math.exp(tok.sampling_logprob)
        assert abs(sampled - 0.5) > 0.01  # the two numbers differ: the test can tell them apart
        shown = screen_text(app)
        assert f"p=0.5000 raw · {sampled:.4f} sampled (T 0.7, top-p 0.9)" in shown
        assert "(raw dist)" not in shown  # each number carries its own label instead
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, TopKMenu)
        menu = screen_text(app)
        assert "(raw dist)" in menu
        assert f"chosen: 50.0% raw · {sampled:.1%} sampled (T 0.7, top-p 0.9)" in menu


async def test_greedy_tokens_show_the_raw_probability_alone():
    app = make_app(session=Session.new("Hi"), backend=WordsBackend(), new_session=False)
    app.settings = GenerationSettings(max_tokens=3, temperature=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        shown = screen_text(app)
        assert "p=0.5000  logprob=" in shown and "sampled" not in shown
        assert "(raw dist)" in shown


async def test_color_by_sampled_colours_tokens_by_their_sampled_probability():
    async def styles(color_by: str):
        app = make_app(
            session=Session.new("Hi"),
            backend=SampledWordsBackend(),
            new_session=False,
            config={"ui": {"color_by": color_by}},
        )
        app.settings = GenerationSettings(max_tokens=3, temperature=0.4, top_p=1.0)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+g")
            await wait_idle(app, pilot)
            unit = app.view.current_unit()
            theme, mode = app.scale_theme, app.scale_mode
            return (
                app.view._style_for(unit).color,
                theme.color_for(unit.token.logprob, mode),
                theme.color_for(unit.token.sampling_logprob, mode),
            )

    raw_style, raw_colour, sampled_colour = await styles("raw")
    assert raw_colour != sampled_colour  # p 0.5 raw, about 0.9 sampled at T 0.4
    assert raw_style == Style(color=raw_colour).color
    sampled_style, _, _ = await styles("sampled")
    assert sampled_style == Style(color=sampled_colour).color


def _api_session() -> Session:
    s = Session.new("Pick a number:")
    top = [Alt(" 4", b" 4", 100, -0.5), Alt(" 7", b" 7", 200, -2.0), Alt(" 9", b" 9", 300, -2.5)]
    toks = [Token(" 4", b" 4", 100, -0.5, top, None)]
    node = s.add_child(s.current_id, origin="model", tokens=toks, model="gpt-x", backend="api")
    s.current_id = node.id
    return s


async def test_a_top_k_only_token_shows_an_entropy_range():
    from loomtests.fakes import TopKBackend

    backend = TopKBackend()  # an API-like backend: top-k lists, a known vocabulary size
    vocab = backend.info().vocab_size
    app = make_app(session=_api_session(), backend=backend, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        b = entropy_bounds(app.view.current_unit().token.top, vocab)
        assert 0 < b.lower < b.upper < math.inf
        shown = screen_text(app)
        assert f"H {b.lower:.2f}–{b.upper:.2f} nats (bounds: top-3 only)" in shown


async def test_without_a_vocabulary_size_the_range_is_open_above():
    app = make_app(session=_api_session(), backend=None, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        b = entropy_bounds(app.view.current_unit().token.top, None)
        shown = screen_text(app)
        assert f"H ≥{b.lower:.2f} nats (bounds: top-3 only)" in shown


def _legacy_sse(body):
    """A scripted server's answer in the legacy completions shape: top-3 lists only."""
    from loomtests.scripted_server import Reply

    words = [(" upon", -0.5, {" upon": -0.5, " a": -1.5, " the": -2.5})]
    words += [(" a", -0.25, {" a": -0.25, " the": -2.0, " one": -3.0})]
    events = []
    for i, (text, lp, top) in enumerate(words):
        logprobs = {"tokens": [text], "token_logprobs": [lp], "top_logprobs": [top]}
        finish = "length" if i == len(words) - 1 else None
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": logprobs}
        events.append({"choices": [choice]})
    if not body.get("stream"):
        raise AssertionError("the app streams")
    return Reply(sse=[*events, "[DONE]"])


async def test_api_tokens_from_a_scripted_server_show_an_entropy_range(scripted):
    from loomtui.backends.openai import open_api_backend

    scripted.handler = _legacy_sse
    backend = open_api_backend(
        model="fake-model", api_base=scripted.base, profile={"vocab_size": 1000}
    )
    app = make_app(session=Session.new("Once"), backend=backend, new_session=False)
    app.settings = GenerationSettings(max_tokens=2, temperature=1.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+g")
            await wait_idle(app, pilot)
            tok = app.view.current_unit().token
            assert tok.text == " a" and tok.entropy is None and len(tok.top) == 3
            b = entropy_bounds(tok.top, 1000)
            assert 0 < b.lower < b.upper < math.log(1000)
            shown = screen_text(app)
            assert f"H {b.lower:.2f}–{b.upper:.2f} nats (bounds: top-3 only)" in shown
    finally:
        backend.close()


def test_a_servers_post_sampling_value_is_shown_once_and_labelled():
    """llama-server's post_sampling_probs come as the token's logprob and its
    sampling_logprob at once (dist "sampling"): the info line says it once, as the sampling
    distribution's, not as a raw probability beside the same number "sampled"."""
    from loomtui.core.tokens import DIST_SAMPLING
    from loomtui.ui.docwrap import Unit
    from loomtui.ui.widgets.status import describe_unit

    lp = math.log(0.62)
    tok = Token(
        text=" the",
        bytes=b" the",
        token_id=1,
        logprob=lp,
        sampling_logprob=lp,
        top=[Alt(" the", b" the", 1, lp), Alt(" a", b" a", 2, math.log(0.38))],
        dist=DIST_SAMPLING,
    )
    line = describe_unit(Unit(node_id="n", offset=0, end=1, text=" the", token=tok)).plain
    assert "p=0.6200" in line and "(sampling dist)" in line
    assert "sampled" not in line and line.count("0.6200") == 1
