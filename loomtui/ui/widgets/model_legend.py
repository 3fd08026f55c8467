"""The models' legend: ``● name`` in each model's colour, one line a model, shown only while
the session holds two models or more (drawn by :func:`loomtui.render.models.model_legend`)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from ...render.models import ModelColours, model_legend


class ModelLegend(Static):
    DEFAULT_CSS = "ModelLegend { height: auto; max-height: 4; padding: 0 1; display: none; }"

    #: Called when the legend goes (the app is closing): the models it names are closed.
    closing: Callable[[], None] | None = None

    def on_unmount(self) -> None:
        if self.closing is not None:
            self.closing()

    def show_models(self, colours: ModelColours) -> None:
        self.display = colours.shown
        if colours.shown:
            width = (self.size.width or 28) - 2
            self.update(model_legend(colours, width=max(8, width)))
