"""The mode-collapse report: a table per prompt (model A beside model B), a table of how the
samples move with temperature, the greedy entropy traces, and the two answer distributions
as column plots, one under the other, that fit in 80 columns.

Model text (prompts, tokens, samples, model names) is appended as data, on one line, with
controls made visible; nothing here computes a number that the instrument did not.
"""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..instruments.collapse import CollapseResult, ModelResult, PromptResult
from ..instruments.entropy import sparkline
from .text import one_line

#: Column heights in eighths of a cell, bottom up.
_COLS = " ▁▂▃▄▅▆▇█"
_STYLES = ("cyan", "magenta")


def _num(value: float | None, fmt: str = ".3f") -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return "∞"
    return format(value, fmt)


def _clip(text: str, width: int) -> str:
    text = one_line(text)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _entropy(m: ModelResult) -> str:
    nt = m.next_token
    if nt.entropy is not None:
        return _num(nt.entropy)
    if nt.bounds is None:
        return "n/a"
    return f"[{_num(nt.bounds[0], '.2f')}, {_num(nt.bounds[1], '.2f')}]"


def _label(i: int, m: ModelResult, width: int = 32) -> Text:
    t = Text(f"{'AB'[i]} ", style=f"bold {_STYLES[i]}")
    t.append(_clip(m.model, width - 2 - (7 if m.chat else 0)))
    if m.chat:
        t.append(" (chat)", style="dim")
    return t


def prompt_table(pr: PromptResult, col: int = 30) -> Table:
    """One prompt's numbers: a row per measure, a column per model."""
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    table.add_column("", no_wrap=True, style="dim")
    for i, m in enumerate(pr.by_model):
        table.add_column(_label(i, m, col), no_wrap=True, max_width=col, overflow="ellipsis")
    a, b = pr.by_model

    def row(name: str, *cells: str | Text) -> None:
        table.add_row(name, *(c if isinstance(c, Text) else Text(c) for c in cells))

    row("next-token H (nats)", _entropy(a), _entropy(b))
    row(
        "top-1",
        *(
            Text(f"{_clip(repr(m.next_token.top[0].text), 16)} {m.next_token.top1_p:.1%}")
            if m.next_token.top and m.next_token.top1_p is not None
            else Text("n/a")
            for m in (a, b)
        ),
    )
    row(
        "top-3",
        *(Text(" ".join(_clip(repr(x.text), 9) for x in m.next_token.top[:3])) for m in (a, b)),
    )
    if a.answers is not None and b.answers is not None:
        row("answer H (nats)", _num(a.answers.entropy), _num(b.answers.entropy))
        row("KL from uniform", _num(a.answers.kl_uniform), _num(b.answers.kl_uniform))
        favs = [m.favourite() for m in (a, b)]
        row(
            "favourite answer",
            *(
                Text("n/a") if f is None else Text(f"{_clip(repr(f[0]), 12)} {f[1]:.1%}")
                for f in favs
            ),
        )
        row(
            "answer mass covered",
            _num(a.answers.covered_mass, ".4f"),
            _num(b.answers.covered_mass, ".4f"),
        )
    for label, key in (
        ("distinct samples", "d"),
        ("most common share", "s"),
        ("mean n-gram overlap", "o"),
    ):
        cells = []
        for m in (a, b):
            ref = m.reference_samples()
            if ref is None:
                cells.append("n/a")
            elif key == "d":
                cells.append(f"{ref.distinct} of {len(ref.texts)} at T={ref.t:g}")
            elif key == "s":
                cells.append(f"{ref.top_share:.0%}")
            else:
                cells.append(f"{ref.mean_overlap:.2f}")
        row(label, *cells)
    if a.answers is not None and b.answers is not None:
        cells = []
        for m in (a, b):
            ref = m.reference_samples()
            counts = ref.answer_counts() if ref is not None else {}
            if ref is None or not counts:
                cells.append("none gives an answer" if ref is not None else "n/a")
                continue
            label, count = next(iter(counts.items()))
            cells.append(f"{_clip(repr(label), 12)} {count} of {len(ref.texts)}")
        row("samples' top answer", *cells)
    row(
        "T matching other's H",
        *(
            "n/a"
            if m.match_target is None
            else ("none in [0.05, 20]" if m.match_t is None else f"{m.match_t:.3f}")
            for m in (a, b)
        ),
    )
    row(
        "greedy",
        *(Text("n/a") if m.greedy is None else Text(_clip(m.greedy.text, col)) for m in (a, b)),
    )
    return table


def temperature_table(pr: PromptResult) -> Table:
    """How each model's samples move with temperature: next-token entropy, distinct
    completions, the most common one's share, n-gram overlap."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("T", justify="right", no_wrap=True)
    for i in range(2):
        s = _STYLES[i]
        ab = "AB"[i]
        table.add_column(Text(f"{ab} H", style=s), justify="right", no_wrap=True)
        table.add_column(Text(f"{ab} distinct", style=s), justify="right", no_wrap=True)
        table.add_column(Text(f"{ab} top", style=s), justify="right", no_wrap=True)
        table.add_column(Text(f"{ab} overlap", style=s), justify="right", no_wrap=True)
    temps = [s.t for s in pr.by_model[0].samples]
    for t in temps:
        cells = [f"{t:g}"]
        for m in pr.by_model:
            s = m.samples_at(t)
            if s is None:
                cells += ["", "", "", ""]
                continue
            cells += [
                _num(s.next_token_entropy, ".2f"),
                f"{s.distinct}/{len(s.texts)}",
                f"{s.top_share:.0%}",
                f"{s.mean_overlap:.2f}",
            ]
        table.add_row(*cells)
    return table


def traces(pr: PromptResult, width: int = 60) -> Group:
    """The greedy continuations' entropy strips, on one scale so they compare."""
    values = [
        [lo if lo == hi else hi for lo, hi in m.greedy.entropies] if m.greedy else []
        for m in pr.by_model
    ]
    finite = [v for vs in values for v in vs if math.isfinite(v)]
    top = max(finite) if finite else 1.0
    lines = [Text(f"entropy along the greedy continuation (max {top:.2f} nats)", style="dim")]
    for i, vs in enumerate(values):
        line = Text(f"{'AB'[i]} ", style=f"bold {_STYLES[i]}")
        line.append(sparkline(vs, width, top) if vs else "(no tokens)", style=_STYLES[i])
        if vs:
            line.append(f" mean {sum(vs) / len(vs):.2f}", style="dim")
        lines.append(line)
    return Group(*lines)


def answer_columns(
    labels: list[str],
    shares: list[float],
    width: int = 76,
    height: int = 6,
    style: str = "cyan",
    full: float = 1.0,
) -> Text:
    """A column plot of ``shares`` (one column per answer, or per bucket of answers when
    there are more answers than cells; a bucket shows the sum of its shares), scaled so
    that ``full`` fills ``height`` rows, with answer labels under it. At most ``width``
    cells."""
    n = len(shares)
    if n == 0:
        return Text("")
    buckets = max(1, math.ceil(n / width))
    cols: list[float] = []
    names: list[str] = []
    for i in range(0, n, buckets):
        cols.append(sum(shares[i : i + buckets]))
        names.append(one_line(labels[i]).strip())
    cell = max(1, min(4, width // len(cols)))
    out = Text(no_wrap=True, overflow="crop")
    for r in range(height, 0, -1):
        line = ""
        for v in cols:
            eighths = round(max(0.0, min(1.0, v / full if full > 0 else 0.0)) * height * 8)
            fill = max(0, min(8, eighths - (r - 1) * 8))
            line += (_COLS[fill] * max(1, cell - 1)) + (" " if cell > 1 else "")
        out.append(line.rstrip() + "\n", style=style)
    # Labels: every answer whose name fits its cell, else every k-th.
    widest = max(len(x) for x in names)
    every = max(1, math.ceil((widest + 1) / cell))
    label_line = [" "] * (len(cols) * cell + widest)
    for j, name in enumerate(names):
        if j % every:
            continue
        for k, ch in enumerate(name):
            label_line[j * cell + k] = ch
    out.append("".join(label_line).rstrip(), style="dim")
    return out


def answer_plots(pr: PromptResult, width: int = 76) -> Group | None:
    """The two answer distributions (renormalised), A above B, on the same 0-100% scale."""
    a, b = pr.by_model
    if a.answers is None or b.answers is None:
        return None
    # One scale for both plots (the larger favourite fills a column), so they compare.
    full = max([*a.answers.shares(), *b.answers.shares(), 0.0]) or 1.0
    parts: list[RenderableType] = [
        Text(f"answers, renormalised (a full column = {full:.1%})", style="dim")
    ]
    for i, m in enumerate((a, b)):
        assert m.answers is not None
        fav = m.favourite()
        head = _label(i, m)
        head.append(
            f"  H {m.answers.entropy:.3f}  KL(u) {m.answers.kl_uniform:.3f}"
            + ("" if fav is None else f"  top {one_line(fav[0]).strip()} {fav[1]:.1%}"),
            style="dim",
        )
        parts.append(head)
        parts.append(
            answer_columns(m.answer_labels, m.answers.shares(), width, 6, _STYLES[i], full)
        )
    kl = Text("KL(A‖B) ", style="bold")
    kl.append(f"{_num(pr.kl_answers_a_b)} nats   ")
    kl.append("KL(B‖A) ", style="bold")
    kl.append(f"{_num(pr.kl_answers_b_a)} nats")
    parts.append(kl)
    return Group(*parts)


def collapse_report(result: CollapseResult, width: int = 80) -> Group:
    """Everything the verb prints without --json, at ``width`` columns (80 by default)."""
    parts: list[RenderableType] = []
    # the measure column (20) and two model columns, with a 2-cell gap each, in ``width``
    col = max(20, (width - 26) // 2)
    for k, pr in enumerate(result.prompts, start=1):
        head = Text(f"prompt {k}: ", style="bold")
        head.append(_clip(repr(pr.prompt), width - 10))
        parts += [head, prompt_table(pr, col), Text(""), temperature_table(pr), Text("")]
        parts.append(traces(pr, min(60, width - 20)))
        plots = answer_plots(pr, width - 4)
        if plots is not None:
            parts += [Text(""), plots]
        parts.append(Text(""))
    for note in result.notes:
        parts.append(Text(f"note: {one_line(note)}", style="yellow"))
    return Group(*parts)
