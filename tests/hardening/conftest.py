"""Shared helpers for the hardening tests: the scripted hostile backend (from crash_driver)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # for hardening_hostile (unique name: tests share sys.path)

from hardening_hostile import hostile_session  # noqa: E402

DRIVER = HERE / "crash_driver.py"


def _load_driver():
    name = "loomtui_hardening_crash_driver"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DRIVER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def driver():
    """The crash driver module: ``ScriptedBackend``, ``HOSTILE``, ``piece``."""
    return _load_driver()


@pytest.fixture
def hostile():
    """A fresh session full of hostile text (see hardening_hostile.py)."""
    return hostile_session()
