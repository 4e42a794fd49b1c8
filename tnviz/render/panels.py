"""Several diagrams side by side in one figure, each panel at (or near) its natural size."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.scene import Scene, build_scene, make_style

__all__ = ["draw_many", "grid_of_panels"]

MAX_WIDTH = 9.5  # inches the panels may take side by side: a notebook cell's width at 100 dpi
TITLE_INCHES = 0.3  # room above each panel for its title


def draw_many(
    diagrams: Mapping[str, Diagram | str] | Sequence[Diagram | str], columns: int | None = None, **style: Any
) -> Any:
    """Draw several diagrams in one figure, titled, each at the scale its labels were placed
    for (as ``d.draw()`` draws one), in as many columns as fit a notebook cell.

    Drawing diagrams into ``plt.subplots`` axes instead scales each to its axes: a diagram
    larger than its axes gets smaller text (7 px labels for four formats in a 14-inch row).

    Args:
        diagrams: ``{title: diagram}`` (a spec string is parsed), or a sequence (titled by spec).
        columns: panels per row (default: as many as fit ``MAX_WIDTH`` at 80 % or more of their
            natural size).
        **style: drawing options (:class:`tnviz.render.scene.Style`), applied to every panel.

    Returns:
        A :class:`tnviz.render.mpl.DiagramFigure`; ``fig.axes`` holds the panels in order and
        ``fig.panels`` their ``(title, scene)``.

    Example:
        >>> fig = draw_many({"CP": "A: i r, B: j r, C: k r -> i j k", "TT": "G1: i r, G2: r j -> i j"})
        >>> [title for title, _ in fig.panels]
        ['CP', 'TT']
    """
    if isinstance(diagrams, Mapping):
        items = list(diagrams.items())
    else:
        items = [(None, d) for d in diagrams]
    if not items:
        raise TnvizError("draw_many needs at least one diagram", token="diagrams")
    panels: list[tuple[str, Scene | str]] = []
    for title, item in items:
        diagram = Diagram.parse(item) if isinstance(item, str) else item
        if not isinstance(diagram, Diagram):
            raise TnvizError(f"expected a Diagram or a spec, got {type(item).__name__}", token=str(title))
        panels.append((diagram.to_spec() if title is None else str(title), build_scene(diagram, make_style(style))))
    return grid_of_panels(panels, columns)


def grid_of_panels(panels: Sequence[tuple[str, Scene | str]], columns: int | None = None) -> Any:
    """``(title, scene)`` panels in a grid (a string in place of a scene is a message, in red).

    Each panel gets the room its largest neighbour needs at its natural size (the scale its
    labels were placed for), the whole capped at ``MAX_WIDTH``; text shrinks with a panel drawn
    smaller."""
    from tnviz.render.mpl import DiagramFigure, draw_matplotlib, natural_size

    sizes = [natural_size(scene) for _, scene in panels if not isinstance(scene, str)] or [(3.0, 2.5)]
    cell_w, cell_h = max(2.4, max(w for w, _ in sizes)), max(1.8, max(h for _, h in sizes))
    if columns is None:  # as many as fit with their text at no less than 80 % of its size
        columns = int(MAX_WIDTH // (0.8 * cell_w))
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    shrink = min(1.0, MAX_WIDTH / (columns * cell_w))
    cell_w, cell_h = cell_w * shrink, cell_h * shrink
    width, height = columns * cell_w, rows * (cell_h + TITLE_INCHES)
    fig = DiagramFigure(figsize=(width, height))
    fig.panels = list(panels)
    for k, (title, item) in enumerate(panels):
        row, col = divmod(k, columns)
        bottom = (rows - 1 - row) * (cell_h + TITLE_INCHES) / height
        ax = fig.add_axes((col * cell_w / width, bottom, cell_w / width, cell_h / height))
        if isinstance(item, str):
            ax.text(0.5, 0.5, "\n".join(textwrap.wrap(item, 38)), ha="center", va="center", fontsize=8, color="#b00")
            ax.axis("off")
        else:
            draw_matplotlib(item, ax=ax)
        ax.set_title(title, fontsize=10)
    fig.ax = fig.axes[0]
    return fig
