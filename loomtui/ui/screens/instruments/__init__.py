"""The instruments' screens, one module each: block multiverse, distribution probe, model
diff, attractor sweep, replay and entropy strip, each opened from the cursor.

The app imports :data:`INSTRUMENTS` and adds a binding and a palette command per entry; a
spec's ``factory`` builds the screen from :class:`InstrumentInputs` (the engine, the cursor
point and a few callbacks), never from the app.
"""

from __future__ import annotations

from ...widgets.instr_multiverse import MultiverseBlocks
from .base import InstrumentInputs, InstrumentScreen, InstrumentSpec, ResultView
from .compare import CompareScreen
from .entropy import EntropyScreen
from .multiverse import MultiverseScreen
from .probe import ProbeScreen
from .replay import ReplayScreen
from .sweep import SweepScreen

__all__ = [
    "INSTRUMENTS",
    "CompareScreen",
    "EntropyScreen",
    "InstrumentInputs",
    "InstrumentScreen",
    "InstrumentSpec",
    "MultiverseBlocks",
    "MultiverseScreen",
    "ProbeScreen",
    "ReplayScreen",
    "ResultView",
    "SweepScreen",
]

INSTRUMENTS: dict[str, InstrumentSpec] = {
    "multiverse": InstrumentSpec(
        "v",
        "Block multiverse",
        "top-k futures to depth 3 as blocks sized by probability",
        MultiverseScreen,
    ),
    "probe": InstrumentSpec(
        "p", "Distribution probe", "score a set of answers (e.g. 1-10) exactly", ProbeScreen
    ),
    "compare": InstrumentSpec(
        "d", "Model diff", "score this branch under a second model", CompareScreen
    ),
    "sweep": InstrumentSpec(
        "w",
        "Attractor sweep",
        "swap this token for its alternatives, continue greedily",
        SweepScreen,
    ),
    "replay": InstrumentSpec(
        "R",
        "Replay with another model",
        "re-run every generation point with another model",
        ReplayScreen,
    ),
    "entropy": InstrumentSpec(
        "u",
        "Entropy strip",
        "entropy along the branch; jump to the most uncertain tokens",
        EntropyScreen,
    ),
}
