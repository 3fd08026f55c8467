"""The command palette (ctrl+p): a command per declared key, generated from the bindings'
declarations (:mod:`loomtui.ui.keys`) and the active keymap, so a rebound key shows as
rebound."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, Protocol

from textual.app import SystemCommand

from .keys import Key


class PaletteHost(Protocol):
    """What the palette needs from the app."""

    def declared_keys(self) -> list[Key]: ...

    def keys_of(self, binding_id: str) -> str: ...

    def run_action(self, action: str) -> Any: ...


def loom_commands(app: PaletteHost) -> Iterator[SystemCommand]:
    """A SystemCommand for every action the palette offers (instruments included), its help
    ending in the key that does it now: "Generate from the token cursor (ctrl+r)"."""
    for key in app.declared_keys():
        if key.palette:
            help_text = f"{key.help} ({app.keys_of(key.id)})"
            yield SystemCommand(key.name, help_text, partial(app.run_action, key.action))
