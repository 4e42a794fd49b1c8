"""Shared pieces of the widgets: SVG of a diagram, PNG of a figure, latest-only background work."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["diagram_svg", "figure_png", "LatestOnly"]


def diagram_svg(diagram: Any, **style: Any) -> str:
    """SVG text for a diagram (graphviz when present, else matplotlib)."""
    from tnviz.render import to_svg

    return to_svg(diagram, **style)


def figure_png(fig: Any) -> bytes:
    """A matplotlib Figure as PNG bytes (for an ``ipywidgets.Image``; no pyplot state)."""
    buffer = io.BytesIO()
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
