"""Ratings: a person's judgement of a node, on three steps: -1, 0, +1 (bad, so-so, good).

Why three and not five: a loom's judgement is made while reading, sibling against sibling,
many times an hour; thumbs down / neutral / up is one key each and reads the same at the end
of a session as at its start, where a 1-5 scale drifts (a 3 at noon is a 4 by evening). The
neutral 0 is "judged, keep it but no favourite", unlike None: not judged yet. Filters and
sorts read the number, so a finer scale could come later without changing the file shape.
"""

from __future__ import annotations

from .errors import LoomError
from .tree import Node

#: The values ``Node.rating`` may hold (None: unrated).
RATINGS = (-1, 0, 1)

#: How each rating is written in the tree panel, the branch panel and the CLI.
MARKS = {-1: "▼", 0: "◇", 1: "▲"}

_WORDS = {
    "-1": -1, "-": -1, "bad": -1, "down": -1,
    "0": 0, "meh": 0, "neutral": 0,
    "1": 1, "+1": 1, "+": 1, "good": 1, "up": 1,
}  # fmt: skip


class RatingError(LoomError, ValueError):
    """A rating that is none of -1, 0, +1 (or their words)."""


def parse_rating(text: str) -> int | None:
    """A rating as a person types it: -1/0/+1 (or bad/meh/good, down/neutral/up); "none"
    or "clear" clears it (None). Anything else: a one-line :class:`RatingError`."""
    word = text.strip().lower()
    if word in ("none", "clear", "unrated"):
        return None
    if word in _WORDS:
        return _WORDS[word]
    raise RatingError(f"a rating is -1, 0 or +1 (bad, meh, good) or none, not {text[:20]!r}")


def check_rating(value: object) -> int | None:
    """``value`` if it is a rating (or None), else :class:`RatingError`."""
    if value is None or (type(value) is int and value in RATINGS):
        return value  # type: ignore[return-value]
    raise RatingError(f"a rating is -1, 0 or +1, not {str(value)[:20]!r}")


def rating_mark(rating: int | None) -> str:
    """The mark shown for ``rating`` ("" when unrated)."""
    return "" if rating is None else MARKS[rating]


def rating_key(node: Node) -> tuple[int, int]:
    """A sort key, best first: rated +1, 0, -1, then unrated (sorted(..., key=rating_key))."""
    return (node.rating is None, -(node.rating or 0))


def passes(node: Node, at_least: int | None) -> bool:
    """Whether ``node`` is rated ``at_least`` or better (everything passes None)."""
    return at_least is None or (node.rating is not None and node.rating >= at_least)
