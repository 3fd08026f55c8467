"""The instruments' screens, one module each: block multiverse, distribution probe, model
diff, attractor sweep, replay and entropy strip, each opened from the cursor.

The app builds a binding (keymap id: the instrument's name) and a palette command per entry
of :data:`INSTRUMENTS` (see :mod:`loomtui.ui.keys`); a spec's ``factory`` builds the screen
from :class:`~.base.InstrumentInputs` (the engine, the cursor point and a few callbacks),
never from the app. A screen's module (and what it draws
with) is imported when the screen is first opened, not at start-up: the app's first frame
waits for none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["INSTRUMENTS", "InstrumentSpec"]


@dataclass(frozen=True)
class InstrumentSpec:
    """An instrument as the app sees it: a key, a title, a line of help, a screen factory
    (called with the :class:`~.base.InstrumentInputs`)."""

    key: str
    title: str
    description: str
    factory: Callable[..., Screen[Any]]


def screen(module: str, name: str) -> Callable[..., Screen[Any]]:
    """A factory for the screen class ``name`` of the submodule ``module``, imported on first use."""

    # ``inputs`` is a :class:`~.base.InstrumentInputs`; not imported here, not even for
    # typing: the config reads this registry (keymap ids) and base reads the config.
    def build(inputs: Any, *args: Any) -> Screen[Any]:
        cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return cls(inputs, *args)

    build.__qualname__ = f"screen({module}.{name})"
    return build


INSTRUMENTS: dict[str, InstrumentSpec] = {
    "multiverse": InstrumentSpec(
        "v",
        "Block multiverse",
        "top-k futures to depth 3 as blocks sized by probability",
        screen("multiverse", "MultiverseScreen"),
    ),
    "probe": InstrumentSpec(
        "p",
        "Distribution probe",
        "score a set of answers (e.g. 1-10) exactly",
        screen("probe", "ProbeScreen"),
    ),
    "compare": InstrumentSpec(
        "d",
        "Model diff",
        "score this branch under a second model",
        screen("compare", "CompareScreen"),
    ),
    "sweep": InstrumentSpec(
        "w",
        "Attractor sweep",
        "swap this token for its alternatives, continue greedily",
        screen("sweep", "SweepScreen"),
    ),
    "replay": InstrumentSpec(
        "R",
        "Replay with another model",
        "re-run every generation point with another model",
        screen("replay", "ReplayScreen"),
    ),
    "entropy": InstrumentSpec(
        "u",
        "Entropy strip",
        "entropy along the branch; jump to the most uncertain tokens",
        screen("entropy", "EntropyScreen"),
    ),
    "collapse": InstrumentSpec(
        "M",
        "Mode collapse",
        "this point under this model and a second one, side by side",
        screen("collapse", "CollapseScreen"),
    ),
    "adaptive": InstrumentSpec(
        "A",
        "Adaptive looming",
        "greedy from the cursor, branching into the top-K where the model is unsure",
        screen("adaptive", "AdaptiveScreen"),
    ),
}
