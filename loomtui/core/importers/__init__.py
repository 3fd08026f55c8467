"""Import other looms' files into a :class:`Session` (auto-detected by ``load_session``).

One module per format (:mod:`.loom`, :mod:`.logitloom`, :mod:`.obsidian`, :mod:`.mikupad`)
and :mod:`.registry`, which lists them in detection order; :mod:`.tapestry` refuses a binary
format loomtui cannot read. Every walk is iterative: deep trees never hit the recursion limit.
Imported nodes have origin ``"import"`` unless the format records who wrote each part.
Secrets other tools keep in their files (API keys, endpoint URLs) are never read.
"""

from .logitloom import import_logitloom
from .loom import import_loom
from .mikupad import import_mikupad
from .obsidian import import_obsidian
from .registry import FORMATS, Format, detect_format, import_foreign
from .tapestry import TAPESTRY_MAGIC, is_tapestry, refuse_binary

__all__ = [
    "FORMATS",
    "TAPESTRY_MAGIC",
    "Format",
    "detect_format",
    "import_foreign",
    "import_logitloom",
    "import_loom",
    "import_mikupad",
    "import_obsidian",
    "is_tapestry",
    "refuse_binary",
]
