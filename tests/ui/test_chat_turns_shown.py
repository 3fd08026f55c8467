"""Chat turns shown with their roles: a quiet marker line per turn in the app's token view
(no cursor stop, no click target), in ``loomtui show``; the status line says chat."""

from __future__ import annotations

from pathlib import Path

from loomtests.ui import screen_text, wait_idle
from loomtests.words import WordsBackend

from loomtui.backends.base import GenerationSettings
from loomtui.cli import main
from loomtui.core.sessionfile import load_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.document import DocLayout

SIZE = (80, 24)
BUGS = Path(__file__).resolve().parents[2] / "sessions" / "are-bugs-real.json"


def _lines(layout: DocLayout) -> list[str]:
    return ["".join(t for _, t in line) for line in layout.lines]


def test_layout_puts_each_turn_under_a_marker_and_keeps_it_when_rewrapped():
    s = Session.new()
    user = s.add_child(s.root_id, plain="Are bugs real?", role="user")
    reply = s.add_generation(user.id, settings={"chat": True}, model="m", role="assistant")
    layout = DocLayout(40)
    layout.load(s, reply.id)  # the reply is empty: no marker for it yet
    assert list(layout.markers.values()) == ["user"]
    # Tokens stream in: the assistant's turn starts on a new line under its marker.
    s.append_tokens(reply.id, [Token("Yes", b"Yes", 1, -0.1), Token(",", b",", 2, -0.2)])
    assert layout.load(s, reply.id) > 0  # incremental
    assert layout.markers == {0: "user", 2: "assistant"}
    assert _lines(layout) == ["", "Are bugs real?", "", "Yes,"]
    layout.relayout(9)
    assert layout.markers[0] == "user" and "assistant" in layout.markers.values()
    # The cursor never lands on a marker line: Down from the question goes to the reply.
    q = layout.home_line(0)
    step = layout.line_step(layout.home_line(len(layout.units) - 3), 0, 1)
    assert step is not None and not layout.is_marker(step[1]) and step[1] > q
    assert layout.line_step(q, 0, -1) == (0, q)  # Up at the top stays (line 0 is a marker)


def test_completion_sessions_have_no_markers():
    s = Session.new("Once upon a time")
    layout = DocLayout(40)
    layout.load(s, s.current_id)
    assert layout.markers == {} and _lines(layout) == ["Once upon a time"]


async def test_app_shows_turns_and_says_chat_for_an_old_chat_session():
    app = make_app(session=load_session(BUGS), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        shown = screen_text(app)
        assert "── user ──" in shown and "── assistant ──" in shown
        assert "Are bugs real?The" not in shown.replace("\n", "")
        assert " chat" in shown and "completion" not in shown  # the status line
        view = app.view
        marker = next(iter(view.layout_.markers))
        await pilot.press("end")
        before = view.cursor
        await pilot.click("#view", offset=(2, marker - round(view.scroll_y)))
        assert view.cursor == before  # a marker is not a token


async def test_a_chat_generation_in_the_app_is_shown_as_the_assistant_turn():
    session = Session.new()
    session.add_child(session.root_id, plain="Hi", role="user")
    session.current_id = session.children(session.root_id)[0].id
    session.choose_settings({"chat": True})
    app = make_app(session=session, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        app.settings = GenerationSettings(max_tokens=4, chat=True)
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        reply = app.session.current
        assert reply.role == "assistant" and reply.tokens
        shown = screen_text(app)
        assert shown.index("── user ──") < shown.index("Hi") < shown.index("── assistant ──")


def test_show_prints_turn_markers_for_chat_and_none_for_completion(capsys, tmp_path):
    assert main(["show", str(BUGS), "--no-color", "--no-legend"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("── user ──\nAre bugs real?\n── assistant ──\nThe quandary")
    plain = tmp_path / "plain.json"
    from loomtui.core.sessionfile import save_session

    save_session(Session.new("Once upon a time"), plain)
    assert main(["show", str(plain), "--no-color", "--no-legend"]) == 0
    assert capsys.readouterr().out == "Once upon a time\n"


class _RecordingWords(WordsBackend):
    """WordsBackend that keeps every context it was asked to continue."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts = []

    def generate(self, context, settings, cancel=None):
        self.contexts.append(context)
        yield from super().generate(context, settings, cancel)


async def test_a_new_user_turn_is_added_after_the_reply_and_answered():
    session = Session.new()
    user = session.add_child(session.root_id, plain="Hi", role="user")
    session.current_id = user.id
    session.choose_settings({"chat": True})
    backend = _RecordingWords()
    app = make_app(session=session, backend=backend, new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        app.settings = GenerationSettings(max_tokens=3, chat=True)
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot)
        first_reply = app.session.current
        assert first_reply.role == "assistant"
        await pilot.press("a")
        await pilot.press(*"And you?")
        await pilot.press("enter")
        await wait_idle(app, pilot)
        second = app.session.current
        turn = app.session.node(second.parent)
        assert (turn.role, turn.plain, turn.parent) == ("user", "And you?", first_reply.id)
        assert second.role == "assistant" and second.tokens
        # The model was given the conversation as turns, the new message last.
        assert [m["role"] for m in backend.contexts[-1].messages] == [
            "user",
            "assistant",
            "user",
        ]
        assert backend.contexts[-1].messages[-1]["content"] == "And you?"
        shown = screen_text(app)
        assert shown.count("── user ──") == 2 and shown.count("── assistant ──") == 2


async def test_a_new_user_turn_in_a_completion_session_is_refused_with_a_word():
    session = Session.new("Once")
    before = len(session.nodes)
    app = make_app(session=session, backend=WordsBackend(), new_session=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert len(app.screen_stack) == 1  # no prompt opened
        assert len(app.session.nodes) == before
