"""The defaults of ``[ui]`` and ``[model]``, declared once, without pydantic: the declaration
(:mod:`loomtui.config.model`) takes its defaults from here, and so does
:class:`loomtui.config.Unconfigured` (the config when nothing is configured).
``[generation]``'s are :class:`~loomtui.backends.base.GenerationSettings`'s own."""

from __future__ import annotations

from typing import Any

from ..core.scale import DEFAULT_THEME

UI_DEFAULTS: dict[str, Any] = {
    "theme": DEFAULT_THEME,
    "scale": None,
    "color_by": "raw",
    "preset": None,
    "auto_continue": True,
}
MODEL_DEFAULTS: dict[str, Any] = {"engine": "torch", "also": []}
