"""The top-k menu and picks: the alternatives at the token cursor, and branching with one.

The app owns one :class:`Picking` and routes ctrl+k to it. A pick goes through the
:class:`~loomtui.engine.Engine` (which saves); a pick that exists already as a branch is
shown instead of added; with ``auto_continue`` the new branch goes on generating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..core.scale import Theme
from ..core.tokens import Alt
from .generation import Generation
from .host import DialogHost
from .navigation import Navigation

if TYPE_CHECKING:
    from .widgets.token_view import TokenView


class PickingHost(DialogHost, Protocol):
    """What a :class:`Picking` needs from the app that holds it."""

    generation: Generation
    navigation: Navigation
    scale_theme: Theme
    scale_mode: str
    auto_continue: bool

    @property
    def view(self) -> TokenView: ...


class Picking:
    """The top-k menu of the token under the cursor, and what a pick does."""

    def __init__(self, host: PickingHost) -> None:
        self.host = host

    def menu(self) -> None:
        """Open the top-k menu of the token under the cursor (a model token's only)."""
        from .widgets.topk import TopKMenu

        host = self.host
        if host.busy():
            return
        unit = host.view.current_unit()
        if unit is None or unit.token is None:
            host.notify("no token here: top-k menus belong to model tokens", timeout=3)
            return
        token = unit.token
        colors = [host.scale_theme.color_for(a.logprob, host.scale_mode) for a in token.top]
        node_id, offset = unit.node_id, unit.offset

        def picked(alt: Alt | None) -> None:
            if alt is not None:
                self.pick(node_id, offset, alt)

        settings = host.session.node(node_id).settings if node_id in host.session else None
        host.push_screen(TopKMenu(token, colors, settings), picked)

    def pick(self, node_id: str, offset: int, alt: Alt) -> None:
        """Branch at ``(node_id, offset)`` with ``alt``; continue generating if set. A branch
        that already starts with ``alt`` there is shown instead (nothing added or saved)."""
        host = self.host
        existing = host.engine.find_pick(node_id, offset, alt)
        if existing is not None:
            node, at = existing
            host.navigation.go_to(node.id, descend=True)
            host.navigation.show_point(node.id, at)
            host.notify("that branch exists already: showing it", timeout=2)
            return
        new = host.engine.pick(node_id, offset, alt)
        host.refresh_all()
        host.view.move_cursor(len(host.view.units) - 1)
        if host.auto_continue and host.engine.backend is not None:
            host.generation.start(new.id, None)
