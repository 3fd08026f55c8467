"""The walls are a CI rule: import-linter's contracts (pyproject) hold, they fail on a
deliberate upward import, and each headless package imports no UI library (nor the user's
config) when every one of its modules is imported in a fresh interpreter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

HYGIENE = """
import importlib, pkgutil, sys
pkg = importlib.import_module({pkg!r})
names = [m.name for m in pkgutil.walk_packages(pkg.__path__, {pkg!r} + ".")] if hasattr(pkg, "__path__") else []
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {banned!r} or m == "loomtui.config")
print(len(names), bad)
sys.exit(1 if bad else 0)
"""


@pytest.mark.parametrize(
    ("pkg", "banned"),
    [
        ("loomtui.core", ("textual", "rich", "numpy", "torch")),
        # httpx itself imports rich; the backends' own imports of it are refused by lint-imports.
        ("loomtui.backends", ("textual",)),
        ("loomtui.engine", ("textual", "rich")),
        ("loomtui.instruments", ("textual", "rich", "torch")),
        ("loomtui.render", ("textual",)),
    ],
)
def test_headless_packages_import_no_ui_and_no_config(pkg: str, banned: tuple[str, ...]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HYGIENE.format(pkg=pkg, banned=banned)],
        capture_output=True, text=True, cwd=REPO, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is missing: it is a test dependency (import-linter)")
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(root), "HOME": str(root)}
    return subprocess.run([lint, "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def copy_of_package(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(REPO / "loomtui", root / "loomtui",
                    ignore=shutil.ignore_patterns("__pycache__", "*.gguf", "data"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("core/tree.py", "from ..engine import Engine  # upward\n"),
        ("backends/base.py", "def f():\n    from ..instruments import probe  # lazy\n"),
        ("engine.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .ui.app import LoomApp\n"),
        ("instruments/probe.py", "from ..config import load_config\n"),
        ("core/metrics.py", "import rich\n"),
    ],
)
def test_contracts_hold_and_catch_an_upward_import(copy_of_package: Path, module: str, line: str) -> None:
    ok = _lint(copy_of_package)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    target = copy_of_package / "loomtui" / module
    original = target.read_text()
    try:
        target.write_text(original + "\n" + line)
        broken = _lint(copy_of_package)
    finally:
        target.write_text(original)
    assert broken.returncode != 0, broken.stdout[-3000:]
    assert "BROKEN" in broken.stdout or "broken" in broken.stdout.lower()


def test_no_import_cycles_anywhere_in_the_package() -> None:
    """No module imports one that (directly or not) imports it back: each room stands alone.
    Lazy and type-only imports count too (grimp sees every import statement)."""
    import grimp

    graph = grimp.build_graph("loomtui")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in graph.modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []
