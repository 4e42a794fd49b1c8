"""TradeoffExplorer: sweep formats × rates; points appear live on accuracy versus compression."""

from __future__ import annotations

import html
import pathlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anywidget
import ipywidgets as W
import traitlets

from tnviz.errors import TnvizError
from tnviz.widgets._common import add_classes, diagram_svg, error_html, html_table, report_html

__all__ = ["TradeoffExplorer", "TradeoffPoint", "TradeoffPlot"]

EXAMPLE_BATCH = 32  # inputs of the test set the FLOPs are counted for
NO_POINT = "no point yet"  # the chooser's first entry, value NONE: never a blank dropdown
NONE = -1  # that entry's value (ipywidgets shows a Dropdown whose value is None as blank)


@dataclass
class TradeoffPoint:
    """One trained student of the sweep.

    Attributes:
        format, rate: the format and the target rate.
        achieved_rate: the compressed layers' parameters over their dense parameters.
        accuracy: the student's test accuracy.
        model: the student.
        report: its :class:`~tnviz.compression.CompressionReport` (FLOPs per sample, priced
            by :func:`tnviz.nn.pricing.price_layer` for the explorer's example input).
    """

    format: str
    rate: float
    achieved_rate: float
    accuracy: float
    model: Any
    report: Any

    @property
    def label(self) -> str:
        return f"{self.format} @ {self.rate:g}: {100 * self.accuracy:.2f} %"

    @property
    def params(self) -> int:
        """Parameters of the compressed layers."""
        return sum(r.params for r in self.report.layers)

    @property
    def dense_params(self) -> int:
        """Parameters of the same layers in the teacher."""
        return sum(r.dense_params for r in self.report.layers)

    @property
    def flops(self) -> int | None:
        """FLOPs per sample of the compressed layers (None when not priced)."""
        return getattr(self.report, "flops", None)

    @property
    def dense_flops(self) -> int | None:
        """FLOPs per sample of the same layers dense (None when not priced)."""
        return getattr(self.report, "dense_flops", None)


class TradeoffPlot(anywidget.AnyWidget):
    """The trade-off scatter (front end in ``tradeoff_plot.js``): SVG points that can be
    clicked. ``points`` are ``{index, format, rate, x, y, label}`` (x: rate in %, y: accuracy
    in %); a click sets ``selected`` (the point's index; -1 for none), which Python observes.

    CSS classes: ``tn-tradeoff-plot`` (the SVG), ``tn-tradeoff-point`` (a point, with
    ``data-index``, ``data-format``, ``data-rate``), ``tn-tradeoff-selected`` (the chosen
    one), ``tn-tradeoff-line``, ``tn-tradeoff-legend``, ``tn-tradeoff-empty``."""

    _esm = pathlib.Path(__file__).with_name("tradeoff_plot.js")
    points = traitlets.List(traitlets.Dict()).tag(sync=True)
    formats = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    empty_text = traitlets.Unicode("no points yet: press Run sweep").tag(sync=True)


class TradeoffExplorer(W.VBox):
    """Compress ``teacher`` in each format at each rate, distill each student, and plot
    accuracy against the achieved rate as points arrive (an SVG anywidget: it updates live in
    JupyterLab while the sweep runs). Clicking a point — or choosing it in the dropdown —
    shows its format and rate, accuracy, parameters and FLOPs, its compression report and
    its layers' diagrams.

    FLOPs are counted for ``example_input`` (default: the first 32 test inputs) by
    :func:`tnviz.nn.pricing.price_layer`, the plan the layers run (objective ``"time"``), as
    RankExplorer and ``cost_table`` count them.

    Buttons: **Run sweep** is enabled while some format × rate is left to train (at the start,
    and after **Stop**, which keeps the finished points; a student stopped mid-training is
    dropped, and Run trains it again). **Stop** is enabled while a sweep runs. When the sweep
    is done nothing is left to train (a failed point would fail again: it is listed in
    ``failures``), so both are disabled, until the sweep grows: the **formats** and **rates**
    boxes (comma-separated; editable while no sweep runs) add what is new to train, and **Clear**
    drops every point so that Run trains the whole sweep again (after a change of
    ``distill_kwargs``, say).

    Args:
        teacher, train, test: the trained network and its data.
        formats, rates: the sweep.
        example_input: the input batch the FLOPs are counted for (default: the first
            ``EXAMPLE_BATCH`` inputs of ``test``).
        compress_kwargs: passed to :func:`tnviz.compress` (``include``, ``skip``, ``init``, …).
        distill_kwargs: passed to :func:`tnviz.distill` (default: ``schedule="e2e", epochs=2``).

    Attributes: ``points`` (:class:`TradeoffPoint` s), ``failures``, ``running``, ``selected`` (the shown
    point or None), ``plot`` (:class:`TradeoffPlot`), ``chooser``, ``details``, ``status``,
    ``start_button``, ``stop_button``, ``clear_button``, ``formats_box``, ``rates_box``.

    CSS classes: ``tn-tradeoff-explorer``, ``tn-tradeoff-run``, ``tn-tradeoff-stop``,
    ``tn-tradeoff-clear``, ``tn-tradeoff-formats``, ``tn-tradeoff-rates``,
    ``tn-tradeoff-status``, ``tn-tradeoff-chooser``, ``tn-tradeoff-details`` (holds
    ``table.tn-table`` and ``.tn-tradeoff-layer`` diagrams); the plot's as :class:`TradeoffPlot`.

    Example:
        >>> explorer = TradeoffExplorer(teacher, train, test, formats=["tk", "mtk"])  # doctest: +SKIP
        >>> explorer.run()  # doctest: +SKIP
        >>> explorer.plot.selected = 0  # as a click on the first point  # doctest: +SKIP
    """

    def __init__(
        self,
        teacher: Any,
        train: Any,
        test: Any,
        formats: Sequence[str] = ("cp", "tk", "tt", "mcp", "mtk", "mtt"),
        rates: Sequence[float] = (0.02, 0.05, 0.1),
        *,
        example_input: Any = None,
        compress_kwargs: dict | None = None,
        **distill_kwargs: Any,
    ) -> None:
        self.teacher, self.train, self.test = teacher, train, test
        self.formats, self.rates = _checked_formats(formats), _checked_rates(rates)
        self.distill_kwargs = {"schedule": "e2e", "epochs": 2, "progress": False, **distill_kwargs}
        self.compress_kwargs = dict(compress_kwargs or {})
        self.example_input = example_input if example_input is not None else _example_batch(test, EXAMPLE_BATCH)
        self.points: list[TradeoffPoint] = []
        self.failures: list[str] = []
        self._failed: set[tuple[str, float]] = set()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self._running = False  # a sweep is under way (in a thread or in the foreground)
        self._edited_while_running = False
        self._state = threading.RLock()  # _running, and the status it goes with
        # The plot's and the dropdown's choice are changed together, under this lock; while the
        # thread holding it changes them, their observers (run by that same thread) must not
        # answer, and a click from another thread waits for the lock instead of being dropped.
        self._choosing = threading.RLock()
        self._syncing = False  # set and read only by the thread holding _choosing
        self.plot = TradeoffPlot(formats=list(self.formats))
        self.chooser = W.Dropdown(options=[(NO_POINT, NONE)], value=NONE, description="point")
        self.details = W.HTML()
        self.status = W.HTML(f"{_students(len(self.formats) * len(self.rates))} to train")
        self.start_button = W.Button(description="Run sweep", icon="play")
        self.start_button.on_click(lambda _: self.run())
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button = W.Button(description="Clear", icon="trash", tooltip="drop every point and failure")
        self.clear_button.on_click(lambda _: self.clear())
        self.formats_box = W.Text(value=", ".join(self.formats), description="formats", continuous_update=False)
        # repr: a rate read back is the rate trained, not a rounding of it
        self.rates_box = W.Text(value=", ".join(repr(r) for r in self.rates), description="rates",
                                continuous_update=False)  # fmt: skip
        self.formats_box.observe(lambda _: self._sweep_edited(), names="value")
        self.rates_box.observe(lambda _: self._sweep_edited(), names="value")
        self.chooser.observe(lambda c: self.select(None if c["new"] == NONE else c["new"]), names="value")
        self.plot.observe(lambda c: self.select(c["new"] if c["new"] >= 0 else None), names="selected")
        add_classes(
            "tn-tradeoff-",
            (
                (self, "explorer"),
                (self.start_button, "run"),
                (self.stop_button, "stop"),
                (self.clear_button, "clear"),
                (self.formats_box, "formats"),
                (self.rates_box, "rates"),
                (self.status, "status"),
                (self.chooser, "chooser"),
                (self.details, "details"),
            ),
        )
        wrap = W.Layout(flex_flow="row wrap")
        buttons = W.HBox([self.start_button, self.stop_button, self.clear_button, self.status], layout=wrap)
        sweep = W.HBox([self.formats_box, self.rates_box], layout=wrap)
        super().__init__([sweep, buttons, self.plot, self.chooser, self.details])
        self._set_buttons(running=False)
        self.redraw()

    # --- the sweep ----------------------------------------------------------------------
    def todo(self) -> list[tuple[str, float]]:
        """The (format, rate) pairs still to train: neither a point yet nor failed."""
        done = {(p.format, p.rate) for p in self.points} | self._failed
        return [(f, r) for f in self.formats for r in self.rates if (f, r) not in done]

    def _set_buttons(self, running: bool) -> None:
        self.start_button.disabled = running or not self.todo()
        self.stop_button.disabled = not running
        self.clear_button.disabled = running or not (self.points or self._failed)
        self.formats_box.disabled = self.rates_box.disabled = running

    def _sweep_edited(self) -> None:
        """The formats or rates box changed: the sweep follows, or the status says why not."""
        with self._state:
            if self._running:  # the boxes are disabled meanwhile; a change from code applies at the end
                self._edited_while_running = True
                return
            try:
                formats = _checked_formats(_items(self.formats_box.value))
                rates = _checked_rates(_items(self.rates_box.value))
            except (TnvizError, ValueError) as err:
                self.status.value = error_html(getattr(err, "message", str(err)))
                self.start_button.disabled = True
                return
            self.formats, self.rates = formats, rates
            self.plot.formats = self._plotted_formats()
            self.status.value = f"{_students(len(self.todo()))} to train"
            self._set_buttons(running=False)

    def _plotted_formats(self) -> list[str]:
        """The sweep's formats, then those of points trained before the sweep was edited (one colour each)."""
        extra = [p.format for p in self.points if p.format not in self.formats]
        return list(dict.fromkeys([*self.formats, *extra]))

    def clear(self) -> None:
        """Drop every point and failure (not while a sweep runs): Run trains the whole sweep again."""
        with self._state:
            if self._running:
                return
            self.points, self.failures, self._failed = [], [], set()
            self.select(None)
            self._refresh_chooser()
            self.redraw()
            self._sweep_edited()  # the status and buttons as the boxes stand (an error in them stays shown)

    def run(self, background: bool = True) -> threading.Thread | None:
        """Start the sweep (in a background thread unless ``background=False``); a second call
        while one runs returns the running thread.

        Returns:
            The thread, or None when run in the foreground or nothing is left to train.
        """
        with self._state:
            if self._running:
                return self.thread if self.thread is not None and self.thread.is_alive() else None
            if not self.todo():
                self._set_buttons(running=False)
                return None
            self._running = True
            self.stop_event.clear()
            self._set_buttons(running=True)
        if not background:
            self._sweep()
            return None
        self.thread = threading.Thread(target=self._sweep, daemon=True)
        self.thread.start()
        return self.thread

    @property
    def running(self) -> bool:
        """Whether a sweep is under way."""
        return self._running

    def stop(self) -> None:
        """Ask the sweep to end after the current training step (finished points stay). With
        no sweep running there is nothing to stop: the status stays as it is."""
        with self._state:
            if not self._running:
                self.stop_button.disabled = True
                return
            self.stop_event.set()
            self.stop_button.disabled = True
            self.status.value = "stopping after the current training step (a decomposition under way ends first)…"

    def compress_point(self, format: str, rate: float) -> tuple[Any, Any]:
        """The untrained student of one point and its report (FLOPs priced for
        ``example_input``): what the sweep trains.

        Returns:
            ``(student, report)`` as :func:`tnviz.compress` returns.
        """
        from tnviz.compression import compress

        return compress(
            self.teacher, format=format, rate=rate, example_input=self.example_input, **self.compress_kwargs
        )

    def _sweep(self) -> None:
        from tnviz.compression import distill

        todo = self.todo()
        stopped = False
        try:
            for k, (fmt, rate) in enumerate(todo):
                with self._state:  # not over a "stopping…" just shown
                    if self.stop_event.is_set():
                        stopped = True
                        break
                    self.status.value = f"training {fmt} at rate {rate:g} ({k + 1} of {len(todo)})"
                try:
                    student, report = self.compress_point(fmt, rate)
                    result = distill(
                        student, self.teacher, self.train, self.test, stop=self.stop_event, **self.distill_kwargs
                    )
                except TnvizError as err:
                    self.failures.append(f"{fmt} @ {rate:g}: {err.message}")
                    self._failed.add((fmt, rate))
                    continue
                if getattr(result, "stopped", False):
                    stopped = True  # a half-trained student is no point of the trade-off
                    break
                if result.test_accuracy is None:
                    self.failures.append(f"{fmt} @ {rate:g}: no test accuracy")
                    self._failed.add((fmt, rate))
                    continue
                self.points.append(TradeoffPoint(fmt, rate, report.rate, result.test_accuracy, student, report))
                self._refresh_chooser()
                self.redraw()
        except Exception as err:  # noqa: BLE001 - shown in the widget, not lost in a thread
            self._finish(error_html(f"error: {err}"))
            raise
        except BaseException:  # an interrupted foreground run: Run sweep can go on
            self._finish(f"interrupted: {_students(len(self.points))}, {len(self.todo())} left")
            raise
        failed = f", {len(self.failures)} failed" if self.failures else ""
        if stopped:
            left = len(self.todo())
            self._finish(f"stopped: {_students(len(self.points))}, {left} left (Run sweep goes on){failed}")
        else:
            self._finish(f"done: {_students(len(self.points))}{failed}")

    def _finish(self, status: str) -> None:
        """The sweep is over: its last status and the buttons, together (a Stop pressed just
        now cannot leave "stopping…" after it)."""
        with self._state:
            self.status.value = status
            self._running = False
            self._set_buttons(running=False)
            if self._edited_while_running:  # the boxes changed from code during the sweep: now they count
                self._edited_while_running = False
                self._sweep_edited()

    # --- the plot and the chosen point -----------------------------------------------------
    def redraw(self) -> None:
        """Send the points to the plot (it redraws in the browser)."""
        self.plot.points = [
            {
                "index": i,
                "format": p.format,
                "rate": p.rate,
                "x": 100 * p.achieved_rate,
                "y": 100 * p.accuracy,
                "label": p.label + f" (achieved rate {p.achieved_rate:.4f})",
            }
            for i, p in enumerate(self.points)
        ]

    def _refresh_chooser(self) -> None:
        """The dropdown lists every point (from the sweep's thread); the chosen one stays."""
        with self._choosing:
            keep = self.chooser.value
            self._syncing = True
            try:
                first = (f"choose one of {_points(len(self.points))}", NONE) if self.points else (NO_POINT, NONE)
                self.chooser.options = [first, *((p.label, i) for i, p in enumerate(self.points))]
                self.chooser.value = keep  # ipywidgets resets the value with new options
            finally:
                self._syncing = False

    @property
    def selected(self) -> TradeoffPoint | None:
        """The point shown, or None."""
        index = self.plot.selected
        return self.points[index] if 0 <= index < len(self.points) else None

    def select(self, index: int | None) -> None:
        """Show point ``index`` (None: none), as a click on it or choosing it in the dropdown.

        Safe from any thread: a click while the sweep refreshes the dropdown waits for it."""
        with self._choosing:
            if self._syncing:  # the echo of this thread's own change to the plot or dropdown
                return
            if index is not None and not 0 <= index < len(self.points):
                index = None
            self._syncing = True
            try:
                self.plot.selected = -1 if index is None else index
                self.chooser.value = NONE if index is None else index
            finally:
                self._syncing = False
            self.show(index)

    def show(self, index: int | None) -> None:
        """Show a point's figures, report and layer diagrams in ``details``."""
        if index is None or not 0 <= index < len(self.points):
            self.details.value = ""
            return
        point = self.points[index]
        report = point.report
        flops = "—"
        if point.flops is not None and point.dense_flops:
            flops = (
                f"{point.flops / 1e6:,.2f} M of {point.dense_flops / 1e6:,.2f} M per sample "
                f"({point.flops / point.dense_flops:.3f})"
            )
        rows = [
            ("format", point.format),
            ("target rate", f"{point.rate:g}"),
            ("achieved rate", f"{point.achieved_rate:.4f}"),
            ("test accuracy", f"{100 * point.accuracy:.2f} %"),
            ("parameters", f"{point.params:,} of {point.dense_params:,}"),
            ("FLOPs", flops),
            ("planned for", f"objective {report.objective!r}" if getattr(report, "objective", None) else "—"),
        ]
        parts = [
            f"<div class='tn-tradeoff-summary'><b>{html.escape(point.label)}</b>",
            html_table(None, rows),
            "</div>",
            report_html(report),
        ]
        for layer in report.layers:
            price = getattr(layer, "price", None)
            diagram = price.diagram if price is not None else point.model.get_submodule(layer.name).diagram
            title = (
                f"<div><b>{html.escape(layer.name)}</b> {html.escape(layer.kind)}, {html.escape(layer.format)}</div>"
            )
            parts.append(f"<div class='tn-tradeoff-layer'>{title}{diagram_svg(diagram)}</div>")
        self.details.value = "".join(parts)


def _students(n: int) -> str:
    return f"{n} student" if n == 1 else f"{n} students"


def _points(n: int) -> str:
    return f"{n} point" if n == 1 else f"{n} points"


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]


def _checked_formats(formats: Sequence[str]) -> tuple[str, ...]:
    from tnviz.core.formats import FORMATS

    names = tuple(dict.fromkeys(str(f) for f in formats))
    if not names:
        raise TnvizError("formats: name at least one format", token="formats")
    for name in names:
        if name not in FORMATS or name == "dense":
            known = ", ".join(f for f in FORMATS if f != "dense")
            raise TnvizError(f"formats: unknown format {name!r}; expected some of {known}", token=name)
    return names


def _checked_rates(rates: Sequence[Any]) -> tuple[float, ...]:
    checked = []
    for rate in rates:
        try:
            value = float(rate)
        except (TypeError, ValueError):
            raise TnvizError(f"rates: {rate!r} is not a number; expected rates in (0, 1]", token=str(rate)) from None
        if not 0 < value <= 1:
            raise TnvizError(f"rates: {rate!r} is outside (0, 1]", token=str(rate))
        checked.append(value)
    if not checked:
        raise TnvizError("rates: give at least one rate in (0, 1]", token="rates")
    return tuple(dict.fromkeys(checked))


def _example_batch(data: Any, n: int) -> Any:
    """The first ``n`` inputs of a dataset (of a DataLoader's dataset; a TensorDataset's first
    tensor), stacked; None where they cannot be had (the report then shows no FLOPs).

    The dataset itself is indexed: a ``Subset`` (which has a ``.dataset`` too, the whole one it
    picks from) gives its own first inputs, not its base dataset's."""
    import torch
    from torch.utils.data import DataLoader

    if isinstance(data, DataLoader):
        data = data.dataset
    tensors = getattr(data, "tensors", None)
    if tensors and isinstance(tensors, (tuple, list)):
        return tensors[0][:n]
    try:
        items = [data[i] for i in range(min(n, len(data)))]
        return torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items])
    except Exception:  # noqa: BLE001 - an unusual dataset: no FLOPs rather than no explorer
        return None
