"""Generation settings, saved as named presets in the config file."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from ...backends.base import GenerationSettings
from ...config import save_config
from ...core.errors import LoomError

#: (field, label, type) of the numeric fields
FIELDS: list[tuple[str, str, type]] = [
    ("temperature", "temperature (0 = greedy)", float),
    ("top_p", "top-p", float),
    ("top_k", "top-k sampling (0 = off)", int),
    ("max_tokens", "max tokens", int),
    ("n", "continuations (n)", int),
    ("logprobs_k", "alternatives stored per token (top-k)", int),
    ("seed", "seed (empty = random)", int),
]


def settings_from_form(values: dict[str, str], chat: bool) -> GenerationSettings:
    """Parse the form; a bad field raises ValueError naming it."""
    out: dict[str, object] = {"chat": chat}
    for name, label, kind in FIELDS:
        raw = values.get(name, "").strip()
        if name == "seed" and not raw:
            out[name] = None
            continue
        try:
            out[name] = kind(raw)
        except ValueError:
            raise ValueError(f"{label}: not a number: {raw!r}") from None
    s = GenerationSettings.from_dict(out)
    if s.n < 1 or s.max_tokens < 1 or s.temperature < 0 or not 0 < s.top_p <= 1:
        raise ValueError("need n >= 1, max tokens >= 1, temperature >= 0, 0 < top-p <= 1")
    return s


class SettingsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > VerticalScroll { width: 64; max-width: 100%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1; }
    SettingsScreen Input { height: 3; }
    SettingsScreen Horizontal { height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        s = self.app.settings  # type: ignore[attr-defined]
        scroll = VerticalScroll()
        scroll.border_title = "generation settings"
        with scroll:
            for name, label, _ in FIELDS:
                value = getattr(s, name)
                yield Label(label)
                yield Input("" if value is None else str(value), id=f"set-{name}")
            yield Checkbox("chat mode (use the chat template)", s.chat, id="set-chat")
            yield Checkbox(
                "after picking a top-k alternative, continue generating",
                self.app.auto_continue,  # type: ignore[attr-defined]
                id="set-continue",
            )
            yield Label("preset name")
            ui = self.app.config_data.get("ui", {})  # type: ignore[attr-defined]
            yield Input(str(ui.get("preset", "default")), id="set-preset")
            with Horizontal():
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Save preset", id="save")
                yield Button("Cancel", id="cancel")

    def _read(self) -> GenerationSettings:
        values = {name: self.query_one(f"#set-{name}", Input).value for name, _, _ in FIELDS}
        return settings_from_form(values, self.query_one("#set-chat", Checkbox).value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app = self.app
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        try:
            settings = self._read()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        app.settings = settings  # type: ignore[attr-defined]
        app.auto_continue = self.query_one("#set-continue", Checkbox).value  # type: ignore[attr-defined]
        if event.button.id == "save":
            name = self.query_one("#set-preset", Input).value.strip() or "default"
            config = app.config_data  # type: ignore[attr-defined]
            config.setdefault("presets", {})[name] = {
                k: v for k, v in settings.to_dict().items() if v is not None
            }
            ui = config.setdefault("ui", {})
            ui["preset"] = name
            ui["auto_continue"] = app.auto_continue  # type: ignore[attr-defined]
            try:
                path = save_config(config)
            except (LoomError, OSError) as exc:
                self.notify(f"could not save config: {exc}", severity="error")
                return
            self.notify(f"preset {name!r} saved to {path}", timeout=3)
        app.refresh_status()  # type: ignore[attr-defined]
        self.dismiss(None)
