"""The tree panel: every node, with bookmarks, labels and visited marks."""

from __future__ import annotations

import sys
from operator import attrgetter
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...core.display import visible
from ...core.ratings import passes, rating_mark
from ...core.tree import Node, Session
from ...render.models import MODEL_MARK, ModelColours

_BOOKMARK = attrgetter("bookmark")


def _head(node: Node) -> str:
    return node.plain[:80] if node.tokens is None else "".join(t.text for t in node.tokens[:40])


def _label_key(node: Node, current: bool) -> tuple[Any, ...]:
    """Everything :func:`node_label` shows: a label is redrawn only when this changes.

    Built for every node on every update, so it is cheap: the head text stands as the
    segment itself (its tokens list and length, or its plain string) rather than the
    joined head. A tokens list is replaced on a split and only grows or shrinks in place,
    so the list and its length change whenever its head can."""
    tokens = node.tokens
    return (
        node.bookmark,
        node.visited,
        node.label,
        node.plain if tokens is None else tokens,
        -1 if tokens is None else len(tokens),
        node.parent is None,
        node.error,
        node.hidden,
        node.count,
        current,
        node.origin,
        node.model,
        node.rating,
    )


def node_label(node: Node, current: bool, models: ModelColours | None = None) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    mark = "★" if node.bookmark else ("•" if node.visited else "·")
    # With several models in the session, the mark is in the node's model's colour.
    coloured = models.style(node.model) if models is not None else None
    if coloured is not None and not node.bookmark:
        mark = MODEL_MARK
    text.append(mark + " ", style=coloured or ("bold" if node.bookmark else "dim"))
    if node.rating is not None:  # ▲ good, ◇ so-so, ▼ bad (core/ratings)
        text.append(rating_mark(node.rating) + " ", style=_RATING_STYLES[node.rating])
    if node.label:
        text.append(visible(node.label, keep_newlines=False) + ": ", style="italic")
    body = visible(_head(node), keep_newlines=False).strip()[:24] or (
        "(root)" if node.parent is None else "(empty)"
    )
    if node.error:
        body = "✗ " + body
    if node.count != 1:  # identical draws merged into this node (dedup)
        text.append(f"×{node.count} ", style="bold")
    text.append(body, style="reverse" if current else ("" if node.origin == "model" else "cyan"))
    if node.hidden:  # listed only when hidden nodes are asked for
        text.stylize("dim strike")
    return text


_RATING_STYLES = {1: "bold green", 0: "yellow", -1: "bold red"}
#: A node holding a search match (ui/finding.py): its line is marked so.
FOUND_MARK, FOUND_STYLE = "◉ ", "black on yellow"


def shown_root(session: Session) -> str:
    """The node the panel shows as its root: a hoisted subtree's (session meta ``hoist``,
    see loomtui.ui.surgery), else the session's root."""
    hoist = session.meta.get("hoist")
    return hoist if isinstance(hoist, str) and hoist in session.nodes else session.root_id


class TreePanel(Tree[str]):
    """The session tree; enter on a node goes there.

    Lines are built lazily: a node's children get lines when it is first expanded (by the
    user, or because the current node is below it), so opening a 50,000-node loom builds the
    current branch and its siblings, not 50,000 labels. After each action only the built
    lines are brought up to date."""

    DEFAULT_CSS = "TreePanel { height: 1fr; border: round $primary-darken-1; overflow-x: hidden; }"

    class Chosen(Message):
        def __init__(self, node_id: str) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, **kw) -> None:
        super().__init__(Text("session"), **kw)
        self.border_title = "tree"
        self.show_root = False
        self.guide_depth = 2
        self._root_id: str | None = None
        #: session node id -> [its line here, its children as last shown (None: not built
        #: yet, the node was never expanded), its label's content as last shown
        #: (:func:`_label_key`)]: one record per built line, so the pass after each action
        #: looks each id up once.
        self._shown: dict[str, list[Any]] = {}
        self._session: Session | None = None  # the session last shown: expanding reads it
        self._marks = 0  # bookmarks in the session, counted by show_session
        self.show_hidden = False  # soft-hidden nodes listed (dimmed) or left out
        #: Each model's colour (the app's, shared with the branch panel); None: no marks.
        self.models: ModelColours | None = None
        self._models_shown = False  # whether the labels drawn carry model marks
        self.found: set[str] = set()  # nodes holding a search match (marked; ui/finding)
        #: Only nodes rated at least this (and the way to them) are listed; None: all.
        self.at_least: int | None = None
        self._keep: set[str] | None = None  # what that filter lets through, per update

    def show_session(self, session: Session, show_hidden: bool = False) -> None:
        """Bring the panel in line with the session (soft-hidden nodes and what hangs below
        them left out, unless ``show_hidden``: then they are listed dimmed).

        Called after every action, so it works incrementally: nodes that appeared under a
        built node are added where they belong, deleted ones removed, and only labels whose
        content changed are redrawn (a full rebuild of thousands of nodes takes a noticeable
        fraction of a second). A new root, or children that changed order, rebuild.
        """
        self._session = session
        self._keep = None if self.at_least is None else self._rated(session, self.at_least)
        if show_hidden != self.show_hidden:
            self.show_hidden = show_hidden
            self._root_id = None  # every line is listed again
        shown = self.models is not None and self.models.shown
        if shown != self._models_shown:  # a second model appeared: every mark changes
            self._models_shown = shown
            self._root_id = None
        if shown_root(session) != self._root_id or not self._update(session):
            self._rebuild(session)
        if shown != (self.models is not None and self.models.shown):
            self._models_shown = not shown  # the pass met a second model: mark every line
            self._rebuild(session)
        self._marks = sum(map(_BOOKMARK, session.nodes.values()))
        current = session.current_id
        self.reveal(session, current, expand=True)
        if not self.root.is_expanded:
            self.root.expand()  # expanding again would lay out every line again
        rec = self._shown.get(current)
        if rec is not None:
            # Line numbers are known once the tree has laid its lines out again.
            self.call_after_refresh(self.move_cursor, rec[0])
        n = len(session.nodes)
        self.border_title = f"tree ({n} nodes, {self._marks}★)"
        if self._root_id != session.root_id:
            self.border_title = f"tree (hoisted at {str(self._root_id)[:6]}: Z shows all)"
        if self.at_least is not None:  # f cycles the rating filter (ui/finding)
            self.border_title += f" rated ≥ {self.at_least:+d}".replace("+0", "0")

    def reveal(
        self, session: Session, node_id: str, *, expand: bool = False
    ) -> TreeNode[str] | None:
        """Build and expand the lines down to ``node_id`` (and the node itself with
        ``expand``) so that it shows; its line, or None if it is not in the session."""
        if node_id not in session.nodes:
            return None
        self._session = session
        path = session.path(node_id)
        top = shown_root(session)  # a hoisted subtree: the path from its root on
        path = path[next((i for i, n in enumerate(path) if n.id == top), len(path)) :]
        rec = None
        opened = False
        try:
            for i, node in enumerate(path):
                rec = self._shown.get(node.id)
                if rec is None:
                    return None  # not under the root shown here (show_session rebuilds)
                if i < len(path) - 1 or expand:
                    self._load(session, rec)
                    item = rec[0]
                    if not item.is_expanded:
                        # What TreeNode.expand() does, less its NodeExpanded message (a
                        # thousand of them for a deep branch; the children are built here).
                        item._expanded = True
                        item._updates += 1
                        opened = True
        finally:
            if opened:
                self._invalidate()
        return None if rec is None else rec[0]

    def _build(self) -> None:
        # Textual lays the lines out recursively, one call a level: the current branch of a
        # deep loom (a chain of a thousand generations, adaptive looming's depth) goes past
        # Python's default 1,000. A call per built line is the most it can need (Python
        # calls do not use the C stack from 3.11 on).
        limit = sys.getrecursionlimit()
        need = len(getattr(self, "_shown", ())) + 200  # (Tree's __init__ builds too)
        if need > limit:
            sys.setrecursionlimit(need)
        try:
            super()._build()
        finally:
            if need > limit:
                sys.setrecursionlimit(limit)

    def _toggle_node(self, node: TreeNode[str]) -> None:
        # Every way to expand (key, click, select) comes here: build the children first.
        rec = self._shown.get(node.data) if node.data else None
        if rec is not None and rec[1] is None and self._session is not None:
            self._load(self._session, rec)
        super()._toggle_node(node)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        # A node expanded some other way (expand_all, another widget): its children too.
        rec = self._shown.get(event.node.data) if event.node.data else None
        if rec is not None and rec[1] is None and self._session is not None:
            self._load(self._session, rec)

    def _load(self, session: Session, rec: list[Any]) -> None:
        """Give a built node's children their lines (once)."""
        if rec[1] is not None:
            return
        item = rec[0]
        node = session.nodes.get(item.data)
        if node is None:
            return
        kids = self._kids(session, node)
        for cid in kids:
            self._add(session, item, cid, None)
        rec[1] = list(kids)

    def _add(self, session: Session, parent: TreeNode[str], nid: str, before: int | None) -> None:
        """Add the line of ``nid`` under ``parent`` (its children wait for an expand)."""
        node = session.nodes[nid]
        is_current = nid == session.current_id
        label = self._label(node, is_current)
        item = (
            parent.add(label, data=nid)
            if before is None
            else parent.add(label, data=nid, before=before)
        )
        self._shown[nid] = [item, None, _label_key(node, is_current)]

    def _kids(self, session: Session, node: Node) -> list[str]:
        """The children listed under ``node``: the soft-hidden ones only when asked for."""
        keep = self._keep
        kids = node.children
        if keep is not None:  # a rating filter: the rated nodes and the way to them
            kids = [c for c in kids if c in keep]
        if self.show_hidden:
            return kids
        nodes = session.nodes
        return [c for c in kids if not nodes[c].hidden]

    def _label(self, node: Node, current: bool) -> Text:
        label = node_label(node, current, self.models)
        if node.id in self.found:
            label = Text(FOUND_MARK, style=FOUND_STYLE, no_wrap=True, overflow="ellipsis") + label
        return label

    def mark_found(self, found: set[str]) -> None:
        """Mark the lines of the nodes holding search matches (``found``; empty: none)."""
        changed = self.found ^ found
        self.found = set(found)
        current = self._session.current_id if self._session is not None else None
        for nid in changed:
            rec = self._shown.get(nid)
            node = self._session.nodes.get(nid) if self._session is not None else None
            if rec is not None and node is not None:
                rec[0].set_label(self._label(node, nid == current))

    def filter_rating(self, at_least: int | None) -> None:
        """List only nodes rated ``at_least`` or better and the way to them (None: all);
        the next :meth:`show_session` rebuilds the lines."""
        self.at_least = at_least
        self._root_id = None

    @staticmethod
    def _rated(session: Session, at_least: int) -> set[str]:
        """The nodes a rating filter keeps: those rated ``at_least`` or better, every node
        above them, and the current branch (the panel always shows where you are)."""
        nodes = session.nodes
        keep: set[str] = set()
        starts = [n.id for n in nodes.values() if n.rating is not None and passes(n, at_least)]
        for nid in [*starts, session.current_id]:
            while nid is not None and nid not in keep and nid in nodes:
                keep.add(nid)
                nid = nodes[nid].parent
        return keep

    def _rebuild(self, session: Session) -> None:
        self.clear()
        self._shown.clear()
        self._session = session
        self._root_id = shown_root(session)
        self._add(session, self.root, self._root_id, None)

    def _update(self, session: Session) -> bool:
        """Apply the session's changes since the last call; False where a rebuild is due.

        One lean pass over the built lines (one lookup per node, no copies, labels' keys
        without their text): it runs after every action."""
        nodes, shown = session.nodes, self._shown
        gone = [nid for nid in shown if nid not in nodes]
        if gone:
            gone_set = set(gone)
            dropped: list[str] = []
            for nid in gone:
                item = shown[nid][0]
                parent = item.parent
                if parent is None or parent.data not in gone_set:
                    stack = [item]  # its lines go with it, even of nodes moved elsewhere
                    while stack:
                        sub = stack.pop()
                        dropped.append(sub.data)
                        stack.extend(sub.children)
                    item.remove()  # removes its subtree too
            for nid in dropped:
                shown.pop(nid, None)
        current = session.current_id
        for nid, rec in list(shown.items()):
            node = nodes[nid]
            kids = self._kids(session, node)
            if rec[1] is not None and kids != rec[1]:
                kept = [c for c in kids if c in shown]
                before = [c for c in rec[1] if c in shown]
                if kept != before:
                    return False  # reordered or moved: rebuild
                item = rec[0]
                for index, cid in enumerate(kids):
                    if cid not in shown:
                        at = index if index < len(item.children) else None
                        self._add(session, item, cid, at)
                rec[1] = list(kids)
            key = _label_key(node, nid == current)
            if key != rec[2]:
                rec[0].set_label(self._label(node, nid == current))
                rec[2] = key
        return True

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        models, session = getattr(self, "models", None), getattr(self, "_session", None)
        if models is None or not models.shown or session is None:
            return text  # one model: no marks (and nothing to pay per line)
        # The cursor line's style covers the whole label: give the model mark its colour back.
        found = session.nodes.get(node.data) if node.data else None
        mark = models.style(found.model) if found is not None and not found.bookmark else None
        start = text.plain.find(MODEL_MARK, len(text) - len(node.label))
        if mark is not None and start >= 0:
            text.stylize(Style(color=mark.color, bold=True), start, start + 1)
        return text

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data:
            self.post_message(self.Chosen(event.node.data))
