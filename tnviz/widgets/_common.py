"""Shared pieces of the widgets: SVG of a diagram, PNG of a figure, aligned HTML tables, warnings,
latest-only background work."""

from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable
from typing import Any

from tnviz.render.rendering_lock import RENDER_LOCK
from tnviz.tables import html_table  # the one aligned table, re-exported for the widgets

__all__ = [
    "add_classes",
    "diagram_svg",
    "figure_png",
    "html_table",
    "report_html",
    "warning_html",
    "error_html",
    "LatestOnly",
    "rebounded",
]


def add_classes(prefix: str, parts: Any) -> None:
    """Give each ``(widget, name)`` the CSS class ``{prefix}{name}``, by which a browser test or a
    user's stylesheet finds it."""
    for widget, name in parts:
        widget.add_class(f"{prefix}{name}")


def rebounded(slider: Any, parent: Any, low: int, high: int) -> Any:
    """``slider`` with the bounds ``low..high``: the same slider where they are its bounds already,
    else a new one, the same in all else, put in its place among ``parent``'s children (the caller
    observes the new one; the old one is closed).

    Why not ``slider.max = high``: ipywidgets draws a slider with noUiSlider, whose Home and End
    keys keep the range the slider was first drawn with (its ``updateOptions`` does not renew it:
    End on a rank slider whose bound rose from 33 to 275 stopped at 33)."""
    import ipywidgets as W

    if (slider.min, slider.max) == (low, high):
        return slider
    fresh = W.IntSlider(
        value=min(max(slider.value, low), high),
        min=low,
        max=high,
        step=slider.step,
        description=slider.description,
        continuous_update=slider.continuous_update,
        disabled=slider.disabled,
        readout=slider.readout,
        readout_format=slider.readout_format,
        orientation=slider.orientation,
        behavior=slider.behavior,
        tooltip=slider.tooltip,
        layout=slider.layout,
        style=slider.style,
    )
    fresh._dom_classes = slider._dom_classes
    parent.children = tuple(fresh if child is slider else child for child in parent.children)
    slider.close()
    return fresh


def diagram_svg(diagram: Any, **style: Any) -> str:
    """SVG text for a diagram (graphviz when present, else matplotlib), scaled down to fit a
    narrow output area (its viewBox keeps the drawing whole) and never up."""
    from tnviz.render import to_svg

    return to_svg(diagram, **style).replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def figure_png(fig: Any, tight: bool = True) -> bytes:
    """A matplotlib Figure as PNG bytes (for an ``ipywidgets.Image``; no pyplot state).

    ``tight``: lay it out with ``fig.tight_layout()`` first. Both run under
    :data:`~tnviz.render.rendering_lock.RENDER_LOCK`: laying out tick text is the same
    thread-unsafe mathtext work as saving, and widgets draw from threads (a dashboard from its
    training thread)."""
    buffer = io.BytesIO()
    with RENDER_LOCK:
        if tight:
            fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


class LatestOnly:
    """Runs slow work in a background thread and applies only the newest request's result.

    ``submit(work, apply)`` bumps a generation counter; when ``work()`` finishes, ``apply`` runs
    only if no newer request came meanwhile, so a slow stale result never overwrites a fresh
    one. ``wait()`` blocks until the newest request is applied (tests, scripts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._done = threading.Event()
        self._done.set()

    def submit(self, work: Callable[[], Any], apply: Callable[[Any], None], background: bool = True) -> None:
        with self._lock:
            self._generation += 1
            mine = self._generation
            self._done.clear()

        def run() -> None:
            try:
                result = work()
            except Exception as err:  # noqa: BLE001 - shown to the user by apply
                result = err
            with self._lock:
                if mine != self._generation:
                    return
                try:
                    apply(result)
                finally:
                    self._done.set()

        if background:
            threading.Thread(target=run, daemon=True).start()
        else:
            run()

    def wait(self, timeout: float | None = 60) -> bool:
        return self._done.wait(timeout)


def warning_html(message: str) -> str:
    """A visible warning line (class ``tn-warning``), the message escaped."""
    return (
        '<div class="tn-warning" style="color:#8a4b00;background:#fff4e0;border-left:3px solid #e08a00;'
        f'padding:2px 8px;margin:2px 0">⚠ {html.escape(message)}</div>'
    )


def error_html(message: str) -> str:
    """A visible error line (class ``tn-error``), the message escaped."""
    return f'<div class="tn-error" style="color:#b00">{html.escape(message)}</div>'


def report_html(report: Any) -> str:
    """A compression report (anything with ``table()`` → (header, rows), and ``summary()``) as
    an aligned table under its summary; any other object by its own ``_repr_html_``.

    Example:
        >>> report_html(None)
        ''
    """
    if report is None:
        return ""
    if hasattr(report, "table"):
        head, rows = report.table()
        summary = report.summary() if hasattr(report, "summary") else None
        return html_table(head, rows, caption=summary, css_class="tn-table tn-report")
    if hasattr(report, "_repr_html_"):
        return report._repr_html_()
    return f"<pre>{html.escape(str(report))}</pre>"
