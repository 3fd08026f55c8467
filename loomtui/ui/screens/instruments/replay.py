"""The replay screen: every generation point of the session re-run with another model,
the new branches beside their originals."""

from __future__ import annotations

import threading

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input

from ....backends.base import Backend
from ....instruments import replay
from ....instruments.progress import Progress, check
from .base import InstrumentInputs, InstrumentScreen


class ReplayScreen(InstrumentScreen):
    TITLE_TEXT = "Replay: every generation point re-run with another model"
    HINT_TEXT = "the new branches sit beside the originals; enter runs; esc cancels or closes"

    def __init__(self, inputs: InstrumentInputs, other: Backend | None = None) -> None:
        super().__init__(inputs)
        self.other = other

    def compose_inputs(self) -> ComposeResult:
        yield Input(placeholder="model to replay with (hub id, folder, .gguf); enter", id="model_r")

    def begin(self) -> None:
        points = replay.generation_points(self.session)
        self.show(Text(f"{len(points)} generation points in this session"))
        if self.other is not None:
            self.run_replay()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.other = None
        self.run_replay(event.value.strip())

    def run_replay(self, spec: str | None = None) -> None:
        session, other, open_model = self.session, self.other, self.inputs.open_model

        def work(progress: Progress, cancel: threading.Event) -> replay.ReplayResult:
            b = other if other is not None else open_model(spec or "")
            # On a copy: the worker computes, the tree is changed on the app's thread.
            check(cancel)  # Escape while the model was opening
            return replay.replay(session, b, progress=progress, cancel=cancel)

        # Needs only the other model, not the app's.
        first = "" if other is not None else f"opening {spec or 'the default model'}"
        self.start(work, "replaying", unit="generation point", first=first, needs_backend=False)

    def show_result(self, result: replay.ReplayResult) -> None:
        lines = Text(
            f"replayed {result.points} generation points; new nodes sit beside "
            "their originals (meta replay_of)\n"
        )
        for err in result.errors:
            lines.append("error: ", style="red")
            lines.append(f"{err}\n", style="red")
        self.show(lines)
        self.set_status("")
        grown = [nid for _, new in result.pairs for nid in new]
        self.engine.graft(result.session, grown)
        self.inputs.tree_changed()
