"""Running a plan: its compiled program, made once per plan (a :class:`~tnviz.execute.program.Program`,
or a :class:`~tnviz.execute.sliced.SlicedProgram` for a plan in pieces), and the memory budget
checked before it runs (a plan that does not fit runs sliced where that fits)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch

from tnviz.core.plan import Plan
from tnviz.core.plan.slicing import SlicedPlan
from tnviz.execute.kernel_cache import KernelCache
from tnviz.execute.memory import plan_within_budget
from tnviz.execute.program import Program
from tnviz.execute.sliced import SlicedProgram

__all__ = ["program_for", "run_plan"]

# Compiled programs, one per plan, kept here rather than on the (core, report-only) Plan; a
# plan that is dropped from its diagram's cache takes its program with it.
_PROGRAMS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def program_for(plan: Any) -> Any:
    """The compiled program of ``plan`` (compiled on first use): a :class:`Program`, or for a
    sliced plan a :class:`~tnviz.execute.sliced.SlicedProgram`."""
    program = _PROGRAMS.get(plan)
    if program is None:
        program = _PROGRAMS[plan] = SlicedProgram(plan) if isinstance(plan, SlicedPlan) else Program(plan)
    return program


def run_plan(
    plan: Plan, tensors: Sequence[torch.Tensor], bias: torch.Tensor | None = None, cache: KernelCache | None = None
) -> torch.Tensor:
    """Run ``plan`` on ``tensors`` (compiling it on first use), plus ``bias`` along the
    output's channel mode; ``cache`` as for :class:`Program`. A plan whose intermediates exceed
    the memory budget runs sliced (in pieces) where that fits, else is refused before running."""
    if tensors:
        fitted = plan_within_budget(plan, tensors[0].element_size(), tensors[0].device)
        if fitted is not plan:
            return program_for(fitted)(tensors, bias, None)
    return program_for(plan)(tensors, bias, cache)
