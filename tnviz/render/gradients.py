"""A diagram beside the gradient diagram of each of its tensors, in the paper's style."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.panels import grid_of_panels
from tnviz.render.scene import build_scene, make_style

__all__ = ["draw_gradients"]


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
        columns: panels per row (default: as many as fit ``panels.MAX_WIDTH`` at 80 % or more of their
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
    return grid_of_panels(drawn, columns)
