"""Shared fixtures for the hardening tests: the scripted hostile backend and hostile text
(both in :mod:`loomtests`)."""

from __future__ import annotations

import pytest
from loomtests import crash_driver
from loomtests.hostile import hostile_session


@pytest.fixture(scope="session")
def driver():
    """The crash driver module: ``ScriptedBackend``, ``HOSTILE``, ``piece``."""
    return crash_driver


@pytest.fixture
def hostile():
    """A fresh session full of hostile text (see loomtests/hostile.py)."""
    return hostile_session()
