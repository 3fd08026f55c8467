"""The distribution probe screen: how the model spreads its probability over a set of
answers at the point (and, optionally, after a second prompt side by side)."""

from __future__ import annotations

import threading

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input

from ....instruments import probe
from ....instruments.progress import Progress
from ....render.instruments import probe_table
from .base import InstrumentScreen, context_before

Outcome = tuple[list[probe.ProbeResult], list[str]]


class ProbeScreen(InstrumentScreen):
    TITLE_TEXT = "Distribution probe: P(answer) at this point"
    HINT_TEXT = "answers '1-100' (a range) or 'a,b,c'; enter runs; esc cancels or closes"
    DEFAULT_CSS = """
    ProbeScreen #inputs { height: 3; }
    ProbeScreen #answers { width: 22; }
    ProbeScreen #prompt2 { width: 1fr; }
    """
    focus_result = False  # whether a finished run moves the focus to its result

    def compose_inputs(self) -> ComposeResult:
        with Horizontal(id="inputs"):
            yield Input(value="1-10", placeholder="answers", id="answers")
            yield Input(value="", placeholder="second prompt (optional)", id="prompt2")

    def begin(self) -> None:
        self.run_probe()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Asked for from the keyboard: the result gets the focus, so End/PageDown scroll it.
        self.run_probe(focus_result=True)

    def answers(self) -> tuple[list[str], str]:
        raw = self.query_one("#answers", Input).value.strip()
        lo, sep, hi = raw.partition("-")
        if sep and lo.strip().isdigit() and hi.strip().isdigit():
            return probe.range_candidates(int(lo), int(hi), " {n}"), probe.RULE_DIGIT
        return [a for a in raw.split(",") if a], probe.RULE_NONE

    def run_probe(self, focus_result: bool = False) -> None:
        if self.backend is None:
            self.set_status("no model attached")
            return
        backend = self.backend
        try:
            answers, rule = self.answers()
        except ValueError as exc:
            self.set_status(str(exc))
            return
        node_id, offset = self.after
        ctx = context_before(self.session, backend, node_id, offset)
        second = self.query_one("#prompt2", Input).value
        self.focus_result = focus_result
        runs = [(ctx, "this branch")] + ([(second, "second prompt")] if second else [])
        total = len(answers) * len(runs)

        def work(progress: Progress, cancel: threading.Event) -> Outcome:
            results = []
            for i, (prompt, _) in enumerate(runs):
                base = i * len(answers)
                results.append(
                    probe.probe(
                        backend,
                        prompt,
                        answers,
                        rule,
                        progress=lambda done, _n, base=base: progress(base + done, total),
                        cancel=cancel,
                    )
                )
            return results, [title for _, title in runs]

        self.start(work, "scoring answers")

    def show_result(self, result: Outcome) -> None:
        results, titles = result
        self.show(probe_table(results, titles, bar_width=24 if len(results) == 1 else 8))
        self.set_status(
            f"{len(results[0].candidates)} answers, model {results[0].model}; "
            "PageDown/End: the summary"
        )
        if self.focus_result:
            self.query_one("#body").focus()
