"""Which tensors of a diagram are its inputs (activations): the one default and the one check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tnviz.errors import TnvizError

if TYPE_CHECKING:
    from tnviz.core.diagram import Diagram

__all__ = ["default_inputs", "checked_inputs", "inputs_or_default"]


def default_inputs(diagram: Diagram) -> tuple[str, ...]:
    """The activation tensors when none are named: ``("X",)`` if the diagram has a tensor
    ``X``, else its first tensor. One rule for the planner (which uses inputs for
    ``optimize="reconstruct"`` and the approach it names), ``TensorNetwork`` (whose other tensors
    become parameters) and the drawings."""
    names = diagram.tensor_names
    return ("X",) if "X" in names else names[:1]


def checked_inputs(inputs: Any, names: Sequence[str], where: str = "the diagram") -> tuple[str, ...]:
    """``inputs`` — a tensor name or a sequence of them — as a tuple, each one of ``names``; else a
    TnvizError naming the bad one and ``where`` it was looked for. The one check of every
    ``inputs=`` (the planner, ``TensorNetwork``, the drawings, code out, the editor)."""
    if isinstance(inputs, str):
        inputs = (inputs,)
    if not isinstance(inputs, (tuple, list)) or not all(isinstance(n, str) for n in inputs):
        raise TnvizError(f"inputs must be a tuple of tensor names such as ('X',), got {inputs!r}", token="inputs")
    for k, name in enumerate(inputs):
        if name in inputs[:k]:
            raise TnvizError(f"inputs names {name!r} twice; each input tensor is passed once", token=name)
        if name not in names:
            raise TnvizError(
                f"inputs names {name!r}, which is not a tensor of {where}; expected one of {', '.join(names)}",
                token=name,
            )
    return tuple(inputs)


def inputs_or_default(inputs: Any, diagram: Diagram) -> tuple[str, ...]:
    """The inputs a plan or generated code uses: ``inputs`` checked (:func:`checked_inputs`), or
    :func:`default_inputs` where they are None or ``()``."""
    return (checked_inputs(inputs, diagram.tensor_names) if inputs is not None else ()) or default_inputs(diagram)
