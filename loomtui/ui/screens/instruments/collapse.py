"""The mode-collapse screen: the branch up to the cursor given to this model (A) and a
second one (B), side by side: next-token entropy, the answer distributions, samples at
several temperatures (kept as branches, marked by model), the matching temperature and
the greedy entropy traces. The numbers are :func:`loomtui.instruments.collapse.collapse`'s,
drawn by :func:`loomtui.render.collapse.collapse_report`, as ``loomtui collapse`` prints them.
"""

from __future__ import annotations

import threading

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input

from ....backends.base import Backend
from ....instruments import collapse as col
from ....instruments import probe
from ....instruments.progress import Progress, check
from ....render.collapse import collapse_report
from .base import InstrumentInputs, InstrumentScreen


class CollapseScreen(InstrumentScreen):
    TITLE_TEXT = "Mode collapse: this point under this model (A) and a second one (B)"
    HINT_TEXT = (
        "B: a hub id, a folder, a .gguf (empty: the default); answers '1-20' or 'a,b,c' "
        "(optional); enter runs; every sample stays as a branch; esc cancels or closes"
    )
    DEFAULT_CSS = """
    CollapseScreen #inputs { height: 3; }
    CollapseScreen #model_b { width: 1fr; }
    CollapseScreen #answers { width: 16; }
    CollapseScreen #samples { width: 22; }
    CollapseScreen #chat_b { width: auto; }
    """

    def __init__(
        self,
        inputs: InstrumentInputs,
        other: Backend | None = None,
        n: int = 8,
        temperatures: tuple[float, ...] = (0.7, 1.0, 1.5),
        max_tokens: int = 16,
    ) -> None:
        super().__init__(inputs)
        self.other = other
        self.n, self.temperatures, self.max_tokens = n, temperatures, max_tokens

    def compose_inputs(self) -> ComposeResult:
        with Horizontal(id="inputs"):
            yield Input(placeholder="model B; enter", id="model_b")
            yield Input(value="1-10", placeholder="answers", id="answers")
            temps = ",".join(f"{t:g}" for t in self.temperatures)
            yield Input(value=f"{self.n} @ {temps}", placeholder="n @ T,T", id="samples")
            yield Checkbox("B chat", value=False, id="chat_b")

    def begin(self) -> None:
        if self.other is not None:
            self.run_collapse()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.run_collapse(self.query_one("#model_b", Input).value.strip())

    def answers(self) -> tuple[list[str] | None, str]:
        raw = self.query_one("#answers", Input).value.strip()
        if not raw:
            return None, probe.RULE_NONE
        lo, sep, hi = raw.partition("-")
        if sep and lo.strip().isdigit() and hi.strip().isdigit():
            return probe.range_candidates(int(lo), int(hi), " {n}"), probe.RULE_DIGIT
        return [a for a in raw.split(",") if a], probe.RULE_NONE

    def samples(self) -> tuple[int, list[float]]:
        raw = self.query_one("#samples", Input).value
        n_text, _, temps_text = raw.partition("@")
        n = int(n_text.strip())
        temps = [float(t) for t in temps_text.split(",") if t.strip()] or [1.0]
        if n < 1 or any(not t > 0 for t in temps):
            raise ValueError("samples: 'n @ T,T' with n ≥ 1 and every T above 0")
        return n, temps

    def run_collapse(self, spec: str | None = None) -> None:
        if self.backend is None:
            self.set_status("no model attached: start loomtui with --model or --api-base")
            return
        try:
            answers, rule = self.answers()
            n, temps = self.samples()
        except ValueError as exc:
            self.set_status(str(exc))
            return
        engine, other, open_model = self.engine, self.other, self.inputs.open_model
        chat_b = self.query_one("#chat_b", Checkbox).value
        node_id, offset = self.after
        max_tokens = self.max_tokens

        def work(progress: Progress, cancel: threading.Event) -> col.CollapseResult:
            b = other if other is not None else open_model(spec or "")
            check(cancel)  # Escape while the second model was opening
            node = engine.session.node(node_id)
            head = engine.split(node_id, len(node) if offset is None else offset)
            return col.collapse(
                engine,
                b,
                [head.id],
                chat=(False, chat_b),
                answers=answers,
                rule=rule,
                n=n,
                temperatures=temps,
                max_tokens=max_tokens,
                progress=progress,
                cancel=cancel,
            )

        self.start(work, "measuring both models", unit="step")

    def show_result(self, result: col.CollapseResult) -> None:
        # As wide as the result area (80 columns give ~76): nothing drawn past its edge.
        width = max(60, self.query_one("#body").size.width - 2)
        self.show(collapse_report(result, width=width))
        kept = sum(len(s.node_ids) for p in result.prompts for m in p.by_model for s in m.samples)
        self.set_status(f"{kept} samples and 2 greedy continuations kept as branches")
        self.inputs.tree_changed()
        self.query_one("#body").focus()

    def cancelled(self) -> None:
        self.inputs.tree_changed()  # the run took back its branches: show the tree as it is
