"""``tnviz.contract_expression``: a contraction planned and compiled once, called many times.

``tnviz.einsum`` parses, binds and looks its plan up on every call — a few microseconds per
tensor, which is most of the time of a long chain of small tensors (a 500-site MPS inner
product spends a third of its call there). An expression does that work once, for fixed
shapes, as opt_einsum's ``ContractExpression`` does; a call checks the shapes and runs the
compiled program. Operands given as tensors instead of shapes are *constants*: copied, and
whatever the plan computes from constants alone is computed once, when the expression is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tnviz.core.diagram import Diagram
from tnviz.core.optimize import Optimize
from tnviz.core.plan import Plan
from tnviz.errors import TnvizError
from tnviz.execute.einsum import as_diagram, plan_for
from tnviz.execute.memory import plan_within_budget
from tnviz.execute.program import Program
from tnviz.execute.runner import program_for

__all__ = ["ContractExpression", "contract_expression"]


class _FoldedConstants:
    """The values a :class:`Program` would take from a kernel cache, computed once from the
    expression's constants: they are the expression's own, so they never go stale."""

    def __init__(self, values: list[torch.Tensor]) -> None:
        self.values = values

    def lookup(self, program: Program, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.values


class ContractExpression:
    """A plan compiled for fixed shapes: ``expr(*tensors)`` runs it (see :func:`contract_expression`).

    Attributes:
        plan: the :class:`~tnviz.core.plan.Plan` every call runs (it prints as a table).
        shapes: the shapes a call takes, one per variable operand, in spec order.
        names: the variable operands' names.
    """

    def __init__(
        self,
        plan: Plan,
        program: Program,
        shapes: Sequence[tuple[int, ...]],
        variable: tuple[int, ...],
        constants: dict[int, torch.Tensor],
    ) -> None:
        self.plan = plan
        self._program = program
        self._variable = variable
        self._operands = len(plan.diagram.tensors)
        self._constants = constants
        self._folded = _FoldedConstants(program.fold_constants(constants)) if constants else None
        self.names = tuple(plan.diagram.tensor_names[k] for k in variable)
        self.shapes = tuple(shapes[k] for k in variable)

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        """Contract ``tensors`` (one per variable operand, of the shapes given when the
        expression was made); autograd flows to them, not to the constants."""
        if len(tensors) != len(self.shapes):
            raise TnvizError(
                f"{len(tensors)} tensor(s) given; this expression takes {len(self.shapes)} ({', '.join(self.names)})",
                token=str(len(tensors)),
            )
        first_name, first = self._first(tensors)
        for name, t, shape in zip(self.names, tensors, self.shapes):
            if not isinstance(t, torch.Tensor):
                raise TnvizError(f"operand {name!r} is a {type(t).__name__}; expected a torch.Tensor", token=name)
            if t.shape != shape:
                raise TnvizError(
                    f"operand {name!r} has shape {tuple(t.shape)}; this expression was made for {shape}", token=name
                )
            if t.dtype != first.dtype or t.device != first.device:
                raise TnvizError(
                    f"operand {name!r} is {t.dtype} on {t.device} but {first_name!r} is {first.dtype} on "
                    f"{first.device}; expected one dtype and device",
                    token=name,
                )
        full: list[Any] = list(tensors)
        if self._constants:
            full = [None] * self._operands
            for k, t in zip(self._variable, tensors):
                full[k] = t
            for k, t in self._constants.items():
                full[k] = t
        if full:
            fitted = plan_within_budget(self.plan, full[0].element_size(), full[0].device)
            if fitted is not self.plan:  # beyond the memory budget: in pieces (no constant folded)
                return program_for(fitted)(full)
        if self._folded is None:
            return self._program(full)
        return self._program(full, cache=self._folded)

    def _first(self, tensors: Sequence[Any]) -> tuple[str, Any]:
        """What every operand's dtype and device must equal: a constant's, else the first tensor's."""
        if self._constants:
            k, t = next(iter(self._constants.items()))
            return self.plan.diagram.tensor_names[k], t
        return (self.names[0], tensors[0]) if isinstance(tensors[0], torch.Tensor) else ("", None)

    def __repr__(self) -> str:
        spec = self.plan.diagram.to_spec()
        if len(spec) > 100:
            spec = spec[:80] + f"… ({len(self.plan.diagram.tensors)} tensors)"
        given = ", ".join(f"{n}={s}" for n, s in zip(self.names, self.shapes))
        shapes = f", {given}" if len(self.shapes) <= 6 else f", {len(self.shapes)} operands"
        names = self.plan.diagram.tensor_names
        constants = f", constants: {', '.join(names[k] for k in self._constants)}" if self._constants else ""
        return f"ContractExpression('{spec}'{shapes}{constants}; {self.plan.flops:,} FLOPs)"

    def _repr_html_(self) -> str:
        return self.plan._repr_html_()


def contract_expression(
    spec_or_diagram: str | Diagram,
    *shapes: Sequence[int] | torch.Tensor,
    sizes: Mapping[str, Any] | None = None,
    optimize: Optimize = "auto",
    padding: Any = None,
    stride: Any = None,
    dilation: Any = None,
    padding_mode: Any = None,
    flip: Any = None,
    upsample: Any = None,
) -> ContractExpression:
    """Plan and compile a contraction once for fixed shapes, like ``opt_einsum.contract_expression``.

    Args:
        spec_or_diagram: a spec (``"ab,bc->ac"``, named or compact, with ``| conv`` indices)
            or a :class:`Diagram`.
        *shapes: one per operand, in spec order: a shape (a tuple of ints), or a tensor, which
            makes that operand a constant of the expression: copied now, and what the plan
            computes from constants alone is computed once, now; no gradient flows to them.
        sizes: extra index sizes, as for :func:`tnviz.einsum`.
        optimize: as for :meth:`Diagram.plan`.
        padding, stride, dilation, padding_mode, flip, upsample: convolution options, as for
            :func:`tnviz.einsum`.

    Returns:
        A :class:`ContractExpression`: call it with one tensor per non-constant operand. It
        equals ``tnviz.einsum`` on the same tensors, runs the plan printed by ``expr.plan``,
        and can be called inside ``torch.compile``.

    Example:
        >>> expr = contract_expression("ab,bc,cd->ad", (2, 3), (3, 4), (4, 5))
        >>> expr(torch.ones(2, 3), torch.ones(3, 4), torch.ones(4, 5))[0, 0].item()
        12.0
    """
    diagram = as_diagram(
        spec_or_diagram,
        padding=padding,
        stride=stride,
        dilation=dilation,
        padding_mode=padding_mode,
        flip=flip,
        upsample=upsample,
    )
    try:
        return _expression(diagram, shapes, sizes, optimize)
    except TnvizError as err:
        given = ", ".join(str(tuple(s.shape) if isinstance(s, torch.Tensor) else s) for s in shapes)
        raise err.with_context(spec=diagram.to_spec(), shapes=given or None) from None


def _expression(
    diagram: Diagram, shapes: tuple, sizes: Mapping[str, Any] | None, optimize: Optimize
) -> ContractExpression:
    names = diagram.tensor_names
    if len(shapes) != len(names):
        raise TnvizError(
            f"{len(shapes)} shape(s) given; the spec has {len(names)} operand(s) ({', '.join(names)})",
            token=str(len(shapes)),
        )
    constants: dict[int, torch.Tensor] = {}
    plain: list[tuple[int, ...]] = []
    for k, (name, shape) in enumerate(zip(names, shapes)):
        if isinstance(shape, torch.Tensor):
            constants[k] = shape.detach().clone()  # an edit of the caller's tensor cannot stale the folded values
            plain.append(tuple(shape.shape))
            continue
        try:
            plain.append(tuple(_dimension(d, name) for d in shape))
        except TypeError:
            raise TnvizError(
                f"the shape of operand {name!r} is {shape!r}; expected a tuple of ints or a tensor", token=name
            ) from None
    variable = tuple(k for k in range(len(names)) if k not in constants)
    if constants:
        _check_constants(diagram, constants)
    inputs = tuple(names[k] for k in variable) or None
    itemsize = next(iter(constants.values())).element_size() if constants else 4
    plan = plan_for(diagram, tuple(plain), sizes, optimize, inputs, itemsize, broadcast=True)
    return ContractExpression(plan, Program(plan), plain, variable, constants)


def _dimension(d: Any, name: str) -> int:
    if isinstance(d, bool) or not hasattr(d, "__index__"):
        raise TnvizError(f"the shape of operand {name!r} holds {d!r}; expected non-negative ints", token=str(d))
    value = d.__index__()
    if value < 0:
        raise TnvizError(f"the shape of operand {name!r} holds {value}; expected non-negative ints", token=str(d))
    return value


def _check_constants(diagram: Diagram, constants: dict[int, torch.Tensor]) -> None:
    first = next(iter(constants.values()))
    for k, t in constants.items():
        name = diagram.tensor_names[k]
        if t.dtype != first.dtype or t.device != first.device:
            raise TnvizError(
                f"constant {name!r} is {t.dtype} on {t.device}, another is {first.dtype} on {first.device}; "
                "expected one dtype and device",
                token=name,
            )
