"""Binding sizes to a Diagram: index sizes and tensor shapes resolved into one size per index
(and one length per convolution holder), group members inferred, disagreements refused.
Standard library only; :meth:`tnviz.core.diagram.Diagram.bind` builds the bound Diagram."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tnviz.core.conv_options import MAX_SIZE, is_int
from tnviz.core.spec import modes_text
from tnviz.errors import TnvizError

if TYPE_CHECKING:
    from tnviz.core.diagram import Diagram

__all__ = ["resolve_sizes", "check_conv_lengths"]


def checked_shape(name: str, shape: Any) -> tuple[int, ...]:
    """A tensor's shape as a user gave it, as a tuple of ints (a TnvizError naming the tensor else)."""
    if not isinstance(shape, (tuple, list)) or not all(is_int(v) and v >= 0 for v in shape):
        raise TnvizError(
            f"shape of tensor {name!r} must be a tuple of non-negative ints, got {shape!r}", token=str(name)
        )
    return tuple(int(v) for v in shape)


def resolve_sizes(
    diagram: Diagram, index_sizes: Mapping[str, Any], shapes: Mapping[str, Any]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """(index sizes, convolution lengths per holder) of ``diagram`` with ``index_sizes`` and the
    tensors' ``shapes`` added, every group member inferred; a disagreement is a TnvizError."""
    spec = diagram.spec
    sizes = dict(diagram.sizes)
    conv_sizes = dict(diagram.conv_sizes)
    conv = set(spec.conv)

    def put(index: str, value: Any, tensor: str | None, source: str) -> None:
        # Size 0 (an empty tensor) is allowed where torch.einsum allows it: not along a
        # convolution index, which needs a signal and a kernel.
        if not is_int(value) or value < (1 if index in conv else 0):
            what = "a positive integer" if index in conv else "a non-negative integer"
            raise TnvizError(f"size of index {index!r} must be {what}, got {value!r} ({source})", token=index)
        if value > MAX_SIZE:
            raise TnvizError(f"size of index {index!r} is {value:,}; at most 2**40 is accepted ({source})", token=index)
        value = int(value)
        if index in conv:
            holders = diagram.holders(index)
            targets = holders if tensor is None else (tensor,)
            for t in targets:
                old = conv_sizes.get((t, index))
                if old is not None and old != value:
                    raise TnvizError(
                        f"sizes disagree for convolution index {index!r} in tensor {t!r}: {old} and {value} ({source})",
                        token=index,
                    )
                conv_sizes[(t, index)] = value
            return
        old = sizes.get(index)
        if old is not None and old != value:
            raise TnvizError(f"sizes disagree for index {index!r}: {old} and {value} ({source})", token=index)
        sizes[index] = value

    for index, value in index_sizes.items():
        if index in conv and isinstance(value, (tuple, list)):
            holders = diagram.holders(index)
            if len(value) != len(holders):
                raise TnvizError(
                    f"sizes for convolution index {index!r} give {len(value)} lengths; expected one per holder "
                    f"({', '.join(holders)})",
                    token=index,
                )
            for t, v in zip(holders, value):
                put(index, v, t, "from sizes")
        else:
            put(index, value, None, "from sizes")

    groups: list[tuple[tuple[str, ...], int, str]] = []
    for name, shape in shapes.items():
        op = diagram.tensor(name)
        shape = checked_shape(name, shape)
        if len(shape) != len(op.modes):
            raise TnvizError(
                f"tensor {name!r} has {len(shape)} dimensions {tuple(shape)}; expected {len(op.modes)} "
                f"for modes '{modes_text(op.modes)}'",
                token=name,
            )
        for mode, extent in zip(op.modes, shape):
            if len(mode) == 1:
                put(mode[0], extent, name, f"dimension of tensor {name!r}")
            else:
                if extent < 1:
                    raise TnvizError(
                        f"tensor {name!r} has an empty group ({' '.join(mode)}) of size {extent}", token=name
                    )
                groups.append((mode, extent, name))

    _infer_group_members(sizes, groups)
    return sizes, conv_sizes


def _infer_group_members(sizes: dict[str, int], groups: list[tuple[tuple[str, ...], int, str]]) -> None:
    """A group with one unknown member takes the quotient of its size by the known ones, until
    none is left or none can be inferred (a TnvizError that names what to give)."""
    pending = list(groups)
    progress = True
    while pending and progress:
        progress = False
        for item in list(pending):
            mode, extent, name = item
            known = [sizes.get(i) for i in mode]
            unknown = [i for i, v in zip(mode, known) if v is None]
            product = 1
            for v in known:
                if v is not None:
                    product *= v
            if not unknown:
                if product != extent:
                    raise TnvizError(
                        f"group ({' '.join(mode)}) of tensor {name!r} has size {extent}, but its indices "
                        f"multiply to {product}",
                        token="(" + " ".join(mode) + ")",
                    )
                pending.remove(item)
                progress = True
            elif len(unknown) == 1:
                if extent % product:
                    raise TnvizError(
                        f"group ({' '.join(mode)}) of tensor {name!r} has size {extent}, which the known "
                        f"sizes ({product}) do not divide",
                        token="(" + " ".join(mode) + ")",
                    )
                sizes[unknown[0]] = extent // product
                pending.remove(item)
                progress = True
    if pending:
        mode, extent, name = pending[0]
        unknown = [i for i in mode if sizes.get(i) is None]
        raise TnvizError(
            f"cannot infer the sizes of {', '.join(map(repr, unknown))} in group ({' '.join(mode)}) of tensor "
            f"{name!r} (size {extent}); give all but one of them in sizes=",
            token=unknown[0],
        )


def check_conv_lengths(diagram: Diagram) -> None:
    """Refuse a convolution whose (padded) signal is shorter than its kernels, or whose
    padding is too large for its padding mode."""
    conv_sizes, options = diagram.conv_sizes, diagram.options  # copies: read once
    for c in diagram.conv:
        length = diagram.size(c)
        if length is None:
            continue
        holders = diagram.holders(c)
        lens = [conv_sizes[(t, c)] for t in holders]
        opts = options[c]
        if length < 1:
            raise TnvizError(
                f"convolution index {c!r} has an output length {length} < 1: signal {holders[0]!r} has "
                f"length {lens[0]}, kernels {lens[1:]}, with {opts}; expected a kernel that fits "
                "the (padded) signal",
                token=c,
            )
        left, right = opts.pads_for_reach(opts.reach(list(zip(holders[1:], lens[1:]))))
        upsampled = (lens[0] - 1) * opts.upsample + 1
        limit = upsampled - 1 if opts.padding_mode == "reflect" else upsampled
        if opts.padding_mode != "zeros" and max(left, right) > limit:
            raise TnvizError(
                f"padding {max(left, right)} on index {c!r} is too large for padding_mode="
                f"{opts.padding_mode!r} and signal length {lens[0]}; expected at most {limit}",
                token=c,
            )
        if opts.fold is not None:  # the folded output is the padded signal: the same limits
            mode, fl, fr = opts.fold
            reach = opts.reach(list(zip(holders[1:], lens[1:])))
            length = upsampled + left + right - reach - fl - fr  # folded, before the stride
            most = length - 1 if mode == "reflect" else length
            if max(fl, fr) > most:
                raise TnvizError(
                    f"fold {opts.fold} on index {c!r} pads more than its output of length {length} can hold "
                    f"in mode {mode!r}; expected at most {most} a side",
                    token=c,
                )
