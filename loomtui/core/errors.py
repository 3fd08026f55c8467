"""Errors with one-line messages meant for users (the CLI prints them and exits 2)."""

from __future__ import annotations


class LoomError(Exception):
    """Base for failures a user should see as one clear line, never a traceback."""


class SessionFileError(LoomError):
    """A session file that cannot be read: missing, not JSON, wrong shape, too new..."""


class SessionLockedError(LoomError):
    """Another loomtui process holds the session."""
