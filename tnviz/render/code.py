"""Code out: a Diagram written as Python that runs without tnviz — an opt_einsum call with the
plan's path, a stand-alone PyTorch ``nn.Module`` whose forward follows the plan step by step
with ``torch.einsum``, or quimb code building the network and contracting it along the plan.

What einsum cannot write — a convolution, a broadcast or a diagonal output — is refused here by
name; ``Diagram.to_torch_source`` then writes the engine's own program, recorded for the input
shapes (:mod:`tnviz.execute.traced_source`).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.core.inputs import inputs_or_default
from tnviz.core.spec import einsum_letters
from tnviz.errors import TnvizError

__all__ = ["to_einsum", "to_torch_source", "to_quimb_source", "einsum_cannot_write"]

# Names the generated code itself uses: an input named so gets another parameter name.
_RESERVED = {"self", "torch", "nn", "opt_einsum"}
_QUIMB_RESERVED = {"np", "qtn", "rng", "tn", "result"}  # what the quimb code names besides the tensors


def _usable(name: str, reserved: frozenset[str] | set[str] = frozenset()) -> bool:
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and name not in _RESERVED
        and name not in reserved
        and not re.fullmatch(r"_t\d+|_y", name)
    )


def einsum_cannot_write(diagram: Diagram) -> str | None:
    """The index that keeps ``diagram``'s steps from being einsum calls (a convolution, a
    broadcast or diagonal output), or None."""
    if diagram.conv:
        return diagram.conv[0]
    output = diagram.output.indices
    held = {i for op in diagram.tensors for i in op.indices}
    odd = [i for i in output if i not in held or output.count(i) > 1]
    return odd[0] if odd else None


def _check(diagram: Diagram, what: str) -> None:
    index = einsum_cannot_write(diagram)
    if index in diagram.conv:
        raise TnvizError(
            f"{what} writes einsum steps only; convolution index {index!r} needs F.conv "
            "(run it with tnviz.TensorNetwork)",
            token=index,
        )
    if diagram.has_ellipsis:
        raise TnvizError(f"{what} needs the shapes: bind the '...' first", token="...")
    if index is None:
        return
    raise TnvizError(f"{what} cannot write output index {index!r} (a broadcast or diagonal output) yet", token=index)


def _letters(names: list[str]) -> dict[str, str]:
    return einsum_letters(names, "a diagram")


def to_einsum(diagram: Diagram, sizes: Any = None, optimize: Any = "auto") -> str:
    """An ``opt_einsum.contract`` call with the plan's path (the tensors by their names).

    Args:
        diagram: a Diagram without convolution; grouped modes are reshaped to flat ones first.
        sizes: sizes to bind first; optimize: as for :meth:`Diagram.plan`.

    Returns:
        Python source, e.g. ``opt_einsum.contract("ab,bc->ac", A, B, optimize=[(0, 1)])``.

    Example:
        >>> to_einsum(Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4}))
        'opt_einsum.contract("ab,bc->ac", A, B, optimize=[(0, 1)])'
    """
    _check(diagram, "to_einsum")
    for name in diagram.tensor_names:
        if not _usable(name):
            raise TnvizError(f"tensor {name!r} cannot be a Python variable in the call; rename it", token=name)
    plan = diagram.plan(sizes, optimize=optimize)
    d = plan.diagram
    letter = _letters(list(d.index_names))
    terms = ["".join(letter[i] for i in op.indices) for op in d.tensors]
    eq = ",".join(terms) + "->" + "".join(letter[i] for i in d.output.indices)
    args = [_flat_argument(d, op.name, op.name) for op in d.tensors]
    call = f'opt_einsum.contract("{eq}", {", ".join(args)}, optimize={plan.path})'
    grouped = any(len(m) > 1 for m in d.output.modes)
    return f"{call}.reshape({_output_shape(d)})" if grouped else call


def to_quimb_source(diagram: Diagram, sizes: Any = None, optimize: Any = "auto") -> str:
    """quimb code building the network (one ``qtn.Tensor`` per tensor, random values to replace
    with yours, the tensor's name as its tag) and contracting it along the plan's path.

    Args:
        diagram: a Diagram without convolution or a repeated index within one tensor (quimb's
            tensors hold each index once); grouped modes become their indices.
        sizes: sizes to bind first; optimize: as for :meth:`Diagram.plan`.

    Returns:
        Python source that imports numpy and quimb only; ``result`` holds the output (a
        ``qtn.Tensor``, or a number for a scalar output).

    Example:
        >>> src = to_quimb_source(Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4}))
        >>> print(src.splitlines()[-1])
        result = tn.contract(output_inds=("i", "k"), optimize=[(0, 1)])
    """
    _check(diagram, "to_quimb_source")
    plan = diagram.plan(sizes, optimize=optimize)
    d = plan.diagram
    for op in d.tensors:
        if not _usable(op.name, _QUIMB_RESERVED):
            raise TnvizError(f"tensor {op.name!r} cannot be a Python variable in the code; rename it", token=op.name)
        repeated = [i for i in op.indices if op.indices.count(i) > 1]
        if repeated:
            raise TnvizError(
                f"tensor {op.name!r} holds index {repeated[0]!r} twice; a quimb tensor holds each index once",
                token=repeated[0],
            )
    lines = [
        f'"""{diagram.to_spec()}',
        "",
        f'Written by tnviz (Diagram.to_quimb_source): {plan.flops:,} FLOPs along the path below."""',
        "",
        "import numpy as np",
        "import quimb.tensor as qtn",
        "",
        "rng = np.random.default_rng(0)",
    ]
    for op in d.tensors:
        shape = ", ".join(str(d.size(i, op.name)) for i in op.indices)
        inds = ", ".join(f'"{i}"' for i in op.indices)
        lines.append(
            f"{op.name} = qtn.Tensor(rng.standard_normal(({shape}{',' if len(op.indices) == 1 else ''})), "
            f'inds=({inds}{"," if len(op.indices) == 1 else ""}), tags={{"{op.name}"}})'
        )
    output = ", ".join(f'"{i}"' for i in d.output.indices) + ("," if len(d.output.indices) == 1 else "")
    lines.append(f"tn = qtn.TensorNetwork([{', '.join(d.tensor_names)}])")
    lines.append(f"result = tn.contract(output_inds=({output}), optimize={plan.path})")
    if any(len(m) > 1 for m in d.output.modes):
        lines.append(f"result = result.data.reshape({_output_shape(d)})  # the output's grouped modes")
    return "\n".join(lines) + "\n"


def _flat_argument(d: Diagram, name: str, expr: str) -> str:
    """``expr`` reshaped so that each grouped mode of tensor ``name`` is split into its indices."""
    op = d.tensor(name)
    if all(len(m) == 1 for m in op.modes):
        return expr
    shape = [str(d.size(i, name)) for i in op.indices]
    if "None" in shape:
        raise TnvizError(f"the sizes inside a group of {name!r} are not bound; bind them first", token=name)
    return f"{expr}.reshape({', '.join(shape)})"


def _output_shape(d: Diagram) -> str:
    return ", ".join(str(n) for n in d.output_shape)


def to_torch_source(diagram: Diagram, inputs: Any = None, class_name: str = "Network", optimize: Any = "auto") -> str:
    """A stand-alone PyTorch module (source text) computing ``diagram``: the non-input tensors are
    parameters in ``self.weights`` (as :class:`tnviz.TensorNetwork`, so that
    ``module.load_state_dict(network.state_dict())`` works), and ``forward`` runs the plan's
    steps with ``torch.einsum``. It imports torch only.

    Args:
        diagram: a bound Diagram without convolution (every parameter's shape known).
        inputs: the tensors ``forward`` takes (default: :func:`~tnviz.core.inputs.default_inputs`).
        class_name: the class's name.
        optimize: as for :meth:`Diagram.plan`.

    Returns:
        Python source defining ``class_name``.

    Example:
        >>> src = to_torch_source(Diagram.parse("X: b i, A: i j -> b j", sizes={"i": 3, "j": 2}))
        >>> "class Network(nn.Module)" in src and "import tnviz" not in src
        True
    """
    _check(diagram, "to_torch_source")
    names = diagram.tensor_names
    inputs = inputs_or_default(inputs, diagram)
    if not _usable(class_name):
        raise TnvizError(f"class_name {class_name!r} is not a usable Python identifier", token=class_name)
    params = [n for n in names if n not in inputs]
    for name in params:
        if None in diagram.shape(name):
            raise TnvizError(f"parameter {name!r} has unbound sizes; bind them first", token=name)
    shapes = {n: tuple(diagram.shape(n)) for n in names}
    # an unbound batch planned at length 2: its length does not change which steps are einsums
    probe = {n: tuple(2 if s is None else s for s in shapes[n]) for n in inputs if None in shapes[n]}
    plan = (diagram.bind(shapes=probe) if probe else diagram).plan(optimize=optimize, inputs=inputs)
    lines = [
        f'"""{class_name}: {diagram.to_spec()}',
        "",
        "Written by tnviz (Diagram.to_torch_source); needs torch only.",
        f'Plan: {plan.flops:,} FLOPs for the sizes it was written for ({len(plan.steps)} steps)."""',
        "",
        "import torch",
        "from torch import nn",
        "",
        "",
        f"class {class_name}(nn.Module):",
        f'    """Parameters in self.weights: {", ".join(f"{n} {shapes[n]}" for n in params) or "none"}."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.weights = nn.ParameterDict({",
    ]
    for name in params:
        lines.append(f'            "{name}": nn.Parameter(torch.randn({", ".join(map(str, shapes[name]))}) * 0.1),')
    argument = {name: name if _usable(name) else f"input_{k}" for k, name in enumerate(inputs)}
    lines += ["        })", "", f"    def forward(self, {', '.join(argument.values())}):"]
    renamed = [f"{a} is {n!r}" for n, a in argument.items() if a != n]
    if renamed:
        lines.append(f'        """{", ".join(renamed)} (its name is not a usable Python identifier)."""')
    lines += _einsum_steps(plan, inputs, argument)
    lines += ["        return _y", ""]
    return "\n".join(lines)


def _einsum_steps(plan: Any, inputs: Sequence[str], argument: dict[str, str]) -> list[str]:
    """``forward``'s lines: each input split into its indices, each parameter flattened, the
    plan's steps as ``torch.einsum`` calls, the result permuted and its groups merged into ``_y``."""
    d = plan.diagram
    names = d.tensor_names
    letter = _letters(list(d.index_names))
    lines: list[str] = []
    slot = {}
    for k, name in enumerate(names):
        if name in inputs:  # its other dimensions as given: the batch's length may change
            slot[k] = _split_modes(d, name, argument[name])
        else:
            slot[k] = _flat_argument(d, name, f'self.weights["{name}"]')
    for step in plan.steps:
        terms = ",".join("".join(letter[i] for i in ix) for ix in step.operand_indices)
        eq = f"{terms}->{''.join(letter[i] for i in step.indices)}"
        args = ", ".join(slot[o] for o in step.operands)
        lines.append(f'        _t{step.result} = torch.einsum("{eq}", {args})')
        slot[step.result] = f"_t{step.result}"
    final = slot[plan.final_id]
    order = list(plan.final_indices)
    wanted = list(d.output.indices)
    if order != wanted:
        perm = ", ".join(str(order.index(i)) for i in wanted)
        lines.append(f"        _y = {final}.permute({perm})")
    else:
        lines.append(f"        _y = {final}")
    if any(len(m) > 1 for m in d.output.modes):
        lines.append(f"        _y = _y.reshape({_merged_shape(d)})")
    return lines


def _split_modes(d: Diagram, name: str, expr: str) -> str:
    """An input's grouped modes split into their indices, its other dimensions as given (so the
    batch's length may change): ``X.reshape(X.shape[0], 4, 4, 4)``; ``expr`` itself without groups."""
    if all(len(m) == 1 for m in d.tensor(name).modes):
        return expr
    parts = []
    for k, mode in enumerate(d.tensor(name).modes):
        if len(mode) == 1:
            parts.append(f"{expr}.shape[{k}]")
        else:
            sizes = [d.size(i, name) for i in mode]
            if None in sizes:
                raise TnvizError(f"the sizes inside a group of {name!r} are not bound; bind them first", token=name)
            parts += [str(s) for s in sizes]
    return f"{expr}.reshape({', '.join(parts)})"


def _merged_shape(d: Diagram) -> str:
    """The output's grouped modes merged, from the flat result's own dimensions (``_y.shape[k]``)."""
    parts, k = [], 0
    for mode in d.output.modes:
        dims = [f"_y.shape[{k + j}]" for j in range(len(mode))]
        parts.append(" * ".join(dims))
        k += len(mode)
    return ", ".join(parts)
