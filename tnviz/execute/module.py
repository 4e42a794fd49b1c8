"""``TensorNetwork``: a Diagram as a trainable ``nn.Module``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tnviz.core.diagram import Diagram, default_inputs
from tnviz.core.plan import Plan
from tnviz.errors import TnvizError
from tnviz.execute.einsum import as_diagram, plan_for
from tnviz.execute.program import run_plan

__all__ = ["TensorNetwork"]


class TensorNetwork(nn.Module):
    """A Diagram whose non-input tensors are parameters; ``forward`` takes the inputs.

    Args:
        diagram: a :class:`Diagram` or a spec string. Every parameter tensor's sizes must
            be bound (``Diagram.parse(spec, sizes=...)``).
        inputs: names of the tensors passed to ``forward``, in that order. Default:
            :func:`~tnviz.core.diagram.default_inputs`: ``("X",)``
            when the diagram has a tensor ``X``, else its first tensor.
        optimize: the planner setting (see :meth:`Diagram.plan`).
        device, dtype: factory keywords for the parameters, as in ``torch.nn``.

    Example:
        >>> d = Diagram.parse("X: b s x y, A: r s, B: r x, C: r y, D: r t -> b t x y | x y",
        ...                   sizes={"s": 4, "r": 3, "t": 5, "B": (3, 3), "C": (3, 3)}, padding=1)
        >>> net = TensorNetwork(d)
        >>> net(torch.randn(2, 4, 8, 8)).shape
        torch.Size([2, 5, 8, 8])
    """

    def __init__(
        self,
        diagram: Diagram | str,
        inputs: Sequence[str] | None = None,
        *,
        optimize: Any = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        diagram = as_diagram(diagram)
        names = diagram.tensor_names
        if inputs is None:
            inputs = default_inputs(diagram)
        if isinstance(inputs, str):
            inputs = (inputs,)
        for name in inputs:
            if name not in names:
                raise TnvizError(
                    f"inputs names {name!r}, not a tensor of the diagram; expected one of {', '.join(names)}",
                    token=name,
                    spec=diagram.to_spec(),
                )
        self.diagram = diagram
        self.inputs = tuple(inputs)
        self.optimize = optimize
        self._order = names
        factory = {"device": device, "dtype": dtype}
        self.weights = nn.ParameterDict()
        for name in names:
            if name in self.inputs:
                continue
            shape = diagram.shape(name)
            if None in shape:
                missing = [i for i in diagram.tensor(name).indices if diagram.size(i, name) is None]
                raise TnvizError(
                    f"parameter tensor {name!r} has unbound sizes for {', '.join(map(repr, missing))}; "
                    "bind them with Diagram.parse(spec, sizes=...)",
                    token=missing[0] if missing else name,
                    spec=diagram.to_spec(),
                )
            self.weights[name] = nn.Parameter(torch.empty(shape, **factory))  # type: ignore[arg-type]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation rule of every tnviz network and tensorial layer: each parameter
        tensor is drawn from N(0, σ²), one σ for all, chosen so that an entry of the composed
        linear map has variance 1/(3·fan_in) — what ``torch.nn``'s default initialisation
        (kaiming-uniform with a=√5) gives a Linear or Conv weight — whatever the number of
        factors and the bond sizes between them. fan_in is the product of the input sizes
        summed over, kernel lengths included; an entry of the map sums ``bonds`` products
        of one entry of each of the n factors, so σ solves bonds·σ^(2n) = 1/(3·fan_in)."""
        if not len(self.weights):
            return
        d = self.diagram
        held_by_inputs = {i for n in self.inputs for i in d.tensor(n).indices}
        out = set(d.output.indices)
        fan_in = 1
        for i in held_by_inputs - out:
            fan_in *= _kernel_extent(d, i, self.inputs) if i in d.conv else d.size(i) or 1  # type: ignore[operator]
        for i in d.conv:
            if i in out and i in held_by_inputs:
                fan_in *= _kernel_extent(d, i, self.inputs)
        bonds = 1
        for i in set(d.index_names) - held_by_inputs - out - set(d.conv):
            bonds *= d.size(i) or 1
        std = (3 * fan_in * bonds) ** (-1.0 / (2 * len(self.weights)))
        with torch.no_grad():
            for p in self.weights.values():
                p.normal_(0.0, std)

    def plan(self, *inputs: torch.Tensor | Sequence[int]) -> Plan:
        """The plan used for inputs of these shapes (tensors or shapes)."""
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else tuple(t) for t in inputs]
        return plan_for(self.diagram, self._shapes(shapes), None, self.optimize, self.inputs)

    def _shapes(self, input_shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
        given = dict(zip(self.inputs, input_shapes))
        return tuple(given[n] if n in given else tuple(self.weights[n].shape) for n in self._order)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.inputs):
            raise TnvizError(
                f"forward got {len(inputs)} tensor(s); expected {len(self.inputs)} ({', '.join(self.inputs)})",
                token=str(len(inputs)),
                spec=self.diagram.to_spec(),
            )
        given = dict(zip(self.inputs, inputs))
        for name, t in given.items():
            if not isinstance(t, torch.Tensor):
                raise TnvizError(f"input {name!r} is a {type(t).__name__}; expected a torch.Tensor", token=name)
        tensors = [given[n] if n in given else self.weights[n] for n in self._order]
        itemsize = tensors[0].element_size()
        try:
            plan = plan_for(
                self.diagram, tuple(tuple(t.shape) for t in tensors), None, self.optimize, self.inputs, itemsize
            )
        except TnvizError as err:
            raise err.with_context(
                spec=self.diagram.to_spec(), shapes=", ".join(f"{n}={tuple(t.shape)}" for n, t in given.items())
            ) from None
        return run_plan(plan, tensors)

    def extra_repr(self) -> str:
        text = f"{self.diagram.to_spec()!r}, inputs={self.inputs}"
        if self.optimize != "auto":
            text += f", optimize={self.optimize!r}"
        return text


def _kernel_extent(d: Diagram, index: str, inputs: tuple[str, ...]) -> int:
    """Combined kernel length along a convolution index (the parameters' part of it)."""
    lengths = [d.size(index, t) or 1 for t in d.holders(index) if t not in inputs]
    return max(1, sum(lengths) - len(lengths) + 1) if lengths else 1
