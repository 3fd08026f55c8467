"""Probability colour scales, loaded from the packaged ``themes/*.toml`` (pure Python: no rich/textual).

Colour follows surprisal, not linear probability: token probabilities span orders of
magnitude, so surprisal in bits is clamped to ``[0, max_bits]`` and mapped linearly onto the
scale, each step being a constant factor in p. ``mode="prob"`` maps linear probability instead.
A theme may add a second cue (underline/bold below a probability) for plain terminals.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache

from .resources import themes_dir

DEFAULT_THEME = "green-red"
_LN2 = math.log(2)


class ThemeError(ValueError):
    pass


def _hex_to_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    if len(value) != 6:
        raise ThemeError(f"bad colour {value!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _rgb_to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


@dataclass(frozen=True)
class Theme:
    """A probability scale: colour stops from likely (first) to unlikely (last)."""

    name: str
    stops: tuple[str, ...]
    max_bits: float = 12.0
    mode: str = "logprob"  # or "prob"
    unscored: str | None = None  # colour for text with no probabilities (None = default fg)
    underline_below: float | None = None  # probability under which to underline
    bold_below: float | None = None
    description: str = ""
    app: dict[str, str] = field(default_factory=dict)  # app theme variables, if any

    def position(self, logprob: float | None, mode: str | None = None) -> float | None:
        """0.0 for certain, 1.0 for at least ``max_bits`` of surprisal (None if unknown)."""
        if logprob is None or math.isnan(logprob):
            return None
        if (mode or self.mode) == "prob":
            return 1.0 - min(1.0, max(0.0, math.exp(logprob)))
        bits = -logprob / _LN2
        return min(1.0, max(0.0, bits / self.max_bits))

    def color_for(self, logprob: float | None, mode: str | None = None) -> str | None:
        """Hex colour for a token with this logprob (``unscored`` when None)."""
        pos = self.position(logprob, mode)
        if pos is None:
            return self.unscored
        return _interpolate(self.stops, pos)

    def emphasis_for(self, logprob: float | None) -> tuple[bool, bool]:
        """(bold, underline): the second cue for unlikely tokens."""
        if logprob is None:
            return False, False
        p = math.exp(logprob)
        bold = self.bold_below is not None and p < self.bold_below
        underline = self.underline_below is not None and p < self.underline_below
        return bold, underline

    def legend(self, steps: int = 7) -> list[tuple[str, str]]:
        """(label, colour) pairs for a legend, from likely to unlikely."""
        out = []
        for i in range(steps):
            pos = i / (steps - 1)
            if self.mode == "prob":
                p = 1.0 - pos
            else:
                p = 2.0 ** (-pos * self.max_bits)
            label = f"{p:.0%}" if p >= 0.01 else f"{p:.0e}"
            out.append((label, _interpolate(self.stops, pos)))
        return out


@lru_cache(maxsize=256)
def _interpolate_cached(stops: tuple[str, ...], pos_q: int) -> str:
    pos = pos_q / 1000
    if len(stops) == 1:
        return stops[0]
    x = pos * (len(stops) - 1)
    i = min(int(x), len(stops) - 2)
    frac = x - i
    a, b = _hex_to_rgb(stops[i]), _hex_to_rgb(stops[i + 1])
    return _rgb_to_hex(tuple(a[k] + (b[k] - a[k]) * frac for k in range(3)))


def _interpolate(stops: tuple[str, ...], pos: float) -> str:
    return _interpolate_cached(stops, round(pos * 1000))


def list_themes() -> list[str]:
    return sorted(p.stem for p in themes_dir().glob("*.toml"))


@lru_cache(maxsize=32)
def load_theme(name: str = DEFAULT_THEME) -> Theme:
    """Load ``themes/NAME.toml``. Unknown names raise ThemeError listing what exists."""
    path = themes_dir() / f"{name}.toml"
    if name not in list_themes() or not path.is_file():
        raise ThemeError(f"unknown theme {name!r} (have: {', '.join(list_themes())})")
    data = tomllib.loads(path.read_text("utf-8"))
    scale = data.get("scale", {})
    stops = tuple(scale.get("stops", ()))
    if len(stops) < 1:
        raise ThemeError(f"theme {name!r} has no colour stops")
    for s in stops:
        _hex_to_rgb(s)
    return Theme(
        name=name,
        stops=stops,
        max_bits=float(scale.get("max_bits", 12.0)),
        mode=scale.get("mode", "logprob"),
        unscored=scale.get("unscored"),
        underline_below=scale.get("underline_below"),
        bold_below=scale.get("bold_below"),
        description=data.get("description", ""),
        app={k: str(v) for k, v in data.get("app", {}).items()},
    )
