"""The entropy strip screen: entropy along the branch, and a jump to the most uncertain
tokens (each press of n from the one under the cursor to the next)."""

from __future__ import annotations

from textual.binding import Binding

from ....instruments import entropy
from ....render.instruments import entropy_strip
from .base import InstrumentScreen


class EntropyScreen(InstrumentScreen):
    TITLE_TEXT = "Entropy strip: how uncertain the model was along this branch"
    HINT_TEXT = "n: jump to the next most uncertain token; esc close"
    BINDINGS = [
        *InstrumentScreen.BINDINGS,
        Binding("n", "jump", "Jump to next uncertain"),
    ]

    def begin(self) -> None:
        info = self.backend.info() if self.backend is not None else None
        self.points = entropy.entropy_points(
            self.session, self.session.current_id, info.vocab_size if info else None
        )
        self.show(entropy_strip(self.points))
        self.set_status("")

    def action_jump(self) -> None:
        # The cycle runs from the token under the cursor, so n, n, n walks the top list.
        node_id, offset = self.point
        at = (node_id, offset) if offset is not None else None
        target = entropy.next_uncertain(self.points, at)  # type: ignore[arg-type]
        if target is None:
            return
        self.dismiss(None)
        self.inputs.jump_to(target.node_id, target.offset)
