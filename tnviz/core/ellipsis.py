"""``...`` in a spec replaced by fresh indices once the operands' shapes are known
(``torch.einsum``'s broadcasting rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tnviz.core.binding import checked_shape
from tnviz.core.spec import ELLIPSIS, Operand, Spec, modes_text
from tnviz.errors import TnvizError

__all__ = ["expand_ellipsis", "expand_with_shapes"]


def _fresh_prefix(spec: Spec, names: Sequence[str]) -> str:
    """A prefix ``_e`` (``__e``, ...) such that no ``prefix + name`` is an index of the spec."""
    used = {i for op in (*spec.operands, spec.output) for i in op.indices} | set(spec.conv)
    prefix = "_e"
    while any(prefix + n in used for n in names):
        prefix = "_" + prefix
    return prefix


def expand_ellipsis(spec: Spec, shapes: Sequence[Sequence[int]]) -> Spec:
    """Replace every ``...`` by fresh indices, given each operand's shape (``torch.einsum``'s rules).

    An operand's ``...`` covers ``ndim - (its other modes)`` dimensions. The ellipsis
    dimensions of all operands are aligned from the right and broadcast (numpy); the
    output's ``...`` covers the broadcast shape. Broadcast position ``p`` (counted from the
    left) becomes the index ``_e{p}``; an operand whose dimension there has size 1 while
    another's is larger gets a private index ``_e{p}_{name}`` instead (a size-1 index,
    summed). Should ``_e...`` clash with the spec's own indices, the prefix grows
    underscores (``__e0``). When the output has no ``...`` the ellipsis indices are summed.

    Args:
        spec: a parsed spec.
        shapes: one shape (a sequence of ints) per operand.

    Returns:
        The spec without ``...``; ``spec`` itself when it has no ellipsis.

    Raises:
        TnvizError: when the number of shapes is wrong, an operand has fewer dimensions
            than its named modes, or ellipsis sizes do not broadcast.

    Example:
        >>> from tnviz.core.spec import format_spec
        >>> from tnviz.core.spec_parser import parse_spec
        >>> s = expand_ellipsis(parse_spec("...ij,...jk->...ik"), [(5, 2, 3), (3, 4)])
        >>> format_spec(s)
        'A: _e0 i j, B: j k -> _e0 i k'
    """
    if not any(op.has_ellipsis for op in spec.operands):
        return spec
    if len(shapes) != len(spec.operands):
        raise TnvizError(
            f"{len(shapes)} shape(s) for {len(spec.operands)} operand(s); expected one shape per operand",
            token=str(len(shapes)),
            shapes=shapes,
        )
    dims: list[tuple[int, ...]] = []
    for op, shape in zip(spec.operands, shapes):
        shape = tuple(int(d) for d in shape)
        if not op.has_ellipsis:
            dims.append(())
            continue
        others = len(op.modes) - 1
        count = len(shape) - others
        if count < 0:
            raise TnvizError(
                f"tensor {op.name!r} has shape {shape} ({len(shape)} dimension(s)) but its modes "
                f"{modes_text(op.modes)!r} name {others} besides '...'; "
                f"expected at least {others} dimension(s)",
                token=op.name,
                shapes=shapes,
            )
        at = op.modes.index((ELLIPSIS,))
        dims.append(shape[at : at + count])
    width = max(len(d) for d in dims)
    sizes: list[int] = []
    for p in range(width):
        holders = [(op, d[p - width + len(d)]) for op, d in zip(spec.operands, dims) if p >= width - len(d)]
        size, owner = 1, None
        for op, n in holders:
            if n == 1:
                continue
            if owner is not None and n != size:
                raise TnvizError(
                    f"ellipsis dimensions do not broadcast: tensor {owner.name!r} has size {size} and tensor "
                    f"{op.name!r} size {n} at broadcast position {p} (of {width}, counted from the left); "
                    "expected equal sizes or 1",
                    token=op.name,
                    shapes=shapes,
                )
            size, owner = n, op
        sizes.append(size)
    wanted = [str(p) for p in range(width)]
    wanted += [f"{p}_{op.name}" for op in spec.operands for p in range(width)]
    prefix = _fresh_prefix(spec, wanted)
    shared = tuple((f"{prefix}{p}",) for p in range(width))

    def expand(op: Operand, own: tuple[int, ...]) -> Operand:
        if not op.has_ellipsis:
            return op
        first = width - len(own)
        names = tuple(
            (f"{prefix}{first + j}_{op.name}",) if n == 1 and sizes[first + j] > 1 else shared[first + j]
            for j, n in enumerate(own)
        )
        at = op.modes.index((ELLIPSIS,))
        return Operand(op.name, op.modes[:at] + names + op.modes[at + 1 :])

    operands = tuple(expand(op, d) for op, d in zip(spec.operands, dims))
    output = spec.output
    if output.has_ellipsis:
        at = output.modes.index((ELLIPSIS,))
        output = Operand(output.name, output.modes[:at] + shared + output.modes[at + 1 :])
    return Spec(operands, output, spec.conv)


def expand_with_shapes(spec: Spec, shapes: Mapping[str, Any]) -> Spec | None:
    """``spec`` with every ``...`` expanded when each tensor holding one has a shape in ``shapes``
    (``{tensor: shape}``), else None; some but not all of them given is refused, naming the rest."""
    with_ellipsis = [op.name for op in spec.operands if op.has_ellipsis]
    missing = [n for n in with_ellipsis if n not in shapes]
    if missing and len(missing) < len(with_ellipsis):
        raise TnvizError(
            f"the ellipsis '...' stands for dimensions known only from the tensors' shapes; "
            f"give the shape of {', '.join(map(repr, missing))} too (or pass tensors to tnviz.einsum)",
            token=ELLIPSIS,
        )
    for name, shape in shapes.items():
        checked_shape(name, shape)
    if missing:
        return None
    return expand_ellipsis(spec, [tuple(shapes.get(op.name, (1,) * len(op.modes))) for op in spec.operands])
