"""The instruments' screens: block multiverse, distribution probe, model diff, attractor
sweep and entropy strip, each opened from the cursor.

The app imports :data:`INSTRUMENTS` and adds a binding and a palette command per entry.
Screens read what they need from the app through a few attributes:

- ``app.session`` (the :class:`Session`) and ``app.engine`` (its :class:`Engine`, whose
  ``backend`` is the model, or None when the session is open for replay);
- ``app.cursor_point()`` -> ``(node_id, offset)`` when the app has it, else the token view's
  current unit (``app.view.current_unit()``), else the end of the current node;
- ``app.refresh_all()`` is called after an instrument adds branches.

Computations run in thread workers; a worker's result comes back through
``Worker.StateChanged`` and is drawn once, so the UI never waits on the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from ...backends.base import Backend, Context
from ...core.tree import Session
from ...engine import Engine, branch_context
from ...instruments import compare, entropy, multiverse, probe, replay, sweep
from ...render.instruments import diff_text, entropy_strip, probe_table, sweep_rows
from ..widgets.instr_multiverse import MultiverseBlocks


@dataclass(frozen=True)
class InstrumentSpec:
    """An instrument as the app sees it: a key, a title, a line of help, a screen factory."""

    key: str
    title: str
    description: str
    factory: Callable[[Any], Screen]


# ---------------------------------------------------------------------- app access
def app_point(app: Any) -> tuple[str, int | None]:
    """The point under the app's cursor: ``(node_id, offset)`` of the token there."""
    point = getattr(app, "cursor_point", None)
    if callable(point):
        return point()
    view = getattr(app, "view", None)
    unit = view.current_unit() if view is not None else None
    if unit is not None and unit.node_id in app.session:
        return unit.node_id, unit.offset
    return app.session.current_id, None


def app_point_after(app: Any) -> tuple[str, int | None]:
    """The point just after the unit under the cursor (where the app would generate)."""
    view = getattr(app, "view", None)
    unit = view.current_unit() if view is not None else None
    if unit is not None and unit.node_id in app.session:
        node = app.session.node(unit.node_id)
        return unit.node_id, None if unit.end >= len(node) else unit.end
    node_id, offset = app_point(app)
    if offset is None:
        return node_id, None
    node = app.session.node(node_id)
    return node_id, None if offset + 1 >= len(node) else offset + 1


def app_backend(app: Any) -> Backend | None:
    engine = getattr(app, "engine", None)
    if engine is not None:
        return engine.backend
    return getattr(app, "backend", None)


def app_engine(app: Any) -> Engine:
    engine = getattr(app, "engine", None)
    return engine if engine is not None else Engine(app.session, app_backend(app))


def _context_before(
    session: Session, backend: Backend, node_id: str, offset: int | None
) -> Context:
    """The context ending just before the point (at a token: that token excluded), read
    without splitting the tree."""
    node = session.node(node_id)
    if offset is None or offset >= len(node):
        return branch_context(session, node_id, backend, chat=False)
    parent = branch_context(session, node.parent, backend, chat=False) if node.parent else None
    before = b"".join(n.data for n in session.path(node_id)[:-1])
    if node.tokens is not None:
        head = node.tokens[:offset]
        text = (before + b"".join(t.bytes for t in head)).decode("utf-8", "replace")
        same_model = node.model == backend.info().name
        if parent is not None and parent.token_ids is not None and same_model:
            ids = list(parent.token_ids) + [t.token_id for t in head]
            if None not in ids:
                return Context(text=text, token_ids=ids)  # type: ignore[arg-type]
    else:
        text = before.decode("utf-8", "replace") + node.plain[:offset]
    return Context(text=text, token_ids=backend.tokenize(text))


class InstrumentScreen(ModalScreen[None]):
    """Shared frame: a title, a body, a status line, escape to close, one worker at a time."""

    DEFAULT_CSS = """
    InstrumentScreen { align: center middle; }
    InstrumentScreen > #frame { width: 96%; height: 92%; border: round $accent;
        background: $surface; padding: 0 1; }
    InstrumentScreen #title { height: 1; text-style: bold; }
    InstrumentScreen #status { height: 1; color: $text-muted; }
    InstrumentScreen #body { height: 1fr; }
    InstrumentScreen Input { height: 3; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    TITLE_TEXT = "instrument"

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.host = app
        self.backend = app_backend(app)
        self.point = app_point(app)  # at the unit under the cursor
        self.after = app_point_after(app)  # just after it

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="frame"):
            yield Static(Text(self.TITLE_TEXT), id="title")
            yield from self.compose_body()
            yield Static("", id="status")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="body")

    def set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text))

    def start(self, fn: Callable[[], Any], what: str) -> None:
        if self.backend is None:
            self.set_status("no model attached: start loomtui with --model or --api-base")
            return
        self.set_status(f"{what}…")
        self.run_worker(fn, thread=True, exclusive=True, group="instrument")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            self.show_result(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.set_status(f"failed: {event.worker.error}")

    def show_result(self, result: Any) -> None:
        raise NotImplementedError

    def tree_changed(self) -> None:
        refresh = getattr(self.host, "refresh_all", None)
        if callable(refresh):
            refresh()


# ---------------------------------------------------------------------- multiverse
class MultiverseScreen(InstrumentScreen):
    TITLE_TEXT = "Block multiverse — ↑↓ siblings, → child, ← parent, z zoom, x out, enter insert"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("up", "move(-1)", "Prev", show=False),
        Binding("down", "move(1)", "Next", show=False),
        Binding("right", "child", "Child", show=False),
        Binding("left", "parent", "Parent", show=False),
        Binding("z", "zoom_in", "Zoom in"),
        Binding("x", "zoom_out", "Zoom out"),
        Binding("enter", "insert", "Insert path"),
    ]

    def __init__(self, app: Any, depth: int = 3, top_k: int = 4) -> None:
        super().__init__(app)
        self.depth, self.top_k = depth, top_k
        self.mv: multiverse.Multiverse | None = None

    def compose_body(self) -> ComposeResult:
        yield MultiverseBlocks(id="blocks")

    def on_mount(self) -> None:
        if self.backend is None:
            self.set_status("no model attached")
            return
        node_id, offset = self.after
        backend = self.backend
        ctx = _context_before(self.host.session, backend, node_id, offset)
        self.start(lambda: multiverse.expand(backend, ctx, self.depth, self.top_k), "expanding")

    def show_result(self, result: multiverse.Multiverse) -> None:
        self.mv = result
        self.query_one(MultiverseBlocks).set_multiverse(result)
        exact = "" if result.exact else " (API: top-k only)"
        self.set_status(
            f"depth {result.depth}, top-{result.top_k}: {result.calls} batched calls{exact}"
        )

    def _blocks(self) -> MultiverseBlocks:
        return self.query_one(MultiverseBlocks)

    def action_move(self, step: int) -> None:
        self._blocks().move(step)

    def action_child(self) -> None:
        self._blocks().descend()

    def action_parent(self) -> None:
        self._blocks().ascend()

    def action_zoom_in(self) -> None:
        self._blocks().zoom_in()

    def action_zoom_out(self) -> None:
        self._blocks().zoom_out()

    def action_insert(self) -> None:
        blocks = self._blocks()
        if self.mv is None or blocks.selected is None:
            return
        node_id, offset = self.after
        info = self.backend.info() if self.backend else None
        node = multiverse.insert_path(
            self.host.engine,
            node_id,
            offset,
            self.mv,
            blocks.selected,
            model=info.name if info else None,
            backend_kind=info.backend if info else None,
        )
        self.tree_changed()
        self.dismiss(None)
        self.host.notify(f"inserted {node.text!r} as a branch")


# ---------------------------------------------------------------------- probe
class ProbeScreen(InstrumentScreen):
    TITLE_TEXT = "Distribution probe — answers: '1-10' (numeric range) or 'a,b,c'; enter runs"

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="inputs", classes="inputs"):
            yield Input(value="1-10", placeholder="answers", id="answers")
            yield Input(
                value="", placeholder="second prompt (optional, side by side)", id="prompt2"
            )
        yield Static("", id="body")

    DEFAULT_CSS = (
        InstrumentScreen.DEFAULT_CSS
        + """
    ProbeScreen #inputs { height: 3; }
    ProbeScreen #inputs Input { width: 1fr; }
    """
    )

    def on_mount(self) -> None:
        self.run_probe()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.run_probe()

    def answers(self) -> tuple[list[str], str]:
        raw = self.query_one("#answers", Input).value.strip()
        lo, sep, hi = raw.partition("-")
        if sep and lo.strip().isdigit() and hi.strip().isdigit():
            return probe.range_candidates(int(lo), int(hi), " {n}"), probe.RULE_DIGIT
        return [a for a in raw.split(",") if a], probe.RULE_NONE

    def run_probe(self) -> None:
        if self.backend is None:
            self.set_status("no model attached")
            return
        backend = self.backend
        answers, rule = self.answers()
        node_id, offset = self.after
        ctx = _context_before(self.host.session, backend, node_id, offset)
        second = self.query_one("#prompt2", Input).value

        def work() -> tuple[list[probe.ProbeResult], list[str]]:
            results = [probe.probe(backend, ctx, answers, rule)]
            titles = ["this branch"]
            if second:
                results.append(probe.probe(backend, second, answers, rule))
                titles.append("second prompt")
            return results, titles

        self.start(work, "scoring answers")

    def show_result(self, result: tuple[list[probe.ProbeResult], list[str]]) -> None:
        results, titles = result
        self.query_one("#body", Static).update(probe_table(results, titles))
        self.set_status(f"{len(results[0].candidates)} answers, model {results[0].model}")


# ---------------------------------------------------------------------- compare
class CompareScreen(InstrumentScreen):
    TITLE_TEXT = "Model diff — the branch scored under a second model (green: B likes it more)"

    def __init__(self, app: Any, other: Backend | None = None) -> None:
        super().__init__(app)
        self.other = other

    def compose_body(self) -> ComposeResult:
        yield Input(
            placeholder="second model spec (e.g. a hub id or a .gguf path); enter", id="model_b"
        )
        yield Static("", id="body")

    def on_mount(self) -> None:
        if self.other is not None:
            self.run_compare()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.other = None
        self.run_compare(event.value.strip())

    def run_compare(self, spec: str | None = None) -> None:
        backend, other = self.backend, self.other
        text = self.host.session.branch_text(self.host.session.current_id)

        def work() -> compare.Comparison:
            nonlocal other
            if other is None:
                from ...backends.resolve import open_backend
                from ...config import cache_dir

                other = open_backend(model=spec or "default", cache_dir=cache_dir())
            return compare.compare(backend, other, text)  # type: ignore[arg-type]

        self.start(work, "scoring under both models")

    def show_result(self, result: compare.Comparison) -> None:
        self.query_one("#body", Static).update(diff_text(result))
        self.set_status(f"{len(result.segments)} segments")


# ---------------------------------------------------------------------- sweep
class SweepScreen(InstrumentScreen):
    TITLE_TEXT = "Attractor sweep — the token under the cursor replaced by its alternatives"

    def __init__(self, app: Any, top_k: int = 4, max_tokens: int = 32) -> None:
        super().__init__(app)
        self.top_k, self.max_tokens = top_k, max_tokens
        self.variants: list[sweep.Variant] = []
        self.origin: tuple[str, int] | None = None  # the original token, once split off

    def compose_body(self) -> ComposeResult:
        yield Input(
            placeholder="edits to try in its place, separated by | (enter adds their branches)",
            id="edits",
        )
        yield Static("", id="body")

    def on_mount(self) -> None:
        self.sweep_from(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        edits = [e for e in event.value.split("|") if e.strip()]
        if edits:
            self.sweep_from(edits)
            event.input.value = ""

    def sweep_from(self, edits: list[str] | None) -> None:
        """Sweep the token under the cursor; once a first sweep has split it off into its
        own node, later ones (typed edits) branch beside it without re-running it."""
        if any(w.node is self and w.is_running for w in self.workers):
            self.set_status("a sweep is still running: try the edits when it is done")
            return
        if self.origin is not None:
            self.run_sweep(*self.origin, edits, include_original=False)
            return
        node_id, offset = self.point
        node = self.host.session.node(node_id)
        if node.tokens is None or offset is None or offset >= len(node.tokens):
            self.set_status("put the cursor on a model token to sweep it")
            return
        self.run_sweep(node_id, offset, edits, include_original=True)

    def run_sweep(
        self, node_id: str, offset: int, edits: list[str] | None, *, include_original: bool
    ) -> None:
        engine = app_engine(self.host)
        self.start(
            lambda: sweep.sweep(
                engine,
                node_id,
                offset,
                self.top_k,
                edits=edits,
                max_tokens=self.max_tokens,
                include_original=include_original,
            ),
            "continuing each variant greedily",
        )

    def show_result(self, result: sweep.SweepResult) -> None:
        for v in result.variants:
            if v.is_original:
                self.origin = (v.node_id, 0)
        self.variants.extend(result.variants)
        shown = sweep.SweepResult(
            variants=self.variants, head_id=result.head_id, ngram=result.ngram
        )
        self.query_one("#body", Static).update(sweep_rows(shown))
        self.set_status(f"{len(result.variants)} branches added")
        self.tree_changed()


# ---------------------------------------------------------------------- replay
class ReplayScreen(InstrumentScreen):
    TITLE_TEXT = "Replay — every generation point re-run with another model, beside the original"

    def __init__(self, app: Any, other: Backend | None = None) -> None:
        super().__init__(app)
        self.other = other

    def compose_body(self) -> ComposeResult:
        yield Input(
            placeholder="model spec to replay with (a hub id, a folder, a .gguf); enter",
            id="model_r",
        )
        yield Static("", id="body")

    def on_mount(self) -> None:
        points = replay.generation_points(self.host.session)
        self.query_one("#body", Static).update(
            Text(f"{len(points)} generation points in this session")
        )
        if self.other is not None:
            self.run_replay()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.other = None
        self.run_replay(event.value.strip())

    def run_replay(self, spec: str | None = None) -> None:
        session, other = self.host.session, self.other

        def work() -> replay.ReplayResult:
            nonlocal other
            if other is None:
                from ...backends.resolve import open_backend
                from ...config import cache_dir

                other = open_backend(model=spec or "default", cache_dir=cache_dir())
            # On a copy: the worker computes, the tree is changed on the app's thread.
            return replay.replay(session, other)

        self.set_status("replaying…")  # needs only the other model, not the app's
        self.run_worker(work, thread=True, exclusive=True, group="instrument")

    def show_result(self, result: replay.ReplayResult) -> None:
        lines = Text(
            f"replayed {result.points} generation points; new nodes sit beside "
            "their originals (meta replay_of)\n"
        )
        for err in result.errors:
            lines.append(f"error: {err}\n", style="red")
        self.query_one("#body", Static).update(lines)
        self.set_status("")
        grown = [nid for _, new in result.pairs for nid in new]
        self.host.engine.graft(result.session, grown)
        self.tree_changed()


# ---------------------------------------------------------------------- entropy
class EntropyScreen(InstrumentScreen):
    TITLE_TEXT = "Entropy strip — n: jump to the next most uncertain position"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("n", "jump", "Jump to next uncertain"),
    ]

    def on_mount(self) -> None:
        info = self.backend.info() if self.backend is not None else None
        self.points = entropy.entropy_points(
            self.host.session, self.host.session.current_id, info.vocab_size if info else None
        )
        self.query_one("#body", Static).update(entropy_strip(self.points))
        self.set_status("")

    def action_jump(self) -> None:
        target = entropy.next_uncertain(self.points, getattr(self.host, "_uncertain_at", None))
        if target is None:
            return
        self.host._uncertain_at = (target.node_id, target.offset)
        self.dismiss(None)
        jump_to(self.host, target.node_id, target.offset)


def jump_to(app: Any, node_id: str, offset: int) -> bool:
    """Move the app's token view cursor to the token at ``(node_id, offset)``."""
    view = getattr(app, "view", None)
    if view is None:
        return False
    for i, unit in enumerate(view.units):
        if unit.node_id == node_id and unit.offset <= offset < max(unit.end, unit.offset + 1):
            view.move_cursor(i)
            return True
    return False


INSTRUMENTS: dict[str, InstrumentSpec] = {
    "multiverse": InstrumentSpec(
        "v",
        "Block multiverse",
        "top-k futures to depth 3 as blocks sized by probability",
        MultiverseScreen,
    ),
    "probe": InstrumentSpec(
        "p", "Distribution probe", "score a set of answers (e.g. 1-10) exactly", ProbeScreen
    ),
    "compare": InstrumentSpec(
        "d", "Model diff", "score this branch under a second model", CompareScreen
    ),
    "sweep": InstrumentSpec(
        "w",
        "Attractor sweep",
        "swap this token for its alternatives, continue greedily",
        SweepScreen,
    ),
    "replay": InstrumentSpec(
        "R",
        "Replay with another model",
        "re-run every generation point with another model",
        ReplayScreen,
    ),
    "entropy": InstrumentSpec(
        "u",
        "Entropy strip",
        "entropy along the branch; jump to the most uncertain tokens",
        EntropyScreen,
    ),
}
