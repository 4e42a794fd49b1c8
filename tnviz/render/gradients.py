"""A diagram beside the gradient diagram of each of its tensors, in the paper's style."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.scene import build_scene, make_style

__all__ = ["draw_gradients"]

MAX_WIDTH = 9.5  # inches the panels may take side by side: a notebook cell's width at 100 dpi
TITLE_INCHES = 0.3  # room above each panel for its title


def draw_gradients(
    diagram: Diagram,
    tensors: Sequence[str] | None = None,
    upstream: str | None = None,
    columns: int | None = None,
    **style: Any,
) -> Any:
    """Draw ``diagram`` and, beside it, the gradient diagram of each tensor (:meth:`Diagram.grad`),
    the upstream gradient highlighted in green; a gradient the spec language cannot write yet
    gets a panel saying why.

    Args:
        diagram: the forward diagram.
        tensors: whose gradients to draw (default: every tensor).
        upstream: the name of the loss's gradient with respect to the output (default ``G``, or
            another free name when ``G`` is taken, as by a Tucker core).
        columns: panels per row (default: as many as fit ``MAX_WIDTH`` at 80 % or more of their
            natural size, the scale their labels were placed for).
        **style: drawing options (:class:`tnviz.render.scene.Style`), applied to every panel.

    Returns:
        A :class:`tnviz.render.mpl.DiagramFigure` (it shows itself in a notebook); ``fig.axes``
        holds the panels, the forward diagram first, and ``fig.panels`` their ``(title, scene)``
        (a refusal's message in place of a scene).

    Example:
        >>> fig = draw_gradients(Diagram.parse("A: i j, B: j k -> i k"))
        >>> len(fig.axes)
        3
    """
    from tnviz.core.grad import free_upstream_name
    from tnviz.render.mpl import DiagramFigure, draw_matplotlib, natural_size

    upstream = upstream or free_upstream_name(diagram)
    names = list(diagram.tensor_names if tensors is None else tensors)
    for name in names:
        if name not in diagram.tensor_names:
            raise TnvizError(f"no tensor {name!r}; expected one of {', '.join(diagram.tensor_names)}", token=str(name))
    panels: list[tuple[str, Any]] = [("forward", diagram)]
    for name in names:
        try:
            panels.append((f"∂L/∂{name}", diagram.grad(name, upstream)))
        except TnvizError as err:
            panels.append((f"∂L/∂{name}", err.message))
    drawn: list[tuple[str, Any]] = []
    for title, item in panels:
        if isinstance(item, str):
            drawn.append((title, item))
            continue
        # G green, and the kernels of ones that stand for it on an index the output sums
        standing = tuple(t for t in item.tensor_names if t not in diagram.tensor_names)
        panel_style = {"highlight": standing} if item is not diagram else {}
        drawn.append((title, build_scene(item, make_style({**style, **panel_style}))))
    # Each panel gets the room its largest neighbour needs at its natural size (the scale its
    # labels were placed for), the whole capped in width; text shrinks with a panel drawn smaller.
    sizes = [natural_size(scene) for _, scene in drawn if not isinstance(scene, str)] or [(3.0, 2.5)]
    cell_w, cell_h = max(2.4, max(w for w, _ in sizes)), max(1.8, max(h for _, h in sizes))
    if columns is None:  # as many as fit with their text at no less than 80 % of its size
        columns = int(MAX_WIDTH // (0.8 * cell_w))
    columns = max(1, min(columns, len(drawn)))
    rows = -(-len(drawn) // columns)
    shrink = min(1.0, MAX_WIDTH / (columns * cell_w))
    cell_w, cell_h = cell_w * shrink, cell_h * shrink
    width, height = columns * cell_w, rows * (cell_h + TITLE_INCHES)
    fig = DiagramFigure(figsize=(width, height))
    fig.panels = drawn
    for k, (title, item) in enumerate(drawn):
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
