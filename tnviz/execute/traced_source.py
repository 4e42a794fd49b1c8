"""Code out for what ``torch.einsum`` cannot write — convolutions, broadcast and diagonal outputs:
the engine's own compiled program for one set of input shapes, recorded op by op with
``torch.fx`` (``make_fx``) and written as a stand-alone ``nn.Module`` that needs torch only. The
module is the program tnviz runs, not a second implementation of it.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from typing import Any

import torch

from tnviz.core.diagram import Diagram
from tnviz.core.inputs import inputs_or_default
from tnviz.errors import TnvizError
from tnviz.execute.module import TensorNetwork

__all__ = ["to_traced_torch_source"]

_TAKEN = {"self", "torch", "nn", "device"}  # names the written source uses itself


def _recorded(net: TensorNetwork, inputs: Sequence[str], shapes: dict[str, tuple[int, ...]]) -> str:
    """``net``'s program recorded op by op (``make_fx``) as the source of a function
    ``_program(*inputs, *weights)``."""
    from torch.fx.experimental.proxy_tensor import make_fx

    params = list(net.weights)

    def program(*tensors: torch.Tensor) -> torch.Tensor:
        given, values = tensors[: len(inputs)], tensors[len(inputs) :]
        weights = {f"weights.{n}": v for n, v in zip(params, values)}
        return torch.func.functional_call(net, weights, given)

    examples = [torch.zeros(shapes[n], dtype=torch.float64) for n in inputs]
    examples += [p.detach().clone().requires_grad_(True) for p in net.weights.values()]
    graph = make_fx(program, tracing_mode="real")(*examples)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    constants = [n.target for n in graph.graph.nodes if n.op == "get_attr"]
    if constants:
        raise TnvizError(f"the program holds a constant tensor ({constants[0]}) that source cannot carry", token="X")
    return graph.code.strip().replace("def forward(self, ", "def _program(", 1)


def to_traced_torch_source(
    diagram: Diagram, inputs: Sequence[str] | None = None, class_name: str = "Network", optimize: Any = "auto"
) -> str:
    """A stand-alone PyTorch module running ``diagram``'s compiled program, written for the
    inputs' bound shapes (``forward`` refuses others, naming them).

    Args:
        diagram: a Diagram whose tensors' shapes are all bound, the inputs' included.
        inputs: the tensors ``forward`` takes (default: :func:`default_inputs`).
        class_name: the class's name; optimize: the plan's setting, as for ``TensorNetwork``.

    Returns:
        Python source; the parameters live in ``self.weights`` as in :class:`TensorNetwork`, so
        ``module.load_state_dict(network.state_dict())`` carries values over.
    """
    inputs = inputs_or_default(inputs, diagram)
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise TnvizError(f"class_name {class_name!r} is not a usable Python identifier", token=class_name)
    for name in inputs:
        if None in diagram.shape(name):
            raise TnvizError(
                f"input {name!r} has unbound sizes; a convolution's module is written for its input shapes: "
                f"bind them (d.bind(shapes={{{name!r}: …}}))",
                token=name,
            )
    net = TensorNetwork(diagram, inputs=inputs, optimize=optimize, dtype=torch.float64)
    params = list(net.weights)
    shapes = {name: tuple(int(s) for s in diagram.shape(name)) for name in inputs}

    body = _recorded(net, inputs, shapes)
    # an input keeps its name where it can be a parameter name (not one the source itself uses)
    arguments = [
        n
        if n.isidentifier() and not keyword.iskeyword(n) and not n.startswith(("_", "arg")) and n not in _TAKEN
        else f"input_{k}"
        for k, n in enumerate(inputs)
    ]
    checks = [
        f"        if tuple({a}.shape) != {shapes[n]}:\n"
        f'            raise ValueError(f"{n} has shape {{tuple({a}.shape)}}; this module was written for {shapes[n]}")'
        for a, n in zip(arguments, inputs)
    ]
    call = ", ".join(arguments + [f'self.weights["{n}"]' for n in params])
    listed = ", ".join(f"{n} {tuple(net.weights[n].shape)}" for n in params)
    lines = [
        f'"""{class_name}: {diagram.to_spec()}',
        "",
        "Written by tnviz (Diagram.to_torch_source): its compiled program, recorded op by op for the",
        f"input shapes {', '.join(f'{n} {s}' for n, s in shapes.items())} (contiguous); needs torch only.",
        f'Forward takes {", ".join(f"{a} ({n})" for a, n in zip(arguments, inputs))}."""',
        "",
        "import torch",
        "from torch import device, nn  # noqa: F401 - the recorded ops may name a device",
        "",
        "",
        f"class {class_name}(nn.Module):",
        f'    """Parameters in self.weights: {listed or "none"}."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.weights = nn.ParameterDict({",
    ]
    for name in params:
        shape = ", ".join(str(s) for s in net.weights[name].shape)
        lines.append(f'            "{name}": nn.Parameter(torch.randn({shape}) * 0.1),')
    lines += ["        })", "", f"    def forward(self, {', '.join(arguments)}):", *checks]
    lines += [f"        return _program({call})", "", "", "# the recorded program (aten ops)", body, ""]
    return "\n".join(lines)
