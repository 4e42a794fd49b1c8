"""Plain text and HTML tables for the objects that print themselves (cost tables, reports)."""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["text_table", "html_table"]


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Columns padded to their widest cell, with a rule above and below the header."""
    widths = [max(len(str(x[k])) for x in [head, *rows]) for k in range(len(head))]
    rule = "-" * (sum(widths) + 2 * len(widths))
    lines = [rule, indent + "  ".join(str(h).ljust(w) for h, w in zip(head, widths)).rstrip(), rule]
    lines += [indent + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def html_table(head: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None = None) -> str:
    """The same table as HTML, every cell escaped."""
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    header = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{cap}<tr>{header}</tr>{body}</table>"
