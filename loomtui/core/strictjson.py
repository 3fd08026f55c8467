"""Strict JSON for the files loomtui reads: every value must be writable back.

Python's ``json`` accepts what loomtui could never save: ``1e999`` (read as infinity),
``NaN``/``Infinity`` literals, and an object with the same key twice (the last one silently
wins, so the shadowed ``"nodes"`` are lost on the next save). :func:`loads_strict` refuses all
three, naming where in the document the value is (``nodes[3].tokens.lp[7]``).

The checks cost almost nothing on a good file: the hooks mark a bad value where they meet it,
and the document is walked to find its path only when one was marked. Integers are not hooked
(token arrays hold millions of them): an integer is always finite, and one too long for Python
raises :class:`ValueError` from the parser itself.
"""

from __future__ import annotations

import json
from typing import Any


class StrictJSONError(ValueError):
    """A value JSON allows but loomtui refuses; ``str()`` is ``"PATH: problem"``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class _Bad:
    """Left in the parsed document where a refused value was; never escapes this module."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def loads_strict(text: str) -> Any:
    """``json.loads(text)`` refusing non-finite numbers and duplicate keys.

    Raises :class:`StrictJSONError` naming the JSON path of the first refused value in
    document order, ``json.JSONDecodeError`` for text that is not JSON, ``ValueError`` for an
    integer too long to convert, ``RecursionError`` for nesting past the recursion limit.
    """
    marked: list[_Bad] = []

    def parse_float(literal: str) -> Any:
        value = float(literal)
        if value - value == 0.0:  # finite (inf - inf and NaN - NaN are NaN)
            return value
        bad = _Bad(f"{_clip(literal)} is not a finite number")
        marked.append(bad)
        return bad

    def parse_constant(name: str) -> Any:
        bad = _Bad(f"{name} is not a finite number")
        marked.append(bad)
        return bad

    def pairs_hook(pairs: list[tuple[str, Any]]) -> Any:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                break
            seen.add(key)
        bad = _Bad(f"duplicate key {_clip(key)!r}")
        marked.append(bad)
        return bad

    value = json.loads(
        text, parse_float=parse_float, parse_constant=parse_constant, object_pairs_hook=pairs_hook
    )
    if marked:
        path, bad = _first_bad(value)
        raise StrictJSONError(path, bad.problem)
    return value


def _first_bad(value: Any) -> tuple[str, _Bad]:
    """The path and marker of the first refused value, in document order (iterative: the
    document may nest tens of thousands of levels)."""
    # Each entry: (value, path as a linked tuple (parent, step) or None for the top level).
    stack: list[tuple[Any, Any]] = [(value, None)]
    while stack:
        item, where = stack.pop()
        if type(item) is _Bad:
            return _path_text(where), item
        if type(item) is dict:
            entries = [(v, (where, k)) for k, v in item.items() if type(v) in _CONTAINERS]
        elif type(item) is list:
            entries = [(v, (where, i)) for i, v in enumerate(item) if type(v) in _CONTAINERS]
        else:
            continue
        stack.extend(reversed(entries))
    raise AssertionError("a refused value was marked but not found")  # pragma: no cover


_CONTAINERS = (dict, list, _Bad)


def _path_text(where: Any) -> str:
    steps: list[str] = []
    while where is not None:
        where, step = where
        if type(step) is int:
            steps.append(f"[{step}]")
        elif step.isidentifier():
            steps.append(f".{step}")
        else:
            steps.append(f"[{json.dumps(_clip(step))}]")
    if not steps:
        return "top level"
    text = "".join(reversed(steps))
    return text[1:] if text.startswith(".") else text
