"""Renderers for the instrument screens: plain data in, rich renderables out. Model text is
always appended as data (never markup), with control characters made visible."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ...core.display import visible as _visible
from ...instruments.compare import Comparison
from ...instruments.entropy import Point, most_uncertain, sparkline
from ...instruments.probe import RULE_TEXT, ProbeResult
from ...instruments.sweep import SweepResult


def visible(text: str) -> str:
    """Model text on one line: newlines and other controls shown as symbols."""
    return _visible(text, keep_newlines=False)


def bar(share: float, width: int = 24) -> str:
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")


def probe_table(results: list[ProbeResult], titles: list[str]) -> Group:
    """One table: the answers down, a probability and a bar per result (side by side)."""
    table = Table(box=None, expand=False, pad_edge=False)
    table.add_column("answer", no_wrap=True)
    for title in titles:
        table.add_column(Text(title), justify="right", no_wrap=True)
        table.add_column("share", no_wrap=True)
    first = results[0]
    shares = [r.shares() for r in results]
    for i, cand in enumerate(first.candidates):
        row: list[Text | str] = [Text(repr(visible(cand.text)))]
        for r, sh in zip(results, shares, strict=True):
            c = r.candidates[i]
            mark = "" if c.exact else "≈"
            row.append(Text(f"{mark}{c.prob:.2e}"))
            row.append(Text(f"{sh[i]:6.1%} ") + Text(bar(sh[i]), style="green"))
        table.add_row(*row)
    lines = [Text(f"rule: {RULE_TEXT[first.rule]}", style="dim")]
    for r, title in zip(results, titles, strict=True):
        top = r.top()
        top_text = "" if top is None else f"; top {visible(top[0].text)!r} {top[1]:.1%}"
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
        body.append(visible(seg.text), style=style)
    summary = Table(box=None, pad_edge=False)
    summary.add_column("")
    summary.add_column("model")
    summary.add_column("total logprob", justify="right")
    summary.add_column("mean H", justify="right")
    for label, side in (("A", cmp.a), ("B", cmp.b)):
        h = "n/a" if side.mean_entropy is None else f"{side.mean_entropy:.3f}"
        summary.add_row(label, Text(side.name), f"{side.total_logprob:.3f}", h)
    worst = Table(box=None, pad_edge=False)
    worst.add_column("token")
    worst.add_column("Δ logprob", justify="right")
    worst.add_column("KL(A‖B)", justify="right")
    for seg in cmp.disagreements(8):
        kl = "" if seg.kl is None else f"{seg.kl:.3f}"
        worst.add_row(Text(repr(visible(seg.text))), f"{seg.diff:+.3f}", kl)
    notes = [Text(f"note: {n}", style="yellow") for n in cmp.notes]
    head = Text("largest disagreements (B − A)", style="bold")
    return Group(summary, Text(""), body, Text(""), head, worst, *notes)


def sweep_rows(res: SweepResult, width: int = 60) -> Group:
    """Variants one per line; the stretch from where each rejoins the attractor in bold."""
    lines = [Text(res.summary(), style="bold")]
    rejoin = res.rejoin_offsets()
    for v, r in zip(res.variants, rejoin, strict=True):
        line = Text("* " if v.is_original else "  ")
        line.append(f"{visible(v.label)!r:>12} ", style="reverse")
        cont = visible(v.continuation)
        if r is None:
            line.append(cont)
        else:
            line.append(visible(v.continuation[:r]))
            line.append(visible(v.continuation[r:]), style="bold green")
        lines.append(line)
    lines.append(Text(f"mean {res.ngram}-gram overlap {res.mean_overlap():.2f}", style="dim"))
    return Group(*lines)


def entropy_strip(points: list[Point], width: int = 60, n: int = 5) -> Group:
    """The sparkline and the most uncertain positions, most uncertain first."""
    values = [p.entropy for p in points]
    if not points:
        return Group(Text("no tokens with entropies on this branch", style="dim"))
    bounded = not all(p.exact for p in points)
    lines = [
        Text(sparkline(values, width), style="cyan"),
        Text(
            f"{len(points)} tokens, max H {max(values):.2f} nats"
            + ("  (upper bounds from top-k)" if bounded else ""),
            style="dim",
        ),
    ]
    for i, p in enumerate(most_uncertain(points, n), start=1):
        lines.append(Text(f"{i}. H {p.entropy:5.2f}  ") + Text(repr(visible(p.text))))
    return Group(*lines)
