"""Finding and judging: search the whole tree and jump between the matches, rate nodes and
filter the tree panel by rating, step through the bookmarks.

The app owns one :class:`Finding` (made on first use by :class:`FindingKeys`, the mixin that
routes the keys ``finding('...')`` to it). A search runs in a thread worker (the ``regex``
module releases the GIL while it matches, and stops at a deadline), and its result is
applied on the app's thread. After every change to the tree (an edit, a delete, a
generation, an undo: the engine's watchers) a search shown runs again the same way, so the
marks, the highlights and "3 of 17" stay true; the match jumped to stays the current one
while it still exists (found again by its text and where it starts in its branch's text),
and the cursor is not moved; a ratings change goes through the
:class:`~loomtui.engine.Engine` (which saves), then ``refresh_all`` brings the views in line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text

from ..core.display import visible
from ..core.ratings import RATINGS, rating_mark
from ..core.search import (
    Match,
    SearchError,
    SearchResult,
    compile_pattern,
    search,
)
from ..core.tree import Session
from .host import DialogHost
from .screens.search import BookmarkScreen, Query, SearchScreen

if TYPE_CHECKING:
    from .navigation import Navigation
    from .widgets.token_view import TokenView
    from .widgets.tree_panel import TreePanel

_RATING_WORDS = {1: "good", 0: "so-so", -1: "bad"}
#: The rating filter's steps, pressed in turn: everything, rated so-so or better, good only.
FILTER_STEPS: tuple[int | None, ...] = (None, 0, 1)


class FindingHost(DialogHost, Protocol):
    """What :class:`Finding` needs from the app that holds it."""

    navigation: Navigation

    @property
    def view(self) -> TokenView: ...

    def tree_panel(self) -> TreePanel: ...

    def keys_of(self, binding_id: str, default: str | None = None) -> str: ...

    def run_worker(self, work: Callable[[], Any], **kw: Any) -> Any: ...

    def call_from_thread(self, callback: Callable[..., Any], *args: Any) -> Any: ...

    def call_later(self, callback: Callable[..., Any], *args: Any) -> bool: ...


#: Where a match jumped to is: its text, where it starts on its branch (units from the
#: root: tokens, or characters of plain text; a split or a merge keeps it) and the node it
#: ends in; how a search run again finds it after a change.
Anchor = tuple[str, int, str]


class _Places:
    """Where matches start on their branches, each node's place computed once (a pass over
    the matches of a 50,000-node tree stays linear)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.before: dict[str, int] = {}  # node id -> units on the branch above it
        self.under: dict[str, bool] = {}  # node id -> whether ``ended`` is it or above it

    def _start(self, node_id: str) -> int | None:
        nodes, chain = self.session.nodes, []
        nid: str | None = node_id
        while nid is not None and nid not in self.before:
            node = nodes.get(nid)
            if node is None:
                return None
            chain.append(node)
            nid = node.parent
        units = self.before[nid] + len(nodes[nid]) if nid is not None else 0
        for node in reversed(chain):
            self.before[node.id] = units
            units += len(node)
        return self.before[node_id]

    def anchor(self, match: Match) -> Anchor | None:
        """Where ``match`` is (see :data:`Anchor`); None when its nodes are gone."""
        node_id, offset = match.start
        at = self._start(node_id) if match.node_id in self.session else None
        return None if at is None else (match.text, at + offset, match.node_id)

    def below(self, node_id: str, ended: str) -> bool:
        """Whether ``ended`` is ``node_id`` or above it (one ``ended`` per instance)."""
        nodes, chain, under = self.session.nodes, [], self.under
        under.setdefault(ended, True)
        nid: str | None = node_id
        while nid is not None and nid not in under:
            chain.append(nid)
            node = nodes.get(nid)
            nid = node.parent if node is not None else None
        found = under[nid] if nid is not None else False
        for c in chain:
            under[c] = found
        return found


class Finding:
    """Search and jump, ratings and the rating filter, bookmark jumps."""

    def __init__(self, host: FindingHost) -> None:
        self.host = host
        self.query: Query | None = None  # the last search asked for
        self.result: SearchResult | None = None  # its matches (None: no search shown)
        self.index = -1  # the match jumped to
        self.at_least: int | None = None  # the tree panel's rating filter
        self._texts: dict[str, Any] = {}  # node texts kept between searches
        self._serial = 0  # the latest search started (an older one's result is dropped)
        self._here: Anchor | None = None  # the match jumped to, found again after a change
        self._running: Query | None = None  # a first search not yet answered
        self._rerun_due = False  # a run again is queued on the app's thread
        host.engine.watchers.append(self._tree_changed)

    def act(self, what: str) -> None:
        """One key's work (see ui/keys.py: ``finding('...')``)."""
        actions: dict[str, Callable[[], None]] = {
            "search": self.ask,
            "next": lambda: self.jump(1),
            "prev": lambda: self.jump(-1),
            "clear": self.clear,
            "good": lambda: self.rate(1),
            "so-so": lambda: self.rate(0),
            "bad": lambda: self.rate(-1),
            "filter": self.cycle_filter,
            "bookmark-next": lambda: self.bookmark_step(1),
            "bookmark-prev": lambda: self.bookmark_step(-1),
            "bookmarks": self.bookmark_list,
        }
        actions[what]()

    # ------------------------------------------------------------------ search
    def ask(self) -> None:
        """The search dialog; enter starts the search."""
        keys = "/".join(self.host.keys_of(k) for k in ("search-next", "search-prev"))
        self.host.push_screen(SearchScreen(self.query, keys), self.start)

    def start(self, query: Query | None) -> None:
        """Search for ``query`` in a worker; a bad pattern is told in one line at once."""
        if query is None or not query.pattern:
            return
        try:
            compile_pattern(query.pattern, is_regex=query.is_regex, case=query.case)
        except SearchError as exc:
            self.host.notify(str(exc), severity="error", timeout=6)
            return
        self.query = query
        self._running = query
        self._run(query, again=False)

    def _run(self, query: Query, *, again: bool) -> None:
        """``query`` searched in a worker (with the search's deadline); ``again``: a search
        shown, run again after a change (the match jumped to kept, the cursor left)."""
        self._serial += 1
        serial, session, texts = self._serial, self.host.session, self._texts
        here = self._here if again else None

        def work() -> None:
            at: int | None = None
            try:
                found: SearchResult | Exception = search(
                    session, query.pattern, is_regex=query.is_regex, case=query.case, cache=texts
                )
                if here is not None:  # the match shown, looked for here too (off the app)
                    at = find_again(session, found, here)
            except Exception as exc:  # told, never a crash (the tree may change meanwhile)
                found = exc
            self.host.call_from_thread(self.found, serial, found, again, (here, at))

        self.host.run_worker(work, thread=True, group="search", exit_on_error=False)

    def _tree_changed(self, session: Session) -> None:
        """The engine's watcher, on the thread that changed the tree: a search shown (or
        under way) runs again on the app's thread, once for changes close together."""
        if (self.result is None and self._running is None) or self._rerun_due:
            return
        self._rerun_due = True
        self.host.call_later(self._search_again)

    def _search_again(self) -> None:
        self._rerun_due = False
        if self._running is not None:
            self._run(self._running, again=False)  # not answered yet: asked again, as new
        elif self.result is not None and self.query is not None:
            self._run(self.query, again=True)

    def found(
        self,
        serial: int,
        result: SearchResult | Exception,
        again: bool = False,
        kept: tuple[Anchor | None, int | None] = (None, None),
    ) -> None:
        """A search's result, on the app's thread: mark, highlight, jump to the first (run
        again after a change: the match shown kept current; ``kept``: the one the worker
        looked for, and where it found it)."""
        if serial != self._serial:
            return  # a newer search was started
        self._running = None
        if isinstance(result, Exception):
            self.host.notify(f"search failed: {result}", severity="error", timeout=6)
            return
        old, had = self.index, self.result is not None and bool(self.result.matches)
        self.result, self.index = result, -1
        panel = self.host.tree_panel()
        panel.mark_found(set(result.by_node()))
        said = visible(result.pattern, keep_newlines=False)[:40]
        if not result.matches:
            self._here = None
            self._show_found(None)
            panel.border_subtitle = Text(f"/{said}: no match")  # the pattern is data
            if again and not had:
                return  # said already (each change after is not told again)
            stopped = " (stopped: too slow)" if result.timed_out else ""
            left = " left" if again else ""
            self.host.notify(f"no match{left} for {said!r}{stopped}", severity="warning", timeout=3)
            return
        if not again:
            self.jump(1)
            return
        looked, at = kept
        if looked is not self._here and self._here is not None:  # jumped meanwhile
            at = find_again(self.host.session, result, self._here)
        if at is not None and at < len(result.matches):
            self.index = at
            self._here = _Places(self.host.session).anchor(result.matches[at])
            self._show_found(result.matches[at])
            self._subtitle(f"{at + 1} of {result.count_text}")
            return
        # The match shown is gone: the next key goes to the one now in its place.
        self.index = min(old, len(result.matches)) - 1 if old >= 0 else -1
        self._show_found(None)
        count = result.count_text
        self._subtitle(f"{count} match" if count == "1" else f"{count} matches")
        if self._here is not None:
            keys = self.host.keys_of("search-next")
            self.host.notify(f"the match shown changed: {count} now ({keys}: the next)", timeout=3)
        self._here = None

    def _subtitle(self, where: str) -> None:
        pattern = self.result.pattern if self.result is not None else ""
        self.host.tree_panel().border_subtitle = Text(  # Text: the pattern is never markup
            f"/{visible(pattern, keep_newlines=False)[:24]}: {where}"
        )

    def jump(self, step: int) -> None:
        """To the next (1) or previous (-1) match: its branch shown, the cursor on it."""
        result = self.result
        if result is None or not result.matches:
            keys = self.host.keys_of("search")
            self.host.notify(f"no search to step through ({keys} searches)", timeout=2)
            return
        if self.host.busy():
            return
        count = len(result.matches)
        self.index = (self.index + step) % count if self.index >= 0 or step > 0 else count - 1
        match = result.matches[self.index]
        if match.node_id not in self.host.session:
            self.host.notify("that match's node is gone: search again", severity="warning")
            return
        self._here = _Places(self.host.session).anchor(match)
        self._show_found(match)
        nav = self.host.navigation
        nav.go_to(match.node_id, descend=True)
        nav.show_point(*match.start)
        where = f"{self.index + 1} of {result.count_text}"
        self._subtitle(where)
        self.host.notify(where, timeout=2)

    def _show_found(self, here: Match | None) -> None:
        """Highlight every match in the document, ``here`` (the one jumped to) apart."""
        found: dict[str, list[tuple[int, int]]] = {}
        for m in self.result.matches if self.result is not None else ():
            for nid, lo, hi in m.spans:
                found.setdefault(nid, []).append((lo, hi))
        current: dict[str, list[tuple[int, int]]] = {}
        for nid, lo, hi in here.spans if here is not None else ():
            current.setdefault(nid, []).append((lo, hi))
        self.host.view.set_found(found, current)

    def clear(self) -> None:
        """Escape in the document (TokenView.ClearFound): forget the search, its marks and
        highlights. With none shown it is not the document's key (the app's cancel)."""
        if self.result is None:
            return
        self.result, self.index, self._here, self._running = None, -1, None, None
        self._serial += 1  # a search still running is dropped too
        self.host.view.set_found({})
        panel = self.host.tree_panel()
        panel.mark_found(set())
        panel.border_subtitle = ""
        self.host.notify("search cleared", timeout=2)

    # ------------------------------------------------------------------ ratings
    def rate(self, value: int) -> None:
        """Rate the node under the cursor ``value``; the same rating again clears it."""
        if value not in RATINGS or self.host.busy():
            return
        node = self.host.session.node(self.host.navigation.cursor_node())
        new = None if node.rating == value else value
        self.host.engine.set_rating(node.id, new)
        self.host.refresh_all(cursor=self.host.view.cursor)
        said = "rating cleared" if new is None else f"rated {rating_mark(new)} {new:+d}"
        self.host.notify(
            said.replace("+0", "0") + (f" ({_RATING_WORDS[new]})" if new is not None else ""),
            timeout=2,
        )

    def cycle_filter(self) -> None:
        """The tree panel's rating filter, one step on: all, rated so-so or better, good."""
        step = FILTER_STEPS.index(self.at_least) if self.at_least in FILTER_STEPS else 0
        self.at_least = FILTER_STEPS[(step + 1) % len(FILTER_STEPS)]
        self.host.tree_panel().filter_rating(self.at_least)
        self.host.refresh_all(cursor=self.host.view.cursor)
        said = {
            None: "tree: every node",
            0: "tree: rated ◇ so-so or better, and the way to them",
            1: "tree: rated ▲ good only, and the way to them",
        }[self.at_least]
        self.host.notify(said, timeout=3)

    # ------------------------------------------------------------------ bookmarks
    def _marks(self) -> list[str]:
        return [n.id for n in self.host.session.walk() if n.bookmark and not n.hidden]

    def bookmark_step(self, step: int) -> None:
        """To the next (1) or previous (-1) bookmark in tree order, from the current node."""
        session = self.host.session
        marks = self._marks()
        if not marks:
            self.host.notify(f"no bookmarks ({self.host.keys_of('bookmark')} sets one)", timeout=2)
            return
        order = {n.id: i for i, n in enumerate(session.walk())}
        here = order.get(session.current_id, -1)
        if step > 0:
            after = [m for m in marks if order[m] > here]
            target = after[0] if after else marks[0]
        else:
            before = [m for m in marks if order[m] < here]
            target = before[-1] if before else marks[-1]
        self.host.navigation.go_to(target, descend=False)
        self.host.notify(f"bookmark {marks.index(target) + 1} of {len(marks)}", timeout=2)

    def bookmark_list(self) -> None:
        """Every bookmark in a list; enter goes there."""
        session = self.host.session
        marks = self._marks()
        if not marks:
            self.host.notify(f"no bookmarks ({self.host.keys_of('bookmark')} sets one)", timeout=2)
            return
        shown = []
        for nid in marks:
            node = session.node(nid)
            head = visible(node.text[:60], keep_newlines=False).strip() or "(empty)"
            label = visible(node.label, keep_newlines=False) + ": " if node.label else ""
            shown.append((nid, f"★ {rating_mark(node.rating)} {label}{head}".replace("  ", " ")))

        def done(nid: str | None) -> None:
            if nid is not None and nid in session:
                self.host.navigation.go_to(nid, descend=False)

        self.host.push_screen(BookmarkScreen(shown, session.current_id), done)


def find_again(session: Session, result: SearchResult, here: Anchor) -> int | None:
    """The index of the match ``here`` in ``result`` (a search run after a change), if it
    is still there: the same text starting at the same place on a branch through the node
    it ended in (a split or a merge renames nodes; the place counts units from the root).
    Linear in the matches (each node's place computed once)."""
    text, at, ended = here
    places = _Places(session)
    # Merged away: the place and the text say enough; else a branch through it.
    above = {n.id for n in session.path(ended)} if ended in session else None
    for i, m in enumerate(result.matches):
        where = places.anchor(m) if m.text == text else None
        if where is None or where[1] != at:
            continue
        if above is None or m.node_id in above or places.below(m.node_id, ended):
            return i
    return None
