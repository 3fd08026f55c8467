"""Generation settings: applied to this session (kept in its file, restored when it is
reopened) and, with "Save preset", saved as a named preset in the config file. The list of
other models a generation spreads over applies to this run of the app (``[model] also`` in the
config is where a lasting list lives)."""

from __future__ import annotations

from pydantic import ValidationError
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from ...backends.base import GenerationSettings
from ...config import GenerationConfig, UIConfig, save_preset
from ...core.errors import LoomError
from ..models import parse_entries

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


def settings_from_form(
    values: dict[str, str], chat: bool, base: GenerationSettings | None = None
) -> GenerationSettings:
    """Parse the form over ``base`` (the fields the form does not show, such as stop texts,
    are kept); a bad field raises ValueError naming it. The rules are the config's own."""
    out: dict[str, object] = {**(base or GenerationSettings()).to_dict(), "chat": chat}
    labels = {name: label for name, label, _ in FIELDS}
    for name, label, kind in FIELDS:
        raw = values.get(name, "").strip()
        if name == "seed" and not raw:
            out[name] = None
            continue
        try:
            out[name] = kind(raw)
        except ValueError:
            raise ValueError(f"{label}: not a number: {raw!r}") from None
    try:
        return GenerationConfig.model_validate(out).settings()
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        field = str(err["loc"][0]) if err.get("loc") else ""
        raise ValueError(f"{labels.get(field, field)}: {err['msg']}") from None


class SettingsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > VerticalScroll { width: 64; max-width: 100%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1; }
    SettingsScreen Input { height: 3; }
    SettingsScreen Label { width: 100%; }
    SettingsScreen Checkbox { width: 100%; height: auto; }
    SettingsScreen Horizontal { height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        s = self.app.settings  # type: ignore[attr-defined]
        scroll = VerticalScroll()
        scroll.border_title = "generation settings: enter applies, esc closes"
        with scroll:
            for name, label, _ in FIELDS:
                value = getattr(s, name)
                yield Label(label)
                yield Input("" if value is None else str(value), id=f"set-{name}")
            yield Checkbox("chat mode (use the chat template)", s.chat, id="set-chat")
            yield Checkbox(
                "continue generating after a top-k pick",
                self.app.auto_continue,  # type: ignore[attr-defined]
                id="set-continue",
            )
            yield Label("other models too (comma-separated; n is dealt over all)")
            also = ", ".join(self.app.models.entries)  # type: ignore[attr-defined]
            yield Input(
                also, placeholder="e.g. m.gguf, profile:gpu, local:default", id="set-models"
            )
            yield Label("preset name")
            preset = self.app.config.ui.preset  # type: ignore[attr-defined]
            yield Input(preset or "default", id="set-preset")
            with Horizontal():
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Save preset", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#set-{FIELDS[0][0]}", Input).focus()  # typing works at once

    def _read(self) -> GenerationSettings:
        values = {name: self.query_one(f"#set-{name}", Input).value for name, _, _ in FIELDS}
        chat = self.query_one("#set-chat", Checkbox).value
        return settings_from_form(values, chat, self.app.settings)  # type: ignore[attr-defined]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in any field applies, as the Apply button does (no Tab to reach it).
        self.apply(save=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        self.apply(save=event.button.id == "save")

    def apply(self, save: bool) -> None:
        """Apply the form to this session (kept in its file); with ``save``, as a preset."""
        app = self.app
        try:
            settings = self._read()
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        app.settings = settings  # type: ignore[attr-defined]
        auto_continue = self.query_one("#set-continue", Checkbox).value
        app.auto_continue = auto_continue  # type: ignore[attr-defined]
        models = parse_entries(self.query_one("#set-models", Input).value)
        app.models.set_entries(models)  # type: ignore[attr-defined]
        # Kept with the session, so reopening it brings these back (over the config's).
        app.session.choose_settings(settings.to_dict())  # type: ignore[attr-defined]
        app.engine.save()  # type: ignore[attr-defined]
        if save:
            name = self.query_one("#set-preset", Input).value.strip() or "default"
            try:
                # From the file's own content: command-line flags never reach it.
                path = save_preset(name, settings, auto_continue=auto_continue)
            except (LoomError, OSError) as exc:
                self.notify(f"could not save config: {exc}", severity="error", markup=False)
                return
            config = app.config  # type: ignore[attr-defined]
            ui = UIConfig.model_validate(
                config.ui.model_dump() | {"preset": name, "auto_continue": auto_continue}
            )
            app.config = config.model_copy(  # type: ignore[attr-defined]
                update={
                    "presets": {**config.presets, name: GenerationConfig.of(settings)},
                    "ui": ui,
                }
            )
            self.notify(f"preset {name!r} saved to {path}", timeout=3, markup=False)
        app.refresh_status()  # type: ignore[attr-defined]
        self.dismiss(None)
