"""The data ships inside the package: a wheel carries every theme, the schema, the CSS and
the examples, and a copy installed outside the checkout starts, shows with every theme and
opens an example read-only."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from loomtui.cli import main
from loomtui.core import resources
from loomtui.core.scale import list_themes, load_theme
from loomtui.core.store import ReadOnlyError, SessionStore

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "loomtui"


def test_top_level_folders_agree_with_the_package() -> None:
    for top, packaged in (("themes", resources.themes_dir()), ("sessions", resources.examples_dir())):
        mine = {p.name: p.read_bytes() for p in (REPO / top).iterdir() if p.is_file()}
        theirs = {p.name: p.read_bytes() for p in packaged.iterdir() if p.is_file()}
        assert mine and mine == theirs, top


def test_every_theme_and_example_is_found_through_the_package() -> None:
    assert {"green-red", "cividis", "viridis", "mono"} <= set(list_themes())
    for name in list_themes():
        assert load_theme(name).stops
    assert {"are-bugs-real", "random-number"} <= set(resources.list_examples())


def _tree_snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_opening_an_example_writes_nothing_beside_it(capsys) -> None:
    folder = resources.examples_dir()
    before = _tree_snapshot(folder)
    for name in resources.list_examples():
        path = resources.example_path(name)
        store = SessionStore.open(path)  # not asked read-only: an example always is
        try:
            assert store.readonly and store.example
            store.autosave()  # what every change calls: writes nothing here
            with pytest.raises(ReadOnlyError):
                store.save()
        finally:
            store.close()
        # through the checkout's link too
        store = SessionStore.open(REPO / "sessions" / f"{name}.json")
        assert store.readonly
        store.close()
    assert _tree_snapshot(folder) == before
    assert main(["examples", "--json"]) == 0
    assert "are-bugs-real" in capsys.readouterr().out


def test_unknown_example_is_one_line(capsys) -> None:
    assert main(["--example", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no example session 'nope'" in err


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (found,) = out.glob("loomtui-*.whl")
    return found


def test_wheel_carries_every_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [p.relative_to(REPO).as_posix() for p in PKG.rglob("*")
              if p.is_file() and p.suffix in (".toml", ".json", ".tcss", ".md")
              and "__pycache__" not in p.parts]
    assert any(w.endswith("session.schema.json") for w in wanted)
    assert any(w.endswith(".tcss") for w in wanted)
    assert len([w for w in wanted if "/data/themes/" in w]) >= 4
    assert len([w for w in wanted if "/data/examples/" in w]) >= 2
    missing = [w for w in wanted if w not in names]
    assert not missing


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    # -S: no site processing, so the checkout's editable install is not on the path;
    # the dependencies come from this interpreter's site-packages, after the target.
    path = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"],
                            sysconfig.get_paths()["platlib"]])
    env = dict(os.environ, PYTHONPATH=path)
    work = tmp_path / "elsewhere"
    work.mkdir()

    def loomtui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", "-m", "loomtui", *args], cwd=work,
                              env=env, capture_output=True, text=True, timeout=120)

    where = subprocess.run([sys.executable, "-S", "-c", "import loomtui; print(loomtui.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(target))
    assert loomtui("--version").returncode == 0
    listed = loomtui("examples", "--json")
    assert listed.returncode == 0, listed.stderr
    import json

    examples = json.loads(listed.stdout)
    assert examples and all(p.startswith(str(target)) for p in examples.values())
    before = _tree_snapshot(target)
    for theme in list_themes():
        shown = loomtui("show", examples["are-bugs-real"], "--theme", theme)
        assert shown.returncode == 0, (theme, shown.stderr)
        assert shown.stdout.strip()
    info = loomtui("info", examples["random-number"])
    assert info.returncode == 0, info.stderr
    assert _tree_snapshot(target) == before  # nothing written beside the installed files
