"""The instruments' tables and plots: plain results in, rich renderables out.

The app's instrument screens and the CLI verbs both draw through these functions. Model text
and labels are appended as data (never markup), on one line with controls made visible.
"""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..instruments.compare import Comparison
from ..instruments.entropy import Point, most_uncertain, sparkline
from ..instruments.multiverse import Branch, Multiverse, layout
from ..instruments.probe import RULE_TEXT, ProbeResult
from ..instruments.sweep import SweepResult
from .text import bar, one_line


def probe_table(results: list[ProbeResult], titles: list[str], bar_width: int = 24) -> Group:
    """One table: the answers down, a probability and a bar per result (side by side),
    then the summary lines; ``bar_width`` cells per bar (narrower for several results)."""
    table = Table(box=None, expand=False, pad_edge=False)
    table.add_column("answer", overflow="fold")  # a long answer wraps, never "…"
    for title in titles:
        table.add_column(Text(title), justify="right", no_wrap=True)
        table.add_column("share", no_wrap=True)
    first = results[0]
    shares = [r.shares() for r in results]
    for i, cand in enumerate(first.candidates):
        row: list[Text | str] = [Text(repr(one_line(cand.text)))]
        for r, sh in zip(results, shares, strict=True):
            c = r.candidates[i]
            mark = "" if c.exact else "≈"
            row.append(Text(f"{mark}{c.prob:.2e}"))
            row.append(Text(f"{sh[i]:6.1%} ") + Text(bar(sh[i], bar_width), style="green"))
        table.add_row(*row)
    lines = [Text(f"rule: {RULE_TEXT[first.rule]}", style="dim")]
    for r, title in zip(results, titles, strict=True):
        top = r.top()
        top_text = "" if top is None else f"; top {one_line(top[0].text)!r} {top[1]:.1%}"
        ent = ""
        if r.next_entropy is not None:
            lo, hi = r.next_entropy
            ent = (
                f"; next-token H {lo:.2f}" if lo == hi else f"; next-token H ∈ [{lo:.2f}, {hi:.2f}]"
            )
        lines.append(
            Text(
                f"{title}: covered {r.covered_mass:.4f}; H {r.entropy:.3f} nats; "
                f"KL(u) {r.kl_uniform:.3f}{top_text}{ent}"
            )
        )
        for note in dict.fromkeys(r.notes):
            lines.append(Text(f"  note: {note}", style="yellow"))
    return Group(table, *lines)


def diff_text(cmp: Comparison) -> Group:
    """The text with each segment coloured by how much more B likes it than A."""
    body = Text()
    for seg in cmp.segments:
        d = seg.diff
        if d is None:
            style = "dim"
        elif d > 0:
            style = "on #1f5f1f" if d > 1 else "on #1f3f1f" if d > 0.2 else ""
        else:
            style = "on #6f1f1f" if d < -1 else "on #3f1f1f" if d < -0.2 else ""
        body.append(one_line(seg.text), style=style)
    summary = Table(box=None, pad_edge=False)
    summary.add_column("")
    summary.add_column("model", overflow="fold")  # a long hub id or path wraps, never "…"
    summary.add_column("total logprob", justify="right")
    summary.add_column("mean H", justify="right")
    for label, side in (("A", cmp.a), ("B", cmp.b)):
        h = "n/a" if side.mean_entropy is None else f"{side.mean_entropy:.3f}"
        total = "n/a" if side.total_logprob is None else f"{side.total_logprob:.3f}"
        summary.add_row(label, Text(side.name), total, h)
    worst = Table(box=None, pad_edge=False)
    worst.add_column("token", overflow="fold")
    worst.add_column("Δ logprob", justify="right")
    worst.add_column("KL(A‖B)", justify="right")
    for seg in cmp.disagreements(8):
        kl = "" if seg.kl is None else f"{seg.kl:.3f}"
        worst.add_row(Text(repr(one_line(seg.text))), f"{seg.diff:+.3f}", kl)
    notes = [Text(f"note: {n}", style="yellow") for n in cmp.notes]
    head = Text("largest disagreements (B − A)", style="bold")
    return Group(summary, Text(""), body, Text(""), head, worst, *notes)


def sweep_rows(res: SweepResult) -> Group:
    """Variants one per row; the stretch from where each rejoins the attractor in bold. A
    long continuation wraps in its own column, so each row's label stays at its left."""
    rejoin = res.rejoin_offsets()
    rows = Table.grid(padding=(0, 1))
    rows.add_column(no_wrap=True)
    rows.add_column(ratio=1, overflow="fold")
    for v, r in zip(res.variants, rejoin, strict=True):
        label = Text("* " if v.is_original else "  ")
        label.append(f"{one_line(v.label)!r:>12}", style="reverse")
        if r is None:
            cont = Text(one_line(v.continuation))
        else:
            cont = Text(one_line(v.continuation[:r]))
            cont.append(one_line(v.continuation[r:]), style="bold green")
        rows.add_row(label, cont)
    return Group(
        Text(res.summary(), style="bold"),
        rows,
        Text(f"mean {res.ngram}-gram overlap {res.mean_overlap():.2f}", style="dim"),
    )


def entropy_strip(points: list[Point], width: int = 60, n: int = 5) -> Group:
    """The sparkline and the most uncertain positions, most uncertain first."""
    if not points:
        return Group(Text("no tokens with entropies on this branch", style="dim"))
    values = [p.shown for p in points]
    if all(p.exact for p in points):
        kind = ""
    elif all(p.exact or math.isfinite(p.entropy) for p in points):
        kind = "  (bounds from top-k: the strip draws upper bounds)"
    else:
        kind = "  (bounds from top-k, vocabulary size unknown: the strip draws lower bounds)"
    lines = [
        Text(sparkline(values, width), style="cyan"),
        Text(f"{len(points)} tokens, max H {max(values):.2f} nats" + kind, style="dim"),
    ]
    confs = [p.confidence for p in points if p.confidence is not None]
    if confs:  # the second trace: confidence, −mean top-k logprob (k said: compare at equal k)
        ks = {p.k for p in points if p.k is not None}
        k = f"k={ks.pop()}" if len(ks) == 1 else "k varies"
        trace = [math.nan if p.confidence is None else p.confidence for p in points]
        lines.append(Text(sparkline(trace, width), style="magenta"))
        lines.append(
            Text(
                f"confidence (−mean top-k logprob, {k}): mean {sum(confs) / len(confs):.2f}, "
                f"min {min(confs):.2f}",
                style="dim",
            )
        )
    for i, p in enumerate(most_uncertain(points, n), start=1):
        lines.append(Text(f"{i}. {p.label}  ") + Text(repr(one_line(p.text))))
    return Group(*lines)


# Two alternating shades per column, so neighbouring blocks are told apart by colour alone.
_SHADES = ("on #2d3f5a", "on #3f5a2d", "on #5a2d3f", "on #5a4a2d")
_OTHER = "on #303030"


def multiverse_blocks(
    mv: Multiverse,
    zoom: Branch | None,
    selected: Branch | None,
    width: int,
    height: int,
    col_width: int = 22,
) -> Text:
    """The block multiverse: one column per depth, each branch a block whose height is its
    path probability, renormalised to ``zoom`` (None: the prompt); ``selected`` is drawn
    reversed. ``width`` x ``height`` cells."""
    height = max(1, height)
    base = zoom.prob if zoom is not None else 1.0
    depth = mv.depth - (len(zoom.path()) if zoom is not None else 0)
    cols = max(1, min(depth, max(1, width // col_width)))
    grid = [[(" " * col_width, "")] * cols for _ in range(height)]

    def draw(branches: list[Branch], parent_prob: float, top: int, rows: int, col: int) -> None:
        if col >= cols or rows <= 0:
            return
        for n, block in enumerate(layout(branches, parent_prob, rows)):
            if block.rows <= 0:
                continue
            start = top + block.start
            b = block.branch
            shade = _OTHER if b is None else _SHADES[(n + col) % 2 + (col % 2) * 2]
            style = shade + (" reverse bold" if b is not None and b is selected else "")
            share = b.prob / base if b is not None else block.share * parent_prob / base
            label = "·other" if b is None else one_line(b.alt.text).replace(" ", "␣")
            if len(label) > col_width - 8:  # cut to its column, and marked so
                label = label[: col_width - 9] + "…"
            head = f"{label:<{col_width - 7}}{share:6.1%} "
            for r in range(block.rows):
                grid[start + r][col] = (head if r == 0 else " " * col_width, style)
            if b is not None and b.children:
                draw(b.children, b.prob, start, block.rows, col + 1)

    draw(zoom.children if zoom is not None else mv.children, base, 0, height, 0)
    out = Text(no_wrap=True, overflow="crop")
    for y, row in enumerate(grid):
        for cell, style in row:
            out.append(cell[:col_width].ljust(col_width), style=style)
        if y < height - 1:
            out.append("\n")
    return out
