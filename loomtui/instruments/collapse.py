"""Mode collapse, side by side: two models meet the same prompts and the difference is measured.

For each prompt and each of the two models (the seeds' base model and tuned model):

- the next-token distribution: entropy (exact from the whole vocabulary on a backend with
  :class:`FullDistribution`, bounds from the top-k list on an API), the top-1 probability,
  the top-k;
- with answers (a numeric range or candidates): each answer's exact probability by the
  probe's rule (:func:`loomtui.instruments.probe.probe`, called, not copied), the entropy
  of the answers renormalised, KL from uniform, the favourite's share, and KL(A‖B) between
  the two renormalised answer distributions;
- ``n`` samples at each temperature, kept in the tree as branches marked by model
  (``node.model``): distinct completions, the share of the most common one, the mean
  pairwise Jaccard overlap of their token n-grams, the answer each sample gives (by the
  probe's end rule, when answers are given), and the next-token entropy of the
  distribution each temperature samples from;
- the temperature at which a model's next-token entropy equals the other model's at T=1
  (the seeds' "is it just temperature?"): the entropy of ``softmax(logits / T)`` never
  decreases as T grows (dH/dT = Var_T(logits) / T³ ≥ 0), so it is found by bisection on
  log T over [:data:`T_MIN`, :data:`T_MAX`]; None when the target lies outside that range;
- a greedy continuation per model (also a branch) with the entropy at each of its positions.

Every entropy and KL comes from :mod:`loomtui.core.metrics`. A chat model (``chat=True``)
reads the prompt through its chat template and its answers are scored as the start of its
reply, so their leading whitespace is dropped (" 7" is scored as "7"; the JSON keeps both).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..backends.base import Backend, Context, FullDistribution, GenerationSettings
from ..core.metrics import entropy, entropy_bounds, kl_rows, token_entropy
from ..core.tokens import Alt, Token, decode
from ..core.tree import Node
from ..engine import Engine, branch_context
from ..engine_history import as_one_step
from .collapse_result import (  # noqa: F401 - the results are part of this instrument's API
    MATCH_METHOD,
    CollapseResult,
    Greedy,
    ModelResult,
    NextToken,
    PromptResult,
    SampleSet,
    Side,
    mean_pairwise_overlap,
    ngrams,
)
from .probe import RULE_DIGIT, RULE_NONE, ProbeResult, probe
from .progress import Cancelled, Progress, check, report

if TYPE_CHECKING:
    import numpy as np

#: The temperatures the matching-temperature search spans.
T_MIN, T_MAX = 0.05, 20.0
#: Bisection steps on log T: the bracket shrinks by 2**-BISECT_STEPS (to ~1e-8 relative).
BISECT_STEPS = 30


def sample_answer(text: str, scored: Sequence[str], labels: Sequence[str], rule: str) -> str | None:
    """The answer a sample gives: the longest scored answer text it starts with (under the
    digit rule, only when no digit follows, as the probe counts it), as its label."""
    best: tuple[int, str] | None = None
    for s, label in zip(scored, labels, strict=True):
        if not text.startswith(s):
            continue
        if rule == RULE_DIGIT and text[len(s) : len(s) + 1].isdigit():
            continue
        if best is None or len(s) > best[0]:
            best = (len(s), label)
    return None if best is None else best[1]


def token_keys(tokens: Sequence[Token]) -> list[object]:
    """What identifies a sample's tokens: the id, or the raw bytes where there is none."""
    return [t.token_id if t.token_id is not None else t.bytes for t in tokens]


# ---------------------------------------------------------------------- temperature
def tempered(row: np.ndarray, t: float) -> np.ndarray:
    """The logprobs of ``softmax(logits / t)`` from a row of logprobs (float64)."""
    import numpy as np

    z = np.asarray(row, dtype=np.float64) / t
    finite = z[np.isfinite(z)]
    m = float(finite.max()) if finite.size else 0.0
    return z - (m + math.log(float(np.exp(z - m).sum())))


def entropy_at(row: np.ndarray, t: float) -> float:
    """Entropy (nats) of the distribution at temperature ``t`` (1: the model's own)."""
    lps = row if t == 1.0 else tempered(row, t)
    return entropy(lps.astype("float64").tolist())


def matching_temperature(row: np.ndarray, target: float) -> float | None:
    """The T in [T_MIN, T_MAX] at which the entropy of ``softmax(logits / T)`` equals
    ``target`` (bisection on log T; the entropy never decreases in T). None when even
    T_MIN gives more or T_MAX gives less."""
    lo, hi = math.log(T_MIN), math.log(T_MAX)
    if entropy_at(row, T_MIN) > target or entropy_at(row, T_MAX) < target:
        return None
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        if entropy_at(row, math.exp(mid)) < target:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


# ---------------------------------------------------------------------- the run
def reader_context(session: Any, node_id: str, side: Side) -> Context:
    """The context a model reads for the branch ending at ``node_id``: with the exact ids it
    will see when the backend can say (a local model: BOS, chat template), so the probe and
    the distribution take their exact paths; else the backend's own reading."""
    ctx = branch_context(session, node_id, side.backend, side.chat)
    ids_of = getattr(side.backend, "context_ids", None)  # the local backend's exact reading
    if ids_of is not None and isinstance(side.backend, FullDistribution):
        return Context(text=ctx.text, token_ids=list(ids_of(ctx)))
    return ctx


def next_token(backend: Backend, ctx: Context, top_k: int) -> NextToken:
    """The distribution after ``ctx``: exact from the whole vocabulary where possible."""
    import numpy as np

    if isinstance(backend, FullDistribution) and ctx.token_ids:
        row = backend.full_logprobs([list(ctx.token_ids)], len(ctx.token_ids))[0][0]
        row = row.astype(np.float64)
        vocab = backend.vocab_bytes()
        order = np.argsort(-row, kind="stable")[:top_k]
        top = [Alt(decode(vocab[i]), vocab[i], int(i), float(row[i])) for i in order]
        return NextToken(entropy(row.tolist()), None, top, row)
    dist = backend.next_distribution(ctx, top_k=top_k)
    info = backend.info()
    top = sorted(dist.top, key=lambda a: a.logprob, reverse=True)[:top_k]
    if dist.entropy is not None and info.exact_entropy:
        return NextToken(dist.entropy, None, top)
    b = entropy_bounds(dist.top, dist.vocab_size or info.vocab_size)
    return NextToken(None, (b.lower, b.upper), top)


def answer_kl(a: ProbeResult, b: ProbeResult) -> float | None:
    """KL(A‖B) in nats between the two renormalised answer distributions (+inf when B gives
    an answer probability 0 that A does not; None when either covers no mass)."""
    import numpy as np

    sa, sb = a.shares(), b.shares()
    if not sum(sa) or not sum(sb):
        return None
    with np.errstate(divide="ignore"):
        la, lb = np.log(np.array(sa)), np.log(np.array(sb))
    return kl_rows(la, lb)[0]


@as_one_step("collapse")  # the samples it keeps: one undo step
def collapse(
    engine: Engine,
    other: Backend,
    node_ids: Sequence[str],
    *,
    chat: tuple[bool, bool] = (False, False),
    answers: Sequence[str] | None = None,
    rule: str = RULE_NONE,
    n: int = 16,
    temperatures: Sequence[float] = (0.7, 1.0, 1.5),
    max_tokens: int = 24,
    greedy_tokens: int = 32,
    top_k: int = 10,
    ngram: int = 3,
    seed: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> CollapseResult:
    """Measure ``engine.backend`` (model A) and ``other`` (model B) on the prompts that end
    at ``node_ids`` of ``engine.session``; samples and greedy continuations become branches
    below each prompt (through the engine, so they are saved like any generation).

    ``chat`` says, per model, whether it reads prompts through its chat template. ``seed``
    makes the samples reproducible (each model and temperature gets its own seed from it).
    ``progress`` is told ``(steps done, steps)``; a set ``cancel`` stops the run and raises
    :class:`~.progress.Cancelled` after deleting every branch it added.
    """
    backend_a = engine.require_backend()
    if n < 1:
        raise ValueError("n must be at least 1")
    if not temperatures or any(t <= 0 for t in temperatures):
        raise ValueError("temperatures must be above 0 (the greedy run is separate)")
    if answers is not None and not answers:
        raise ValueError("no answers given")
    engine_b = Engine(
        engine.session,
        other,
        on_change=engine.on_change,
        on_token=engine.on_token,
        on_finish=engine.on_finish,
    )
    sides = [(engine, Side(backend_a, chat[0])), (engine_b, Side(other, chat[1]))]
    session = engine.session
    before, current = set(session.nodes), session.current_id
    steps_each = 2 + (1 if answers is not None else 0) + len(temperatures)
    total = steps_each * 2 * len(node_ids)
    done = 0
    notes: list[str] = []

    def step() -> None:
        nonlocal done
        done += 1
        report(progress, done, total)

    results: list[PromptResult] = []
    try:
        for p_index, node_id in enumerate(node_ids):
            by_model: list[ModelResult] = []
            for m_index, (eng, side) in enumerate(sides):
                check(cancel)
                sub_seed = None if seed is None else seed + 1000 * p_index + 100 * m_index
                by_model.append(
                    _measure(
                        eng,
                        side,
                        node_id,
                        answers,
                        rule,
                        n,
                        temperatures,
                        max_tokens,
                        greedy_tokens,
                        top_k,
                        ngram,
                        sub_seed,
                        step,
                        cancel,
                    )
                )
            a, b = by_model
            for mine, theirs in ((a, b), (b, a)):
                target = theirs.next_token.entropy
                rows = mine.next_token.rows
                mine.match_target = target
                if rows is not None and target is not None:
                    mine.match_t = matching_temperature(rows, target)
            pr = PromptResult(session.branch_text(node_id), node_id, by_model)
            if a.answers is not None and b.answers is not None:
                pr.kl_answers_a_b = answer_kl(a.answers, b.answers)
                pr.kl_answers_b_a = answer_kl(b.answers, a.answers)
            results.append(pr)
    except Cancelled:
        engine.take_back(before, current)
        raise
    for res in results:
        for m in res.by_model:
            if m.next_token.entropy is None:
                notes.append(
                    f"{m.model}: entropies are bounds from top-k lists; no temperature curve"
                )
    if current in session:
        session.goto(current)
    engine.save()
    return CollapseResult(
        models=[backend_a.info().name, other.info().name],
        prompts=results,
        rule=rule if answers is not None else None,
        settings={
            "n": n,
            "temperatures": list(temperatures),
            "max_tokens": max_tokens,
            "greedy_tokens": greedy_tokens,
            "top_k": top_k,
            "ngram": ngram,
            "seed": seed,
            "chat": list(chat),
        },
        notes=list(dict.fromkeys(notes)),
    )


def _measure(
    engine: Engine,
    side: Side,
    node_id: str,
    answers: Sequence[str] | None,
    rule: str,
    n: int,
    temperatures: Sequence[float],
    max_tokens: int,
    greedy_tokens: int,
    top_k: int,
    ngram: int,
    seed: int | None,
    step: Any,
    cancel: threading.Event | None,
) -> ModelResult:
    backend = side.backend
    info = backend.info()
    ctx = reader_context(engine.session, node_id, side)
    nt = next_token(backend, ctx, top_k)
    step()
    probed: ProbeResult | None = None
    labels: list[str] = []
    if answers is not None:
        labels = list(answers)
        # A chat model's reply starts the answer: no separator before it.
        scored = [a.lstrip() or a for a in answers] if side.chat else labels
        check(cancel)
        probed = probe(backend, ctx, scored, rule, cancel=cancel)
        step()
    else:
        scored = []
    sample_sets: list[SampleSet] = []
    for k, t in enumerate(temperatures):
        check(cancel)
        settings = GenerationSettings(
            max_tokens=max_tokens,
            n=n,
            temperature=t,
            seed=None if seed is None else seed + k,
            logprobs_k=top_k,
            chat=side.chat,
        )
        res = engine.generate(node_id, None, settings, cancel=cancel)
        check(cancel)
        nodes = res.nodes
        _mark(nodes, "sample", t)
        sample_sets.append(
            SampleSet(
                t=t,
                node_ids=[nd.id for nd in nodes],
                texts=[nd.text for nd in nodes],
                keys=[token_keys(nd.tokens or []) for nd in nodes],
                next_token_entropy=None if nt.rows is None else entropy_at(nt.rows, t),
                ngram=ngram,
                answers=[sample_answer(nd.text, scored, labels, rule) for nd in nodes]
                if answers is not None
                else [],
            )
        )
        step()
    check(cancel)
    settings = GenerationSettings(
        max_tokens=greedy_tokens, n=1, temperature=0.0, logprobs_k=top_k, chat=side.chat
    )
    node = engine.generate(node_id, None, settings, cancel=cancel).nodes[0]
    check(cancel)
    _mark([node], "greedy", 0.0)
    greedy = _greedy(backend, ctx, node, info.vocab_size)
    step()
    return ModelResult(
        model=info.name,
        chat=side.chat,
        prompt_token_ids=None if ctx.token_ids is None else list(ctx.token_ids),
        next_token=nt,
        answers=probed,
        answer_labels=labels,
        samples=sample_sets,
        greedy=greedy,
    )


def _greedy(backend: Backend, ctx: Context, node: Node, vocab_size: int | None) -> Greedy:
    """The greedy branch's per-position entropies: exact from whole-vocabulary rows where
    the backend gives them, else each token's own (exact or bounded)."""
    tokens = list(node.tokens or [])
    ids = [t.token_id for t in tokens]
    if isinstance(backend, FullDistribution) and ctx.token_ids and tokens and None not in ids:
        seq = list(ctx.token_ids) + ids  # type: ignore[operator]
        rows = backend.full_logprobs([seq], len(ctx.token_ids))[0][:-1]
        ents = [entropy(r.astype("float64").tolist()) for r in rows]
        return Greedy(node.id, node.text, tokens, [(h, h) for h in ents], True)
    bounds: list[tuple[float, float]] = []
    for tok in tokens:
        b = token_entropy(tok, vocab_size)
        bounds.append(b if b is not None else (math.nan, math.nan))
    exact = all(lo == hi for lo, hi in bounds)
    return Greedy(node.id, node.text, tokens, bounds, exact)


def _mark(nodes: Sequence[Node], role: str, t: float) -> None:
    """Say in each node what the collapse run made it for (the app and ``info`` show meta)."""
    for nd in nodes:
        nd.meta["collapse"] = {"role": role, "t": t}
