"""A plan drawn as its contraction tree (a dendrogram): the tensors along the bottom, each pairwise
step a node above its two operands, coloured by the step's FLOPs and sized by its result (as
cotengra's ``plot_tree``), so where a plan spends its work shows at a glance."""

from __future__ import annotations

import math
from typing import Any

from tnviz.errors import TnvizError

__all__ = ["draw_plan"]


def _tree(plan: Any) -> tuple[dict[int, tuple[int, int]], dict[int, Any], int]:
    """Children of each pairwise step's result, each result's step, and the root; unary steps
    (a diagonal or a sum on one tensor) pass their operand through."""
    alias: dict[int, int] = {}
    children: dict[int, tuple[int, int]] = {}
    step_of: dict[int, Any] = {}

    def resolve(i: int) -> int:
        while i in alias:
            i = alias[i]
        return i

    root = 0
    for step in plan.steps:
        if len(step.operands) == 1:
            alias[step.result] = resolve(step.operands[0])
            root = resolve(step.result)
            continue
        a, b = (resolve(o) for o in step.operands)
        children[step.result] = (a, b)
        step_of[step.result] = step
        root = step.result
    return children, step_of, root


def _places(children: dict, root: int) -> tuple[dict[int, float], dict[int, int]]:
    """Each node's x and height: leaves left to right in the tree's order, a node above its
    children's middle, one level above the higher of them."""
    x: dict[int, float] = {}
    height: dict[int, int] = {}
    leaves = 0
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if node not in children:
            x[node], height[node] = float(leaves), 0
            leaves += 1
        elif done:
            a, b = children[node]
            x[node] = (x[a] + x[b]) / 2
            height[node] = 1 + max(height[a], height[b])
        else:
            stack += [(node, True), (children[node][1], False), (children[node][0], False)]
    return x, height


def draw_plan(plan: Any, ax: Any = None, title: str | None = None) -> Any:
    """Draw a plan's contraction tree.

    Args:
        plan: a :class:`~tnviz.core.plan.Plan` (or a sliced plan: its piece is drawn).
        ax: an Axes to draw into; None for a new figure (made without pyplot).
        title: the title; default the total FLOPs.

    Returns:
        The Figure (its Axes as ``.ax``).

    Example:
        >>> from tnviz.templates import mps, norm
        >>> fig = draw_plan(norm(mps(6)).plan())
        >>> len(fig.ax.collections) > 0
        True
    """
    from matplotlib import colormaps, colors

    from tnviz.render.mpl import DiagramFigure

    plan = getattr(plan, "piece", plan)
    if not hasattr(plan, "steps"):
        raise TnvizError(f"expected a Plan, got {type(plan).__name__}", token=type(plan).__name__)
    names = plan.diagram.tensor_names
    children, step_of, root = _tree(plan)
    x, height = _places(children, root)
    order = sum(1 for n in x if n not in children)
    if ax is None:
        fig = DiagramFigure(figsize=(min(14.0, 1.5 + 0.35 * order), 4.5))
        ax = fig.ax = fig.add_axes((0.04, 0.12, 0.86, 0.78))
    else:
        fig = ax.figure
    flops = {node: max(1, step.flops) for node, step in step_of.items()}
    top = max(flops.values(), default=1)
    norm = colors.LogNorm(vmin=max(1, min(flops.values(), default=1)), vmax=max(top, 2))
    cmap = colormaps["viridis"]
    for node, (a, b) in children.items():  # dendrogram elbows: with leaves in tree order, nothing crosses
        ax.plot(
            [x[a], x[a], x[b], x[b]],
            [height[a], height[node], height[node], height[b]],
            color="#999999",
            linewidth=1.0,
            zorder=1,
        )
    nodes = list(children)
    sizes = [20 + 12 * math.log2(max(2, step_of[n].size)) for n in nodes]
    points = ax.scatter(
        [x[n] for n in nodes],
        [height[n] for n in nodes],
        s=sizes,
        c=[flops[n] for n in nodes],
        cmap=cmap,
        norm=norm,
        edgecolors="#333333",
        linewidths=0.6,
        zorder=3,
    )
    leaves = [n for n in x if n not in children]
    ax.scatter([x[n] for n in leaves], [0] * len(leaves), s=18, color="#dddddd", edgecolors="#333333", zorder=3)
    if len(leaves) <= 40:
        for n in leaves:
            label = names[n] if n < len(names) else str(n)
            ax.text(x[n], -0.35, label, ha="center", va="top", fontsize=8, rotation=90 if len(leaves) > 12 else 0)
    fig.colorbar(points, ax=ax, label="step FLOPs", fraction=0.04, pad=0.02)
    ax.set_title(title if title is not None else f"contraction tree: {plan.flops:.3g} FLOPs in {len(nodes)} steps")
    ax.set_ylim(-1.6 if len(leaves) <= 40 else -0.5, max(height.values(), default=0) + 0.6)
    ax.set_xlim(-0.8, max(order - 0.2, 0.8))
    ax.axis("off")
    return fig
