"""TradeoffExplorer: sweep formats × rates; points appear live on accuracy versus compression."""

from __future__ import annotations

import copy
import html
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as W

from tnviz.widgets._common import diagram_svg, figure_png

__all__ = ["TradeoffExplorer", "TradeoffPoint"]


@dataclass
class TradeoffPoint:
    """One trained student of the sweep."""

    format: str
    rate: float
    achieved_rate: float
    accuracy: float
    model: Any
    report: Any

    @property
    def label(self) -> str:
        return f"{self.format} @ {self.rate:g}: {100 * self.accuracy:.2f} %"


class TradeoffExplorer(W.VBox):
    """Compress ``teacher`` in each format at each rate, distill each student, and plot
    accuracy against the achieved rate as points arrive; choosing a point shows its layers'
    diagrams and its compression report.

    Args:
        teacher, train, test: the trained network and its data.
        formats, rates: the sweep.
        distill_kwargs: passed to :func:`tnviz.distill` (default: ``schedule="e2e", epochs=2``).

    Example:
        >>> explorer = TradeoffExplorer(teacher, train, test, formats=["tk", "mtk"])  # doctest: +SKIP
        >>> explorer.run()  # doctest: +SKIP
    """

    def __init__(
        self,
        teacher: Any,
        train: Any,
        test: Any,
        formats: Sequence[str] = ("cp", "tk", "tt", "mcp", "mtk", "mtt"),
        rates: Sequence[float] = (0.02, 0.05, 0.1),
        **distill_kwargs: Any,
    ) -> None:
        self.teacher, self.train, self.test = teacher, train, test
        self.formats, self.rates = tuple(formats), tuple(rates)
        self.distill_kwargs = {"schedule": "e2e", "epochs": 2, "progress": False, **distill_kwargs}
        self.points: list[TradeoffPoint] = []
        self.failures: list[str] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.plot = W.Image(format="png")
        self.chooser = W.Dropdown(options=[], description="point")
        self.details = W.HTML()
        self.status = W.HTML(f"{len(self.formats) * len(self.rates)} students to train")
        self.start_button = W.Button(description="Run sweep", icon="play")
        self.start_button.on_click(lambda _: self.run())
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger")
        self.stop_button.on_click(lambda _: self.stop_event.set())
        self.chooser.observe(lambda c: self.show(c["new"]), names="value")
        super().__init__(
            [W.HBox([self.start_button, self.stop_button, self.status]), self.plot, self.chooser, self.details]
        )
        self.redraw()

    def run(self, background: bool = True) -> threading.Thread | None:
        """Start the sweep (in a background thread unless ``background=False``)."""
        if self.thread is not None and self.thread.is_alive():
            return self.thread
        self.stop_event.clear()
        if not background:
            self._sweep()
            return None
        self.thread = threading.Thread(target=self._sweep, daemon=True)
        self.thread.start()
        return self.thread

    def _sweep(self) -> None:
        from tnviz.compression import compress, distill
        from tnviz.errors import TnvizError

        todo = [
            (f, r)
            for f in self.formats
            for r in self.rates
            if not any(p.format == f and p.rate == r for p in self.points)
        ]
        for k, (fmt, rate) in enumerate(todo):
            if self.stop_event.is_set():
                self.status.value = "stopped"
                return
            self.status.value = f"training {fmt} at rate {rate:g} ({k + 1} of {len(todo)})"
            try:
                student, report = compress(copy.deepcopy(self.teacher), format=fmt, rate=rate)
                result = distill(
                    student, self.teacher, self.train, self.test, stop=self.stop_event, **self.distill_kwargs
                )
            except TnvizError as err:
                self.failures.append(f"{fmt} @ {rate:g}: {err.message}")
                continue
            if result.test_accuracy is None:
                continue
            self.points.append(TradeoffPoint(fmt, rate, report.rate, result.test_accuracy, student, report))
            self.chooser.options = [(p.label, i) for i, p in enumerate(self.points)]
            self.redraw()
        self.status.value = f"done: {len(self.points)} students" + (
            f", {len(self.failures)} failed" if self.failures else ""
        )

    def redraw(self) -> None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3.4))
        ax = fig.add_subplot()
        for k, fmt in enumerate(self.formats):
            pts = sorted((p.achieved_rate, p.accuracy) for p in self.points if p.format == fmt)
            if pts:
                xs, ys = zip(*pts)
                ax.plot([100 * x for x in xs], [100 * y for y in ys], "o-", color=f"C{k}", label=fmt)
        ax.set_xlabel("compression rate (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        if self.points:
            ax.legend(fontsize=8)
        fig.tight_layout()
        self.plot.value = figure_png(fig)

    def show(self, index: int | None) -> None:
        """Show a point's layer diagrams and report."""
        if index is None or not 0 <= index < len(self.points):
            self.details.value = ""
            return
        point = self.points[index]
        parts = [point.report._repr_html_()]
        for layer in point.report.layers:
            module = point.model.get_submodule(layer.name)
            parts.append(f"<div><b>{html.escape(layer.name)}</b>{diagram_svg(module.diagram)}</div>")
        self.details.value = "".join(parts)
