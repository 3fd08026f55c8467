"""Several models in one generate: n continuations dealt over a list of backends.

An instrument only in where it lives (above the engine, beside the others, headless): it is
the engine's generation, run once per model.

The rule (one place, for the CLI and the app): continuation ``i`` goes to model ``i mod M``,
so model ``j`` makes ``n // M`` continuations, one more for the first ``n % M`` models; every
model makes at least one (``n`` below ``M`` is raised to ``M``: naming a model and getting
nothing from it would surprise). The models run one after another through
:meth:`Engine.generate`, each with its own backend, so every continuation's node records its
model (``Node.model``/``Node.backend``) and every token's numbers are that model's own. A
model continuing text another model wrote tokenizes it itself (:func:`branch_context`).

One model failing never stops the others: its line (``model: reason``) is in
:attr:`MultiResult.failures` and its continuations, if any were started, are visible failed
nodes. A cancel stops after the model that is running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..backends.base import Backend, BackendError, GenerationSettings
from ..core.display import safe_line
from ..core.tree import Node
from ..engine import Engine, FinishCallback, GenerationResult, TokenCallback
from ..engine_history import as_one_step

#: Called before each model starts: (its index, how many models, its name).
ModelCallback = Callable[[int, int, str], None]


def spread(n: int, models: int) -> list[int]:
    """How many of ``n`` continuations each of ``models`` models makes (round-robin, each at
    least one): ``spread(4, 2) == [2, 2]``, ``spread(5, 3) == [2, 2, 1]``, ``spread(1, 2) ==
    [1, 1]``."""
    if models < 1:
        raise ValueError("no models to spread over")
    total = max(n, models)
    return [total // models + (1 if j < total % models else 0) for j in range(models)]


@dataclass
class ModelRun:
    """What one model of the list did: its name, how many continuations it was given, its
    result (None when it failed before making any node) and its failure line, if any."""

    name: str
    n: int
    result: GenerationResult | None = None
    error: str | None = None


@dataclass
class MultiResult(GenerationResult):
    """A :class:`GenerationResult` over every model (nodes in model order), with each
    model's own run."""

    runs: list[ModelRun] = field(default_factory=list)
    #: One line per model that could not even be opened (the front end loads them).
    unloaded: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """One line per model that failed (to open, or to generate): ``name: reason``."""
        runs = [f"{safe_line(r.name, 80)}: {r.error}" for r in self.runs if r.error]
        return [*self.unloaded, *runs]


def model_name(backend: Backend) -> str:
    """The name a backend's nodes record (its ``info().name``)."""
    return backend.info().name


@as_one_step("generate", skip=1)  # the n continuations over every model: one undo step
def generate_many(
    engine: Engine,
    backends: Sequence[Backend],
    node_id: str,
    offset: int | None,
    settings: GenerationSettings,
    cancel: threading.Event | None = None,
    on_token: TokenCallback | None = None,
    on_finish: FinishCallback | None = None,
    on_model: ModelCallback | None = None,
) -> MultiResult:
    """Generate ``settings.n`` continuations from ``(node_id, offset)`` dealt over
    ``backends`` (see :func:`spread`); each model's are children of the same point. Every
    model's generation is one change of the tree (one save each)."""
    if not backends:
        raise BackendError("no model to generate with")
    cancel = cancel or threading.Event()
    start = time.perf_counter()
    counts = spread(settings.n, len(backends))
    runs = [ModelRun(model_name(b), n) for b, n in zip(backends, counts, strict=True)]
    nodes: list[Node] = []
    errors: list[str] = []
    head: Node | None = None
    point: tuple[str, int | None] = (node_id, offset)
    tokens = 0
    for index, (backend, run) in enumerate(zip(backends, runs, strict=True)):
        if cancel.is_set():
            break
        if on_model is not None:
            on_model(index, len(backends), run.name)
        try:
            result = engine.generate(
                *point,
                replace(settings, n=run.n),
                cancel=cancel,
                on_token=on_token,
                on_finish=on_finish,
                backend=backend,
            )
        except BackendError as exc:  # before any node: its context, its window
            run.error = safe_line(str(exc), 300)
            errors.append(f"{safe_line(run.name, 80)}: {run.error}")
            continue
        run.result = result
        # The point is a node's end now: the next model hangs its nodes beside these.
        head = result.head
        point = (head.id, None)
        nodes.extend(result.nodes)
        tokens += result.tokens
        if result.errors:
            run.error = safe_line(result.errors[0], 300)
            errors.append(f"{safe_line(run.name, 80)}: {run.error}")
    if head is None:  # no model got as far as its nodes: the point as it stands
        head = engine.session.node(node_id)
    return MultiResult(
        nodes=nodes,
        head=head,
        elapsed_s=time.perf_counter() - start,
        tokens=tokens,
        cancelled=cancel.is_set(),
        errors=errors,
        runs=runs,
    )
