"""Hostile text for the hardening tests: what a model, a file or a person might send."""

from __future__ import annotations

#: Plain text a person (or a shared file) might hold: markup, escapes, controls, bidi...
HOSTILE_PROMPT = (
    "Prompt [bold red]not bold[/bold red] \x1b[31mred?\x1b[0m \x1b]0;title\x07 "
    "\u202eRLO\u202c e\u0301 \ttab \rCR \x00NUL \x07bell \u0085NEL a\u200db \u009b2J\n"
    "second line"
)
#: Token bytes from a model, including a character split over two tokens and a bad byte.
HOSTILE_TOKENS = [
    b" [link=file:///etc/passwd]x[/link]",
    b" \x1b[2J\x1b[H",
    b" \xe2\x80",  # the first two bytes of a left double quote...
    b"\x9cquoted",  # ...and its last byte
    b" \xff\xfe",  # never valid UTF-8
    b" \x08\x08\x7f",
    " \u2066iso\u2069 z\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307".encode(),
    b" \x1bP+q\x1b\\",  # a DCS query
]
HUGE_TOKEN = b"H" * 300_000


def hostile_session():
    """A session holding every kind of hostile text, with a huge token at the end."""
    from loomtui.core.tokens import Alt, Token
    from loomtui.core.tree import Session

    session = Session.new(HOSTILE_PROMPT)
    prompt = session.current
    prompt.label = "[red]label\x1b[5m"
    toks = []
    for i, data in enumerate(HOSTILE_TOKENS + [HUGE_TOKEN]):
        text = data.decode("utf-8", "replace")
        top = (Alt(text, data, i, -0.1), Alt("[b]\x1b[1m", b"[b]\x1b[1m", 900 + i, -3.0))
        toks.append(Token(text, data, i, -0.1, top, 0.7))
    node = session.add_child(prompt.id, tokens=toks, origin="model", model="m\x1b[31m")
    node.finish_reason = "length"
    session.goto(node.id)
    return session
