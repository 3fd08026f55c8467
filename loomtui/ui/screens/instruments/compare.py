"""The model diff screen: this branch scored under a second model, token by token. Opened on
a node that has a sibling from another model (several models in one generate), it shows the
two siblings first, word by word in their models' colours."""

from __future__ import annotations

import threading

from textual.app import ComposeResult
from textual.widgets import Input

from ....backends.base import Backend
from ....instruments import compare
from ....instruments.progress import Progress, check
from ....render.instruments import diff_text
from ....render.models import ModelColours, other_model_siblings, session_models, sibling_diff
from ...widgets.branches import chain
from .base import InstrumentInputs, InstrumentScreen


class CompareScreen(InstrumentScreen):
    TITLE_TEXT = "Model diff: this branch under a second model"
    HINT_TEXT = "green: B likes it more, red: less; enter scores; esc cancels or closes"

    def __init__(self, inputs: InstrumentInputs, other: Backend | None = None) -> None:
        super().__init__(inputs)
        self.other = other

    def compose_inputs(self) -> ComposeResult:
        yield Input(placeholder="second model (a hub id, a folder, a .gguf); enter", id="model_b")

    def begin(self) -> None:
        if self.other is not None:
            self.run_compare()
            return
        found = other_model_siblings(self.session, self.inputs.point[0])
        if found is None:
            return
        node_id, others = found
        if len(others) == 1:
            self.show_siblings(node_id, others[0])
            return
        # Several siblings from other models: the person picks the one to diff against.
        from ...screens.pick_sibling import SiblingPickScreen

        def picked(other: str | None) -> None:
            if other is not None and other in self.session and node_id in self.session:
                self.show_siblings(node_id, other)

        self.app.push_screen(SiblingPickScreen(self.session, node_id, others), picked)

    def show_siblings(self, a_id: str, b_id: str) -> None:
        """Two siblings of different models (and what each goes on to), diffed by word."""
        session, sides = self.session, []
        for nid in (a_id, b_id):
            nodes = chain(session, session.node(nid))
            text = b"".join(n.data for n in nodes).decode("utf-8", "replace")
            logprobs = [t.logprob for n in nodes for t in (n.tokens or ())]
            sides.append((session.node(nid).model or "?", text, logprobs))
        self.show(sibling_diff(sides, ModelColours(session_models(session))))
        self.set_status("this node beside a sibling from another model; enter: score under B")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.other = None
        self.run_compare(event.value.strip())

    def run_compare(self, spec: str | None = None) -> None:
        backend, other, open_model = self.backend, self.other, self.inputs.open_model
        session, node_id = self.session, self.session.current_id

        def work(progress: Progress, cancel: threading.Event) -> compare.Comparison:
            b = other if other is not None else open_model(spec or "")
            check(cancel)  # Escape while the second model was opening
            return compare.compare_branch(
                session,
                node_id,
                backend,  # type: ignore[arg-type]
                b,
                progress=progress,
                cancel=cancel,
            )

        first = "" if other is not None else f"opening {spec or 'the default model'}"
        self.start(work, "scoring under both models", unit="pass", first=first)

    def show_result(self, result: compare.Comparison) -> None:
        self.show(diff_text(result))
        self.set_status(f"{len(result.segments)} segments")
        self.query_one("#body").focus()
