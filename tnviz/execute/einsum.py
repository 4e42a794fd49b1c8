"""``tnviz.einsum``: run a spec or Diagram on tensors, with convolution."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch

from tnviz.core.diagram import Diagram
from tnviz.core.grad import PendingGradient
from tnviz.core.optimize import Optimize
from tnviz.core.spec import modes_text
from tnviz.errors import TnvizError
from tnviz.execute.runner import run_plan

__all__ = ["einsum", "as_diagram", "plan_for"]


@functools.lru_cache(maxsize=512)
def _parse_cached(spec: str, options: tuple) -> Diagram:
    return Diagram.parse(spec, **{k: _option_value(v) for k, v in options})


def _option_key(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ("__dict__", tuple(sorted(value.items(), key=lambda kv: str(kv[0]))))
    if isinstance(value, list):
        return tuple(value)
    return value


def _option_value(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__dict__":
        return dict(value[1])
    return value


def as_diagram(spec_or_diagram: str | Diagram, **conv_options: Any) -> Diagram:
    """A Diagram from a spec (parsed once, then cached) or a Diagram with options applied.

    Options left as None keep the diagram's own.
    """
    given = {k: v for k, v in conv_options.items() if v is not None}
    if isinstance(spec_or_diagram, Diagram):
        return spec_or_diagram.with_options(**given) if given else spec_or_diagram
    if not isinstance(spec_or_diagram, str):
        raise TnvizError(
            f"expected a spec string or a Diagram, got {type(spec_or_diagram).__name__}",
            token=type(spec_or_diagram).__name__,
        )
    try:
        key = tuple(sorted((k, _option_key(v)) for k, v in given.items()))
        hash(key)
    except TypeError:
        return Diagram.parse(spec_or_diagram, **given)
    return _parse_cached(spec_or_diagram, key)


def _check_tensors(diagram: Diagram, tensors: tuple) -> None:
    names = diagram.tensor_names
    if len(tensors) != len(names):
        raise TnvizError(
            f"{len(tensors)} tensor(s) given; the spec has {len(names)} operand(s) ({', '.join(names)})",
            token=str(len(tensors)),
        )
    first = None
    for name, t in zip(names, tensors):
        if not isinstance(t, torch.Tensor):
            raise TnvizError(f"operand {name!r} is a {type(t).__name__}; expected a torch.Tensor", token=name)
        op = diagram.tensor(name)
        if op.has_ellipsis:
            if t.dim() < len(op.modes) - 1:  # '...' covers any number of dimensions, none included
                raise TnvizError(
                    f"operand {name!r} has {t.dim()} dimensions {tuple(t.shape)}; expected at least "
                    f"{len(op.modes) - 1} for '{modes_text(op.modes)}'",
                    token=name,
                )
        elif t.dim() != len(op.modes):
            modes = modes_text(op.modes)
            raise TnvizError(
                f"operand {name!r} has {t.dim()} dimensions {tuple(t.shape)}; expected {len(op.modes)} for '{modes}'",
                token=name,
            )
        if first is None:
            first = (name, t)
        elif t.dtype != first[1].dtype:
            raise TnvizError(
                f"operand {name!r} has dtype {t.dtype} but {first[0]!r} has {first[1].dtype}; expected one dtype",
                token=name,
            )
        elif t.device != first[1].device:
            raise TnvizError(
                f"operand {name!r} is on {t.device} but {first[0]!r} is on {first[1].device}; expected one device",
                token=name,
            )
    if diagram.conv and first is not None and not (first[1].is_floating_point() or first[1].is_complex()):
        raise TnvizError(f"convolution needs floating-point tensors, got {first[1].dtype}", token=str(first[1].dtype))


def plan_for(
    diagram: Diagram,
    shapes: tuple[tuple[int, ...], ...],
    sizes: Mapping[str, Any] | None = None,
    optimize: Optimize = "auto",
    inputs: tuple[str, ...] | None = None,
    itemsize: int = 4,
    *,
    broadcast: bool = False,
    layout: str = "contiguous",
):
    """The cached plan of ``diagram`` for these tensor shapes.

    ``broadcast=True`` (``tnviz.einsum``) lets a dimension of size 1 broadcast against a
    larger one of the same index, as ``torch.einsum`` does — only for indices whose size the
    diagram does not fix; modules (``TensorNetwork``, the layers) keep strict sizes, so a
    wrong input is an error rather than a broadcast."""
    if hasattr(optimize, "tolist"):  # a NumPy path, as opt_einsum returns
        optimize = optimize.tolist()
    if sizes is not None and not isinstance(sizes, Mapping):
        raise TnvizError(f"sizes must be a dict, got {type(sizes).__name__}", token="sizes")
    if isinstance(diagram, PendingGradient):  # its options come with the lengths: bound before broadcasting
        diagram = diagram.bind(sizes, shapes=dict(zip(diagram.tensor_names, shapes)))
        sizes = None
    if diagram.has_ellipsis:
        diagram = _expanded(diagram, _ellipsis_signature(shapes))
    if broadcast:
        renames = _broadcast_renames(diagram, shapes, sizes)
        if renames:
            diagram = _renamed(diagram, renames)
    bound = {**(sizes or {}), **dict(zip(diagram.tensor_names, shapes))}
    return diagram.plan(bound, optimize=optimize, inputs=inputs, itemsize=itemsize, layout=layout)


def _broadcast_renames(
    diagram: Diagram, shapes: tuple[tuple[int, ...], ...], sizes: Mapping[str, Any] | None
) -> tuple[tuple[str, str, str], ...]:
    """torch.einsum broadcasts a dimension of size 1 against a larger one of the same index.
    The Diagram holds one size per index, so such a size-1 dimension gets an index of its own
    (summed away, or kept where the output asks): ``(tensor, index, new name)`` per rename.
    Indices whose size the diagram or ``sizes`` fix are left alone (binding checks them)."""
    conv = set(diagram.conv)
    fixed = set(diagram.sizes) | set(sizes or ())
    seen: dict[str, list[tuple[str, int]]] = {}
    for op, shape in zip(diagram.tensors, shapes):
        if len(shape) != len(op.modes):
            return ()  # the binding reports the wrong number of dimensions
        for mode, extent in zip(op.modes, shape):
            if len(mode) == 1 and mode[0] not in conv and mode[0] not in fixed:
                seen.setdefault(mode[0], []).append((op.name, extent))
    taken = set(diagram.index_names)
    renames = []
    for index, held in seen.items():
        largest = max(extent for _, extent in held)
        if largest == 1:
            continue
        for name in dict.fromkeys(n for n, extent in held if extent == 1):
            if any(n == name and extent != 1 for n, extent in held):
                continue  # a diagonal of sizes 1 and n: the binding reports it
            new = f"{index}_{name}"
            while new in taken:
                new = "_" + new
            taken.add(new)
            renames.append((name, index, new))
    return tuple(renames)


def _ellipsis_signature(shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    """The shapes as far as expanding ``...`` depends on them: the number of dimensions and
    which are 1 (broadcast). Batches of other sizes then share one expanded diagram (and its
    plan cache); sizes that do not broadcast are reported when the shapes are bound."""
    return tuple(tuple(1 if d == 1 else 2 for d in shape) for shape in shapes)


@functools.lru_cache(maxsize=256)
def _expanded(diagram: Diagram, shapes: tuple[tuple[int, ...], ...]) -> Diagram:
    """``diagram`` with ``...`` replaced for these shapes (cached, so its plan cache lives on)."""
    from tnviz.core.ellipsis import expand_ellipsis

    spec = expand_ellipsis(diagram.spec, shapes)
    return Diagram(spec, diagram.sizes, diagram.conv_sizes, diagram.options)


@functools.lru_cache(maxsize=256)
def _renamed(diagram: Diagram, renames: tuple[tuple[str, str, str], ...]) -> Diagram:
    """``diagram`` with the broadcast renames applied (cached, so its plan cache lives on)."""
    from tnviz.core.spec import Operand, Spec

    by_tensor: dict[str, dict[str, str]] = {}
    for tensor, index, new in renames:
        by_tensor.setdefault(tensor, {})[index] = new
    ops = tuple(
        Operand(op.name, tuple(tuple(by_tensor.get(op.name, {}).get(i, i) for i in m) for m in op.modes))
        for op in diagram.tensors
    )
    spec = Spec(ops, diagram.output, diagram.conv)
    return Diagram(spec, diagram.sizes, diagram.conv_sizes, diagram.options)


def einsum(
    spec_or_diagram: str | Diagram,
    *tensors: torch.Tensor,
    sizes: Mapping[str, Any] | None = None,
    padding: Any = None,
    stride: Any = None,
    dilation: Any = None,
    padding_mode: Any = None,
    optimize: Optimize = "auto",
    flip: Any = None,
    upsample: Any = None,
) -> torch.Tensor:
    """Evaluate a generalized einsum with convolution, like ``torch.einsum`` plus ``|``.

    Args:
        spec_or_diagram: a spec such as ``"bsxy,tsxy->btxy|xy"`` or a :class:`Diagram`.
        *tensors: one tensor per operand, in spec order.
        sizes: extra index sizes, e.g. for group members that cannot be inferred.
        padding, stride, dilation, padding_mode: convolution options as in ``F.conv2d``
            (default 0, 1, 1, ``"zeros"``; for a Diagram, its own): a scalar, a tuple with
            one entry per convolution index, or ``{index: value}``; padding may also be
            ``"same"``, ``"valid"`` or, per index, a ``(left, right)`` pair (negative crops).
        flip, upsample: the two options beyond PyTorch's (see ``docs/spec.md``): kernels
            reversed along an index (a true convolution), zeros inserted into the signal.
        optimize: ``"auto"``, ``"hyper"`` (or ``tnviz.Hyper(...)``), ``"optimal"``, ``"greedy"``,
            ``"left-to-right"``, ``"reconstruct"`` or a path (see :meth:`Diagram.plan`).

    Returns:
        The result tensor (autograd flows through it).

    Example:
        >>> X, K = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
        >>> torch.allclose(einsum("bsxy,tsxy->btxy|xy", X, K, padding=1),
        ...                torch.nn.functional.conv2d(X, K, padding=1), atol=1e-5)
        True
    """
    spec_text = spec_or_diagram if isinstance(spec_or_diagram, str) else None
    try:
        diagram = as_diagram(
            spec_or_diagram,
            padding=padding,
            stride=stride,
            dilation=dilation,
            padding_mode=padding_mode,
            flip=flip,
            upsample=upsample,
        )
        _check_tensors(diagram, tensors)
        shapes = tuple(tuple(t.shape) for t in tensors)
        itemsize = tensors[0].element_size() if tensors else 4
        plan = plan_for(diagram, shapes, sizes, optimize, None, itemsize, broadcast=True)
    except TnvizError as err:
        shapes_text = ", ".join(
            f"{n}={tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}"
            for n, t in zip(_names(spec_or_diagram, len(tensors)), tensors)
        )
        spec_ctx = (
            spec_text
            if spec_text is not None
            else (spec_or_diagram.to_spec() if isinstance(spec_or_diagram, Diagram) else None)
        )
        raise err.with_context(spec=spec_ctx, shapes=shapes_text or None) from None
    return run_plan(plan, tensors)


def _names(spec_or_diagram: Any, count: int) -> list[str]:
    names: list[str] = []
    if isinstance(spec_or_diagram, Diagram):
        names = list(spec_or_diagram.tensor_names)
    elif isinstance(spec_or_diagram, str):
        try:
            names = list(Diagram.parse(spec_or_diagram).tensor_names)
        except TnvizError:
            names = []
    return names + [f"#{k + 1}" for k in range(len(names), count)]
