"""TrainingDashboard: live loss and accuracy curves, a per-layer table, progress and Stop."""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import ipywidgets as W

from tnviz.widgets._common import add_classes, error_html, figure_png, report_html

__all__ = ["TrainingDashboard"]


class TrainingDashboard(W.VBox):
    """Attach to :func:`tnviz.distill` as a callback; or let :meth:`run` start training in a
    background thread, so the notebook stays responsive.

    The curves are redrawn at most every ``redraw_every`` seconds (every epoch end always).
    The metric history lives on the object (``steps``, ``epochs``), so tests read data, not
    pixels. Stop sets ``stop_event``; the run ends after the current step with its checkpoint
    at the last whole epoch. The report shows as an aligned table (headers over their columns,
    numbers right-aligned).

    CSS classes: ``tn-dashboard``, ``tn-dashboard-stop`` (the Stop button),
    ``tn-dashboard-status``, ``tn-dashboard-progress``, ``tn-dashboard-plot``,
    ``tn-dashboard-table`` (holds ``table.tn-table``).

    Example:
        >>> dash = TrainingDashboard(report=report)  # doctest: +SKIP
        >>> dash  # doctest: +SKIP
        >>> dash.run(student, teacher, train, test, schedule="e2e", epochs=5)  # doctest: +SKIP
    """

    def __init__(self, report: Any = None, title: str = "training", redraw_every: float = 0.5) -> None:
        self.steps: list[dict] = []
        self.epochs: list[dict] = []
        self.stop_event = threading.Event()
        self.redraw_every = redraw_every
        self.result = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._last_draw = 0.0
        self._total_epochs = 1
        self.running = False  # between on_start and on_end: what Stop can stop
        self.title = W.HTML(f"<b>{html.escape(title)}</b>")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="epochs")
        self.status = W.HTML("not started")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.plot = W.Image(format="png")
        self.plot.layout.display = "none"  # no broken-image icon before the first curves
        self.table = W.HTML(report_html(report))
        super().__init__([W.HBox([self.title, self.progress, self.stop_button, self.status]), self.plot, self.table])
        add_classes(
            "tn-",
            (
                (self, "dashboard"),
                (self.stop_button, "dashboard-stop"),
                (self.status, "dashboard-status"),
                (self.progress, "dashboard-progress"),
                (self.plot, "dashboard-plot"),
                (self.table, "dashboard-table"),
            ),
        )

    # --- distill callbacks -------------------------------------------------------------
    def on_start(self, info: dict) -> None:
        self.running = True
        self._total_epochs = max(1, info.get("epochs", 1))
        self.progress.max = self._total_epochs
        self.progress.description = f"epoch 1/{self._total_epochs}"
        self.status.value = f"{info.get('schedule')}: {', '.join(info.get('phases', []))}"

    def on_step(self, metrics: dict) -> bool:
        self.steps.append(metrics)
        self.progress.description = f"epoch {metrics['global_epoch']}/{self._total_epochs}"  # the one running
        now = time.perf_counter()
        if now - self._last_draw >= self.redraw_every:
            phase, step, steps = html.escape(metrics["phase"]), metrics["step"], metrics["steps"]
            self.status.value = f"{phase}: step {step}/{steps}, loss {metrics['loss']:.4f}"
            self.redraw()
        return not self.stop_event.is_set()

    def on_epoch(self, metrics: dict) -> bool:
        self.epochs.append(metrics)
        self.progress.value = min(self.progress.max, metrics["global_epoch"])
        self.redraw()
        return not self.stop_event.is_set()

    def on_end(self, result: Any) -> None:
        self.running = False
        self.result = result
        state = "stopped" if getattr(result, "stopped", False) else "done"
        acc = getattr(result, "test_accuracy", None)
        self.status.value = f"{state}" + (f": test accuracy {acc:.4f}" if acc is not None else "")
        self.stop_button.disabled = True
        self.redraw()

    # --- control -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to end after its current step (an idle dashboard says so and stays idle)."""
        if not self.running and (self.thread is None or not self.thread.is_alive()):
            self.status.value = "nothing is running"
            return
        self.stop_event.set()
        self.status.value = "stopping after this step…"

    def run(self, student: Any, teacher: Any, train: Any, test: Any = None, **distill_kwargs: Any) -> threading.Thread:
        """Start ``tnviz.distill(student, teacher, train, test, **kwargs)`` in a background
        thread with this dashboard attached; returns the thread (``.join()`` to wait)."""
        from tnviz.compression.distill import distill
        from tnviz.errors import TnvizError

        if self.thread is not None and self.thread.is_alive():
            raise TnvizError("this dashboard's run is still going: stop it (and wait for it) first", token="run")
        callbacks = [self, *distill_kwargs.pop("callbacks", ())]
        distill_kwargs.setdefault("progress", False)
        self.stop_event = threading.Event()  # a fresh one: a stopped run must stay stopped
        self.steps, self.epochs, self.result, self.error = [], [], None, None
        self.stop_button.disabled = False

        def target() -> None:
            try:
                distill(student, teacher, train, test, callbacks=callbacks, stop=self.stop_event, **distill_kwargs)
            except BaseException as err:  # noqa: BLE001 - shown in the dashboard
                self.error = err
                self.running = False
                self.status.value = error_html(f"error: {err}")

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        return self.thread

    def redraw(self) -> None:
        """Draw the curves now (train loss per step; train and test accuracy per epoch)."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self._last_draw = time.perf_counter()
        fig = Figure(figsize=(9, 3))
        ax1, ax2 = fig.subplots(1, 2)
        if self.steps:
            xs = [(s["global_epoch"] - 1) + s["step"] / max(1, s["steps"]) for s in self.steps]
            ax1.plot(xs, [s["loss"] for s in self.steps], lw=0.8, color="C0")
            # Where a phase begins (Seq-KD: each block, then the fine-tuning), a line and its name.
            for k, s in enumerate(self.steps):
                if s.get("phase") and (k == 0 or s.get("phase") != self.steps[k - 1].get("phase")):
                    start = s["global_epoch"] - 1
                    if k:
                        ax1.axvline(start, color="0.6", lw=0.8, ls="--")
                    ax1.annotate(
                        str(s["phase"]), (start, 1), xycoords=("data", "axes fraction"), xytext=(2, -2),
                        textcoords="offset points", va="top", fontsize=7, color="0.35",
                    )  # fmt: skip
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("training loss")
        ax1.set_yscale("log")
        if self.epochs:
            for key, style, label in (("train_acc", "o-", "train"), ("test_acc", "s-", "test")):
                points = [(e["global_epoch"], e[key]) for e in self.epochs if e.get(key) is not None]
                if points:
                    ax2.plot(*zip(*points), style, label=label)
            ax2.legend()
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("accuracy")
        ax1.set_xlim(0, self._total_epochs)  # the whole run's epochs, whole ones ticked
        ax2.set_xlim(0.5, self._total_epochs + 0.5)
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        self.plot.value = figure_png(fig)
        self.plot.layout.display = ""
