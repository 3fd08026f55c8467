"""The command palette (ctrl+p) offers every action, listed once here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from textual.app import App, SystemCommand

#: (title, help, action string) for every action the app has.
ACTIONS: list[tuple[str, str, str]] = [
    ("Generate", "Generate from the token cursor (ctrl+g)", "generate"),
    ("Cancel generation", "Stop generating; the partial text is kept (escape)", "cancel"),
    ("Top-k menu", "Alternatives at the token cursor; pick one to branch (ctrl+k)", "topk"),
    ("Edit text", "Edit the branch; the edit becomes a new sibling (e)", "edit"),
    ("Score text", "Score the plain text on this branch with the model (c)", "score"),
    ("Previous sibling", "Move to the previous alternate at the branch point ([)", "sibling(-1)"),
    ("Next sibling", "Move to the next alternate at the branch point (])", "sibling(1)"),
    ("Parent", "Move to the parent node (<)", "parent"),
    ("Child", "Move to the newest child node (>)", "child"),
    ("Bookmark", "Toggle a bookmark on the node under the cursor (b)", "bookmark"),
    ("Label", "Label the node under the cursor (l)", "label"),
    ("Save", "Save the session now (ctrl+s; autosave runs after every change)", "save"),
    ("Export", "Export the current branch or every leaf to a file (x)", "export"),
    ("Settings", "Generation settings and presets (s)", "settings"),
    ("Toggle panels", "Show or hide the branch and tree panels (f2)", "toggle_side"),
    (
        "Scale: logprob/probability",
        "Colour by surprisal or by linear probability (m)",
        "toggle_scale",
    ),
    ("Next colour theme", "Cycle green-red, cividis, viridis, mono (t)", "next_theme"),
    ("Help", "Every key binding (f1)", "help"),
    ("Quit", "Save and quit (ctrl+q)", "quit"),
]


def loom_commands(app: App[Any], instruments: Mapping[str, Any]) -> Iterator[SystemCommand]:
    """SystemCommands for every action, and one per plugged-in instrument (``instruments``:
    name -> spec with a ``title``)."""
    for title, help_text, action in ACTIONS:
        yield SystemCommand(title, help_text, partial(app.run_action, action))
    for name, spec in instruments.items():
        yield SystemCommand(
            f"Instrument: {spec.title}",
            spec.description or f"open the {name} instrument",
            partial(app.run_action, f"instrument('{name}')"),
        )
