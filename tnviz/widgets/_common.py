"""Shared pieces of the widgets: SVG of a diagram, PNG of a figure, aligned HTML tables, warnings,
latest-only background work."""

from __future__ import annotations

import html
import io
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from tnviz.render.rendering_lock import savefig

__all__ = ["diagram_svg", "figure_png", "html_table", "report_html", "warning_html", "error_html", "LatestOnly"]

# A cell that reads as a number: 1,072 / 0.0981 / -3e-05 / 2,416.7 M / 93.00 % / 1.2k
_NUMBER = re.compile(r"^[-+−]?(\d[\d,]*)?(\.\d+)?([eE][-+]?\d+)?\s*(%|[kMG]|×)?$")
_EMPTY = ("", "—", "-", "nan", "None")
_CELL = "padding:2px 10px;border-bottom:1px solid #e0e0e0;white-space:nowrap;"


def diagram_svg(diagram: Any, **style: Any) -> str:
    """SVG text for a diagram (graphviz when present, else matplotlib)."""
    from tnviz.render import to_svg

    return to_svg(diagram, **style)


def figure_png(fig: Any) -> bytes:
    """A matplotlib Figure as PNG bytes (for an ``ipywidgets.Image``; no pyplot state)."""
    buffer = io.BytesIO()
    savefig(fig, buffer, format="png", dpi=90)  # under tnviz's lock: widgets draw from threads
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


def _is_number(text: str) -> bool:
    text = text.strip()
    return bool(text) and any(c.isdigit() for c in text) and bool(_NUMBER.match(text))


def html_table(
    headers: Sequence[str] | None,
    rows: Sequence[Sequence[Any]],
    *,
    caption: str | None = None,
    numeric: Sequence[bool] | None = None,
    css_class: str = "tn-table",
) -> str:
    """An aligned HTML table for a widget: ``<thead>`` of ``<th>``, ``<tbody>`` of ``<td>``,
    every cell escaped; number columns (every non-empty cell a number) right-aligned, header
    included, with tabular digits, so headers sit over their columns whatever the page's CSS.

    Args:
        headers: the column names, or None for a table without a header row (key/value lists).
        rows: the cells (anything; shown with ``str``).
        caption: a line above the table.
        numeric: per column, right-align it; default: detected from the cells.
        css_class: the table's class (cells get ``tn-num`` or ``tn-text``), for tests and styles.

    Returns:
        The HTML text.

    Example:
        >>> html_table(("format", "params"), [("cp", "3,618")]).count("text-align:right")
        2
    """
    cells = [[str(c) for c in r] for r in rows]
    width = max([len(headers or ())] + [len(r) for r in cells])
    if numeric is None:
        numeric = []
        for k in range(width):
            column = [r[k].strip() for r in cells if k < len(r) and r[k].strip() not in _EMPTY]
            numeric.append(bool(column) and all(_is_number(c) for c in column))
    numeric = list(numeric) + [False] * (width - len(numeric))

    def style(k: int, head: bool = False) -> str:
        align = "right" if numeric[k] else "left"
        weight = "font-weight:600;border-bottom:1px solid #888;" if head else ""
        kind = "tn-num" if numeric[k] else "tn-text"
        return f' class="{kind}" style="{_CELL}text-align:{align};{weight}"'

    parts = [
        f'<table class="{html.escape(css_class)}" style="border-collapse:collapse;'
        'font-variant-numeric:tabular-nums;margin:4px 0">'
    ]
    if caption:
        parts.append(
            f'<caption style="caption-side:top;text-align:left;padding:2px 0">{html.escape(caption)}</caption>'
        )
    if headers is not None:
        parts.append("<thead><tr>")
        parts += [f"<th{style(k, True)}>{html.escape(str(h))}</th>" for k, h in enumerate(headers)]
        parts.append("</tr></thead>")
    parts.append("<tbody>")
    for r in cells:
        parts.append("<tr>" + "".join(f"<td{style(k)}>{html.escape(c)}</td>" for k, c in enumerate(r)) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


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
