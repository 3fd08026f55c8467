"""``loomtui collapse``: two models (a base and a tuned one) on the same prompts, side by side.

Every number comes from :func:`loomtui.instruments.collapse.collapse`; the terminal output is
drawn by :mod:`loomtui.render.collapse` (a table per prompt, then the two answer
distributions as bars, one under the other). ``-o SESSION`` keeps every sample and greedy
continuation as branches below each prompt, marked by model, so the evidence can be opened
in the app (``loomtui SESSION``) or read with ``show``/``export``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..core.errors import LoomError
from ..core.tree import Session
from ..instruments.probe import RULE_DIGIT, RULE_NONE, range_candidates
from . import probe as probe_verb
from ._instr import print_json
from .common import backend_from_args, model_options, none_if_empty
from .params import Args

PARAMS: list[click.Parameter] = [
    *model_options(multiple=True),
    click.Option(
        ["--prompt"],
        multiple=True,
        callback=none_if_empty,
        metavar="TEXT",
        help="a prompt (repeatable)",
    ),
    click.Option(
        ["--prompts"],
        metavar="FILE",
        default=None,
        help="prompts from a file: one per line, or a JSON list of strings (.json)",
    ),
    click.Option(
        ["--chat-for"],
        multiple=True,
        callback=none_if_empty,
        type=click.Choice(["A", "B", "a", "b"]),
        metavar="A|B",
        help="read the prompts through this model's chat template (repeatable)",
    ),
    # The answers exactly as ``loomtui probe`` takes them (one declaration of the options).
    *(p for p in probe_verb.PARAMS if p.name in ("range", "template", "candidates", "end_rule")),
    click.Option(["--n"], type=int, default=16, help="samples per model and temperature (16)"),
    click.Option(
        ["--temperatures"],
        default="0.7,1.0,1.5",
        metavar="T,T,...",
        help="sampling temperatures (default 0.7,1.0,1.5)",
    ),
    click.Option(["--max-tokens"], type=int, default=24, help="tokens per sample (24)"),
    click.Option(
        ["--greedy-tokens"],
        type=int,
        default=32,
        help="tokens of the greedy continuation whose entropy is traced (32)",
    ),
    click.Option(["--top-k"], type=int, default=10, help="next tokens listed, and kept per token"),
    click.Option(["--ngram"], type=int, default=3, help="token n-gram size for overlap (3)"),
    click.Option(["--seed"], type=int, default=None, help="make the samples reproducible"),
    click.Option(["--json"], is_flag=True, help="print every number as JSON"),
    click.Option(
        ["-o", "--output"],
        metavar="SESSION",
        default=None,
        help="keep every sample and greedy continuation in this session (created if needed)",
    ),
]


def read_prompts(args: Args) -> list[str]:
    """``--prompt`` values, then the ``--prompts`` file's, in order (one-line errors)."""
    prompts = list(args.prompt or [])
    if args.prompts is not None:
        path = Path(args.prompts)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise LoomError(f"prompts file not found: {args.prompts}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise LoomError(f"cannot read prompts file {args.prompts}: {exc}") from None
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise LoomError(
                    f"{args.prompts}: not JSON ({exc.msg}, line {exc.lineno})"
                ) from None
            if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
                raise LoomError(f"{args.prompts}: expected a JSON list of strings")
            prompts.extend(data)
        else:
            prompts.extend(line for line in text.splitlines() if line.strip())
    prompts = [p for p in prompts if p]
    if not prompts:
        raise LoomError("give --prompt TEXT (repeatable) or --prompts FILE")
    return prompts


def parse_temperatures(value: str) -> list[float]:
    try:
        temps = [float(t) for t in value.split(",") if t.strip()]
    except ValueError:
        raise LoomError(f"--temperatures: not a list of numbers: {value!r}") from None
    if not temps or any(not t > 0 for t in temps):
        raise LoomError("--temperatures: give numbers above 0, e.g. 0.7,1.0,1.5")
    return list(dict.fromkeys(temps))


def answers_of(args: Args) -> tuple[list[str] | None, str]:
    if args.range is not None and args.candidates is not None:
        raise LoomError("give --range or --candidates, not both")
    if args.range is not None:
        try:
            answers = range_candidates(args.range[0], args.range[1], args.template)
        except (ValueError, KeyError, IndexError) as exc:
            raise LoomError(f"--range/--template: {exc}") from None
        return answers, args.end_rule or RULE_DIGIT
    if args.candidates is not None:
        answers = [a for a in args.candidates.split(",") if a]
        if not answers:
            raise LoomError("--candidates: no answers given")
        return answers, args.end_rule or RULE_NONE
    return None, RULE_NONE


def run(args: Args) -> int:
    models = args.model or []
    if len(models) != 2:
        raise LoomError("give --model twice: model A (e.g. the base) and model B (the tuned)")
    prompts = read_prompts(args)
    temps = parse_temperatures(args.temperatures)
    answers, rule = answers_of(args)
    if args.n < 1 or args.max_tokens < 1 or args.greedy_tokens < 1 or args.top_k < 1:
        raise LoomError("--n, --max-tokens, --greedy-tokens and --top-k must be at least 1")
    if args.ngram < 1:
        raise LoomError("--ngram must be at least 1")
    chat_for = {c.upper() for c in (args.chat_for or [])}
    store = None
    if args.output:
        from ..core.store import SessionStore

        # Lock + journal: a second process is refused, a kill loses at most one token.
        store = SessionStore.open(args.output)
    try:
        return _collapse(args, store, models, prompts, temps, answers, rule, chat_for)
    finally:
        if store is not None:
            store.close()


def _collapse(  # type: ignore[no-untyped-def]
    args: Args,
    store,
    models: list[str],
    prompts: list[str],
    temps: list[float],
    answers: list[str] | None,
    rule: str,
    chat_for: set[str],
) -> int:
    from ..engine import Engine
    from ..instruments.collapse import collapse
    from .generate import prompt_node

    a = backend_from_args(args, models[0])
    b = a if models[1] == models[0] and not args.api_base else backend_from_args(args, models[1])
    session = store.session if store is not None else Session.new()
    engine = Engine.over(store, a) if store is not None else Engine(session, a)
    node_ids = [prompt_node(engine, p).id for p in prompts]
    result = collapse(
        engine,
        b,
        node_ids,
        chat=("A" in chat_for, "B" in chat_for),
        answers=answers,
        rule=rule,
        n=args.n,
        temperatures=temps,
        max_tokens=args.max_tokens,
        greedy_tokens=args.greedy_tokens,
        top_k=args.top_k,
        ngram=args.ngram,
        seed=args.seed,
    )
    if store is not None:
        # The file opens at the first prompt, its samples and continuations just below.
        session.goto(node_ids[0])
        engine.save()
    if args.json:
        data = result.to_json()
        if args.output:
            data["session"] = str(args.output)
        print_json(data)
        return 0
    from rich.console import Console

    from ..render.collapse import collapse_report

    console = Console(highlight=False)
    console.print(collapse_report(result, width=min(console.width, 100)))
    if args.output:
        from rich.text import Text

        from ..render.text import one_line

        kept = sum(len(s.node_ids) for p in result.prompts for m in p.by_model for s in m.samples)
        console.print(
            Text(
                f"kept {kept} samples and the greedy continuations in {one_line(str(args.output))}"
            )
        )
    return 0
