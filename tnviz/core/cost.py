"""Deprecated location of the planner; it lives in :mod:`tnviz.core.plan` now.

Kept so that ``from tnviz.core.cost import Plan, Step, make_plan`` keeps working.
"""

from tnviz.core.plan import STRATEGIES, ConvDim, Plan, Problem, Step, make_plan
from tnviz.core.plan.search import EXACT_BUDGET, choose_tree

OPTIMAL_LIMIT = 10  # operands the exact search covers within EXACT_BUDGET (the old name of that bound)
_Problem = Problem

__all__ = ["ConvDim", "Step", "Plan", "make_plan", "OPTIMAL_LIMIT", "STRATEGIES", "EXACT_BUDGET", "choose_tree"]
