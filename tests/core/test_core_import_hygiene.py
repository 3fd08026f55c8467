"""loomtui.core stays headless and light: importing every module pulls in neither textual nor
rich, nor numpy (imported only when a big session is saved or loaded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, pkgutil, sys
import loomtui.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "loomtui.core.")]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich", "numpy"))
print(len(names), bad)
sys.exit(1 if bad or len(names) < 5 else 0)
"""


def test_core_imports_neither_textual_nor_rich() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sessionfile" not in proc.stdout  # prints just a count and the offending list
