"""Import other looms' files into a :class:`Session` (auto-detected by ``load_session``).

One module per format (:mod:`.loom` and :mod:`.loom_shapes`, :mod:`.logitloom`, :mod:`.exoloom`,
:mod:`.miniloom`, :mod:`.mikupad` and :mod:`.mikupad_db`, :mod:`.obsidian`, :mod:`.wool`,
:mod:`.tinyloom`, :mod:`.basemode`, :mod:`.bonsai`; :mod:`._flat` builds the flat-map formats'
trees and :mod:`._patches` applies diff-match-patch patches) and :mod:`.registry`, which
lists them in detection order; :mod:`.tapestry` refuses a binary
format loomtui cannot read. Every walk is iterative: deep trees never hit the recursion limit.
Imported nodes have origin ``"import"`` unless the format records who wrote each part.
Secrets other tools keep in their files (API keys, endpoint URLs) are never read.
"""

from .logitloom import import_logitloom
from .loom import import_loom
from .mikupad import import_mikupad
from .obsidian import import_obsidian
from .registry import (
    FORMATS,
    LINES_FORMAT,
    Format,
    detect_format,
    format_names,
    import_foreign,
    import_raw,
)
from .tapestry import TAPESTRY_MAGIC, is_tapestry, refuse_binary

__all__ = [
    "FORMATS",
    "LINES_FORMAT",
    "TAPESTRY_MAGIC",
    "Format",
    "detect_format",
    "format_names",
    "import_foreign",
    "import_raw",
    "import_logitloom",
    "import_loom",
    "import_mikupad",
    "import_obsidian",
    "is_tapestry",
    "refuse_binary",
]
