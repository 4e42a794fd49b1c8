"""Plain text and HTML tables for the objects that print themselves (cost tables, reports,
prices, collision counts) and for the widgets: one aligned HTML table everywhere.

Standard library only: every layer of tnviz may use it."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["text_table", "html_table"]

# A cell that reads as a number: 1,072 / 0.0981 / -3e-05 / 2,416.7 M / 93.00 % / 1.2k / 242.4M
_NUMBER = re.compile(r"^[-+−]?(\d[\d,]*)?(\.\d+)?([eE][-+]?\d+)?\s*(%|[kMG]|×)?$")
_EMPTY = ("", "—", "-", "nan", "None")
# Numbers never break; headers and text break at spaces, so a table narrows to the output area
# before it overflows (an auto-layout table is as wide as its content, at least as its longest word).
_CELL = "padding:2px 10px;border-bottom:1px solid #e0e0e0;"
_NOWRAP = "white-space:nowrap;"


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Columns padded to their widest cell, with a rule above and below the header."""
    widths = [max(len(str(x[k])) for x in [head, *rows]) for k in range(len(head))]
    rule = "-" * (sum(widths) + 2 * len(widths))
    lines = [rule, indent + "  ".join(str(h).ljust(w) for h, w in zip(head, widths)).rstrip(), rule]
    lines += [indent + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    text = text.strip()
    return bool(text) and any(c.isdigit() for c in text) and bool(_NUMBER.match(text))


def html_table(
    head: Sequence[str] | None,
    rows: Sequence[Sequence[Any]],
    caption: str | None = None,
    *,
    numeric: Sequence[bool] | None = None,
    css_class: str = "tn-table",
) -> str:
    """An aligned HTML table: ``<thead>`` of ``<th>``, ``<tbody>`` of ``<td>``, every cell
    escaped; number columns (every non-empty cell a number) right-aligned, header included,
    with tabular digits, so headers sit over their columns whatever the page's CSS. In a narrow
    output area headers and text cells wrap at their spaces (numbers never), and what still does
    not fit scrolls inside the table's own box (class ``tn-table-box``) instead of being cut.

    Args:
        head: the column names, or None for a table without a header row (key/value lists).
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
    width = max([len(head or ())] + [len(r) for r in cells])
    if numeric is None:
        numeric = []
        for k in range(width):
            column = [r[k].strip() for r in cells if k < len(r) and r[k].strip() not in _EMPTY]
            numeric.append(bool(column) and all(_is_number(c) for c in column))
    numeric = list(numeric) + [False] * (width - len(numeric))

    def style(k: int, header: bool = False) -> str:
        align = "right" if numeric[k] else "left"
        weight = "font-weight:600;border-bottom:1px solid #888;" if header else ""
        kind = "tn-num" if numeric[k] else "tn-text"
        wrap = _NOWRAP if numeric[k] and not header else ""
        return f' class="{kind}" style="{_CELL}{wrap}text-align:{align};{weight}"'

    parts = [
        '<div class="tn-table-box" style="max-width:100%;overflow-x:auto">'
        f'<table class="{html.escape(css_class)}" style="border-collapse:collapse;'
        'font-variant-numeric:tabular-nums;margin:4px 0">'
    ]
    if caption:
        parts.append(
            f'<caption style="caption-side:top;text-align:left;padding:2px 0">{html.escape(caption)}</caption>'
        )
    if head is not None:
        parts.append("<thead><tr>")
        parts += [f"<th{style(k, True)}>{html.escape(str(h))}</th>" for k, h in enumerate(head)]
        parts.append("</tr></thead>")
    parts.append("<tbody>")
    for r in cells:
        parts.append("<tr>" + "".join(f"<td{style(k)}>{html.escape(c)}</td>" for k, c in enumerate(r)) + "</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)
