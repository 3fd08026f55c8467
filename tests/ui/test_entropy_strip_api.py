"""The entropy strip on a session made through an API (top-k lists, no exact entropy, no
vocabulary size in replay): it opens, draws lower bounds and says so, and never crashes."""

from __future__ import annotations

from loomtests.ui import screen_text

from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session
from loomtui.instruments.entropy import entropy_points, sparkline
from loomtui.render.instruments import entropy_strip
from loomtui.ui.app import make_app


def _api_session() -> Session:
    s = Session.new("Pick a number:")
    toks = []
    for i, (text, lp) in enumerate([(" 4", -0.5), ("2", -1.2), (".", -0.9)]):
        top = [Alt(text, text.encode(), 100 + i, lp), Alt(" 7", b" 7", 200 + i, lp - 1.5)]
        toks.append(Token(text, text.encode(), 100 + i, lp, top, None))
    node = s.add_child(s.current_id, origin="model", tokens=toks, model="gpt-x", backend="api")
    s.current_id = node.id
    return s


def test_points_without_a_vocabulary_size_have_no_upper_bound_and_draw_the_lower() -> None:
    s = _api_session()
    pts = entropy_points(s, s.current_id, None)
    assert len(pts) == 3 and all(p.entropy == float("inf") and not p.exact for p in pts)
    assert [p.shown for p in pts] == [p.lower for p in pts] and max(p.lower for p in pts) > 0
    assert pts[0].label.startswith("H ≥")
    assert len(sparkline([p.entropy for p in pts])) == 3  # inf is drawn, never an error
    plain = "\n".join(str(line) for line in entropy_strip(pts).renderables)
    assert "lower bounds" in plain and "H ≥" in plain and "inf" not in plain
    with_vocab = entropy_points(s, s.current_id, 1000)
    assert all(p.lower <= p.shown == p.entropy < float("inf") for p in with_vocab)
    p0 = with_vocab[0]
    assert p0.label == f"H {p0.lower:.2f}–{p0.entropy:.2f}"  # a range, as the info line shows


async def test_the_strip_opens_in_replay_of_an_api_session(tmp_path) -> None:
    app = make_app(session=_api_session(), path=tmp_path / "s.json", backend=None,
                   new_session=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "H ≥" in text and "lower bounds" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
