"""Code in, values included: a tensorly CP / Tucker / tensor-train / tensor-ring tensor or a quimb
``TensorNetwork`` as a :class:`~tnviz.execute.module.TensorNetwork` whose parameters hold its
values — ``net()`` is the full tensor, ``net.diagram`` the drawing, planned by tnviz's planner.

Neither library is imported until called, and neither's global state (tensorly's backend) is
read or changed: the values are taken as arrays whatever backend made them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from tnviz.core.diagram import Diagram
from tnviz.core.spec import is_name
from tnviz.errors import TnvizError
from tnviz.execute.module import TensorNetwork

__all__ = ["from_tensorly", "from_quimb"]


def _tensor(value: Any, what: str) -> torch.Tensor:
    """An array of any backend (numpy, torch, …) as a torch tensor, its dtype kept."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        import numpy as np

        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as err:
        raise TnvizError(f"{what}: cannot read its values as an array ({err})", token=what) from None


def _network(spec: str, values: dict[str, torch.Tensor]) -> TensorNetwork:
    """The network of ``spec`` (every tensor a parameter) holding ``values``."""
    shapes = {name: tuple(v.shape) for name, v in values.items()}
    dtype = functools.reduce(torch.promote_types, [v.dtype for v in values.values()])
    if not (dtype.is_floating_point or dtype.is_complex):  # integer or bool values: parameters are floats
        dtype = torch.get_default_dtype()
    diagram = Diagram.parse(spec, sizes=shapes)
    net = TensorNetwork(diagram, inputs=(), dtype=dtype)
    with torch.no_grad():
        for name, value in values.items():
            net.weights[name].copy_(value)
    return net


def from_tensorly(tensor: Any) -> TensorNetwork:
    """A tensorly factorized tensor as a network of its factors, values included.

    Args:
        tensor: a ``CPTensor`` (weights ``w`` on the rank ``r``, factors ``U1…UN``), a
            ``TuckerTensor`` (core ``G``, factors ``U1…UN``, ranks ``r1…rN``), a ``TTTensor``
            (cores ``G1…GN``, bonds ``r1…``; the boundary bonds of size 1 dropped) or a
            ``TRTensor`` (a ring of cores ``G1…GN``). The mode indices are ``i1…iN``.

    Returns:
        A :class:`TensorNetwork` with no inputs: ``net()`` equals tensorly's reconstruction
        (``tl.cp_to_tensor`` …), ``net.diagram`` is its Diagram.

    Example:
        >>> import numpy as np, tensorly as tl
        >>> from tensorly.cp_tensor import CPTensor
        >>> cp = CPTensor((np.ones(2), [np.ones((3, 2)), np.ones((4, 2))]))
        >>> net = from_tensorly(cp)
        >>> net.diagram.to_spec(), float(net()[0, 0])
        ('w: r, U1: i1 r, U2: i2 r -> i1 i2', 2.0)
    """
    kind = type(tensor).__name__
    if kind == "CPTensor":
        weights, factors = tensor
        modes = range(1, len(factors) + 1)
        values = {f"U{n}": _tensor(f, f"CP factor {n}") for n, f in zip(modes, factors)}
        if weights is not None:
            values = {"w": _tensor(weights, "CP weights"), **values}
        ops = (["w: r"] if weights is not None else []) + [f"U{n}: i{n} r" for n in modes]
    elif kind == "TuckerTensor":
        core, factors = tensor
        modes = range(1, len(factors) + 1)
        values = {"G": _tensor(core, "Tucker core")}
        values.update({f"U{n}": _tensor(f, f"Tucker factor {n}") for n, f in zip(modes, factors)})
        ops = ["G: " + " ".join(f"r{n}" for n in modes)] + [f"U{n}: i{n} r{n}" for n in modes]
    elif kind in ("TTTensor", "TRTensor"):
        cores = [_tensor(c, f"{kind} core {n}") for n, c in enumerate(tensor, 1)]
        ring = kind == "TRTensor"
        count = len(cores)
        values, ops = {}, []
        for n, core in enumerate(cores, 1):
            if core.dim() != 3:
                raise TnvizError(
                    f"{kind} core {n} has shape {tuple(core.shape)}; expected (rank, size, rank)", token=f"G{n}"
                )
            left = f"r{n - 1}" if (n > 1 or ring) else None
            right = (f"r{n}" if n < count else "r0") if (n < count or ring) else None
            if not ring:  # a train's boundary bonds have size 1: no index there
                core = core[0] if left is None else core
                core = core[..., 0] if right is None else core
            values[f"G{n}"] = core
            ops.append(f"G{n}: " + " ".join(i for i in (left, f"i{n}", right) if i))
        modes = range(1, count + 1)
    else:
        raise TnvizError(f"from_tensorly takes a CPTensor, TuckerTensor, TTTensor or TRTensor; got {kind}", token=kind)
    return _network(", ".join(ops) + " -> " + " ".join(f"i{n}" for n in modes), values)


def from_quimb(network: Any, output_inds: Sequence[str] | None = None) -> TensorNetwork:
    """A quimb ``TensorNetwork`` (or one ``Tensor``) as a tnviz network, values included.

    Args:
        network: a ``quimb.tensor.TensorNetwork``. Each tensor is named by a tag only it has
            (``I0``; ``I0,0`` becomes ``I0_0``), else ``T1, T2, …``; an index keeps its quimb
            name where that is an ASCII identifier (``k0,0`` becomes ``k0_0``), and quimb's
            generated bond names (``_…``) become ``e1, e2, …``.
        output_inds: the open indices, in order (default: those held by one tensor, in the order
            the tensors hold them — the order ``network.contract()`` gives them).

    Returns:
        A :class:`TensorNetwork` with no inputs: ``net()`` equals
        ``network.contract(output_inds=…).data``.

    Example:
        >>> import quimb.tensor as qtn
        >>> from_quimb(qtn.MPS_rand_state(3, bond_dim=2, seed=0)).diagram.to_spec()
        'I0: e1 k0, I1: e1 e2 k1, I2: e2 k2 -> k0 k1 k2'
    """
    tensors = getattr(network, "tensors", None)
    if tensors is None:
        if hasattr(network, "inds") and hasattr(network, "data"):
            tensors = (network,)
        else:
            raise TnvizError(
                f"from_quimb takes a quimb TensorNetwork or Tensor; got {type(network).__name__}",
                token=type(network).__name__,
            )
    if not tensors:
        raise TnvizError("the quimb network has no tensors", token="tensors")
    held = Counter(i for t in tensors for i in t.inds)
    outer = list(output_inds) if output_inds is not None else [i for t in tensors for i in t.inds if held[i] == 1]
    for index in outer:
        if index not in held:
            raise TnvizError(f"output index {index!r} is on no tensor of the network", token=str(index))
    index_name = _usable_names(list(held), "e")
    tag_count = Counter(tag for t in tensors for tag in t.tags)
    # a tag only this tensor has names it; a tensor without one gets a fresh T…
    keys = [next((tag for tag in t.tags if tag_count[tag] == 1), object()) for t in tensors]
    tensor_name = _usable_names(keys, "T")
    names = [tensor_name[key] for key in keys]
    ops = [f"{name}: " + " ".join(index_name[i] for i in t.inds) for name, t in zip(names, tensors)]
    spec = ", ".join(ops) + " -> " + " ".join(index_name[i] for i in outer)
    return _network(spec, {name: _tensor(t.data, name) for name, t in zip(names, tensors)})


def _usable_names(names: list[Any], fresh: str) -> dict[Any, str]:
    """quimb's names as tnviz names: kept where they are ASCII identifiers not starting with ``_``
    (quimb's generated bond names do), cleaned where only punctuation is in the way (``k0,0`` →
    ``k0_0``), else ``{fresh}1, {fresh}2, …``; never two alike."""
    chosen: dict[Any, str] = {}
    for name in names:
        text = name if isinstance(name, str) else "_"
        if not text.startswith("_"):
            text = re.sub(r"\W", "_", text) if not is_name(text) else text
            if is_name(text) and not text.startswith("_") and text not in chosen.values():
                chosen[name] = text
    k = 0
    for name in names:
        if name in chosen:
            continue
        k += 1
        while f"{fresh}{k}" in chosen.values():
            k += 1
        chosen[name] = f"{fresh}{k}"
    return chosen
