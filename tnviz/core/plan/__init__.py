"""The planner: price a bound Diagram and choose the order of its pairwise steps.

Standard library only, split as opt_einsum splits its path searches from its contraction:

- :mod:`~tnviz.core.plan.model` — the cost model (what one step costs, in FLOPs and in the
  time objective);
- :mod:`~tnviz.core.plan.search` — the named searches (exact under a work budget, greedy,
  opt_einsum's path for convolution-free parts, left-to-right, reconstruct-first) and the
  one ``"auto"`` policy that every caller uses;
- :mod:`~tnviz.core.plan.lower` — a tree lowered to executable :class:`Step` s;
- :mod:`~tnviz.core.plan.report` — the :class:`Plan`, which only reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tnviz.core.inputs import checked_inputs
from tnviz.core.optimize import Optimize
from tnviz.core.plan.lower import Step, lower
from tnviz.core.plan.model import LAYOUTS, OBJECTIVES, ConvDim, Problem
from tnviz.core.plan.policy import choose_tree
from tnviz.core.plan.report import Plan
from tnviz.core.plan.search import EXACT_BUDGET, GREEDY_BUDGET, opt_einsum_tree, tree_cost, tree_path
from tnviz.errors import TnvizError

if TYPE_CHECKING:  # the planner takes a Diagram and never builds one: no import cycle
    from tnviz.core.diagram import Diagram

__all__ = [
    "ConvDim",
    "Step",
    "Plan",
    "Problem",
    "make_plan",
    "opt_einsum_path",
    "OBJECTIVES",
    "LAYOUTS",
    "EXACT_BUDGET",
    "GREEDY_BUDGET",
]


def make_plan(
    diagram: Diagram,
    optimize: Optimize = "auto",
    inputs: Sequence[str] = (),
    itemsize: int = 4,
    objective: str = "time",
    layout: str = "contiguous",
) -> Plan:
    """Plan a bound diagram (use :meth:`Diagram.plan`, which caches and names the ``inputs``
    when none are given: :func:`~tnviz.core.inputs.default_inputs`, the same rule the drawing
    and ``TensorNetwork`` use)."""
    if objective not in OBJECTIVES:
        raise TnvizError(
            f"unknown objective={objective!r}; expected one of {', '.join(OBJECTIVES)}", token=repr(objective)
        )
    if layout not in LAYOUTS:
        raise TnvizError(f"unknown layout={layout!r}; expected one of {', '.join(LAYOUTS)}", token=repr(layout))
    if diagram.has_ellipsis:
        raise TnvizError(
            "cannot plan a diagram with the ellipsis '...': its dimensions come from the tensors' shapes; "
            "bind them (Diagram.bind(shapes={...})) or pass tensors to tnviz.einsum",
            token="...",
        )
    if not diagram.is_bound:
        missing = [t for t in diagram.tensor_names if None in diagram.shape(t)]
        unknown = [i.name for i in diagram.indices if i.size is None or None in i.sizes.values()]
        where = f"tensor {missing[0]!r}" if missing else "output only: a broadcast index, or a misspelling"
        raise TnvizError(
            f"cannot plan: sizes unknown for index {', '.join(map(repr, unknown))} ({where}); "
            "give them in sizes= or pass tensors",
            token=unknown[0] if unknown else missing[0],
        )
    inputs = checked_inputs(inputs, diagram.tensor_names)
    problem = Problem(diagram, inputs, objective, layout)
    tree = choose_tree(problem, optimize)
    if tree_cost(problem, tree) == float("inf"):
        raise TnvizError("no legal evaluation order found for this diagram", token=diagram.to_spec())
    steps, final_id, final_order = lower(problem, tree)
    return Plan(diagram, steps, (final_id, final_order), problem, tree, optimize, itemsize)


def opt_einsum_path(diagram: Diagram) -> list[tuple[int, int]]:
    """opt_einsum's own path (its ``"auto"`` search) for a bound diagram without convolution, in
    the form ``Diagram.plan(optimize=path)`` takes — to set tnviz's order beside opt_einsum's.

    Example:
        >>> from tnviz.core.diagram import Diagram
        >>> opt_einsum_path(Diagram.parse("ij,jk,kl->il", sizes=dict.fromkeys("ijkl", 4)))
        [(0, 1), (0, 1)]
    """
    if diagram.conv:
        raise TnvizError(f"opt_einsum has no convolution; index {diagram.conv[0]!r} is one", token=diagram.conv[0])
    names = diagram.tensor_names
    problem = Problem(diagram.plan(optimize="left-to-right").diagram, names[:1], "flops", "contiguous")
    tree = opt_einsum_tree(problem, problem.full)
    if tree is None:
        raise TnvizError("opt_einsum's path has a step that is not a pair", token=diagram.to_spec())
    return tree_path(tree, problem.n)
