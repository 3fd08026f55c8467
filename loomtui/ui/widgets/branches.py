"""The alternates panel: the siblings at the current branch point, with joint logprob and a
preview, and the way to move between them."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...core.display import visible
from ...core.ratings import rating_mark
from ...core.tree import Node, Session
from ...render.models import MODEL_MARK, ModelColours


def shown_siblings(session: Session, node_id: str, show_hidden: bool = False) -> list[Node]:
    """The node and its siblings, in order, less the soft-hidden ones (unless
    ``show_hidden``; the node itself always)."""
    sibs = session.siblings(node_id)
    return sibs if show_hidden else [n for n in sibs if not n.hidden or n.id == node_id]


def branch_point(session: Session, node_id: str, show_hidden: bool = False) -> Node:
    """The nearest node from ``node_id`` up that has siblings shown (else ``node_id``)."""
    node = session.node(node_id)
    probe: Node | None = node
    while probe is not None:
        if len(shown_siblings(session, probe.id, show_hidden)) > 1:
            return probe
        probe = session.parent(probe.id)
    return node


def preview(node: Node, width: int = 40) -> str:
    text = visible(node.text[: width * 4], keep_newlines=False).strip()
    if node.error and not text:
        return "failed: " + visible(node.error, keep_newlines=False)
    return (text[: width - 1] + "…") if len(text) > width else (text or "(empty)")


def chain(session: Session, node: Node) -> list[Node]:
    """The node and the descendants shown when moving to it (newest child each step)."""
    leaf = session.descend(node.id)
    path = session.path(leaf.id)
    return path[[n.id for n in path].index(node.id) :]


def chain_logprob(nodes: list[Node]) -> float | None:
    total = 0.0
    for n in nodes:
        jl = n.joint_logprob()
        if jl is None:
            return None
        total += jl
    return total


def sibling_label(
    node: Node,
    current: bool,
    index: int,
    session: Session | None = None,
    width: int = 14,
    models: ModelColours | None = None,
) -> Text:
    """``▶ 2 Σ-12.3 preview`` for one sibling: joint logprob and text of its branch (with
    several models, ``▶ 2●Σ-12.3``: the ● in the colour of the sibling's model)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("▶" if current else " ", style="bold")
    text.append(f"{index + 1:>2}")
    coloured = models.style(node.model) if models is not None else None
    text.append(MODEL_MARK if coloured is not None else " ", style=coloured or "")
    nodes = chain(session, node) if session is not None else [node]
    jl = chain_logprob(nodes)
    text.append("  plain " if jl is None else f"Σ{jl:7.2f} ", style="dim")
    flags = ("★" if node.bookmark else "") + ("✗" if node.error else "")
    flags += f"×{node.count}" if node.count != 1 else ""  # identical draws merged here
    flags += rating_mark(node.rating)  # ▲ ◇ ▼ (core/ratings)
    if flags:
        text.append(flags + " ", style="bold")
    if node.label:
        text.append(f"[{visible(node.label, keep_newlines=False)}] ", style="italic")
    body = ""
    for n in nodes:  # only as much text as the preview can show
        body += (
            n.text[: width * 4]
            if n.tokens is None
            else "".join(t.text for t in n.tokens[: width * 2])
        )
        if len(body) > width * 4:
            break
    shown = visible(body[: width * 4], keep_newlines=False).strip() or preview(node)
    text.append(shown[: width - 1] + "…" if len(shown) > width else shown)
    if node.hidden:  # shown only when hidden nodes are asked for
        text.stylize("dim strike")
    return text


class BranchPanel(OptionList):
    """Siblings at the branch point nearest the cursor."""

    DEFAULT_CSS = "BranchPanel { height: 1fr; border: round $primary-darken-1; }"

    class Chosen(Message):
        def __init__(self, node_id: str) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.border_title = "branches"
        self._ids: list[str] = []
        self.models: ModelColours | None = None  # each model's colour (the app's)

    def show_point(self, session: Session, node_id: str, show_hidden: bool = False) -> None:
        """List the siblings at the branch point of ``node_id`` (the node under the cursor);
        soft-hidden ones only with ``show_hidden``."""
        point = branch_point(session, node_id, show_hidden)
        sibs = shown_siblings(session, point.id, show_hidden)
        self._ids = [n.id for n in sibs]
        # prefix "▶ 1 Σ -12.34 " is 14 cells; the scrollbar may take 2 more
        width = max(6, (self.content_size.width or 26) - 16)
        self.clear_options()
        self.add_options(
            [
                Option(sibling_label(n, n.id == point.id, i, session, width, self.models), id=n.id)
                for i, n in enumerate(sibs)
            ]
        )
        self.border_title = f"branches {self._ids.index(point.id) + 1}/{len(sibs)}"
        self.highlighted = self._ids.index(point.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Chosen(event.option.id))
