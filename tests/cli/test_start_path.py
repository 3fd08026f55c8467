"""What the program's start imports: `loomtui` with no arguments (a new session, the default
model loading in the background) reaches its first frame without paying for what it does not
use yet. Proven in a fresh interpreter, as the cold start benchmark launches it
(benchmarks/startup_measures.py; the time itself is measured there, never in a test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from loomtui.cli import app_cmd, main
from loomtui.ui.app import make_app

apps = []
app_cmd.launch_app = lambda **kw: apps.append(make_app(**kw)) or 0  # built, never run
assert main(sys.argv[1:]) == 0 and apps[0].new_session
print(sorted(m for m in sys.modules if m.split(".")[0] in {NEVER} or m in {NEVER_MODULES}))
"""

#: Packages a new session's start must not import: the model code (loaded later, in a
#: worker), numpy (the probe's), the instrument screens (imported on first open).
NEVER = {"torch", "transformers", "numpy", "tokenizers"}
#: Modules it must not import: other looms' importers (no file is read), pydantic's plugin
#: scan (it runs when a validator is built; nothing configured is nothing to validate).
NEVER_MODULES = {
    "loomtui.core.importers",
    "loomtui.ui.screens.instruments.probe",
    "pydantic.plugin._loader",
}


def test_a_new_sessions_start_imports_only_what_its_first_frame_needs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LOOMTUI_")}
    env |= {"LOOMTUI_CONFIG": str(tmp_path / "none.toml"), "LOOMTUI_DATA_DIR": str(tmp_path)}
    script = SCRIPT.replace("{NEVER}", repr(NEVER)).replace(
        "{NEVER_MODULES}", repr(NEVER_MODULES)
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
