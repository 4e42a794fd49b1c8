"""Each step of a plan compiled into torch calls: a one-tensor step (diagonals, sums), a
contraction (``F.linear`` / a 1×1 ``F.conv`` over the channels where it can, else
``torch.einsum``) and a convolution (one grouped ``F.conv`` call with its upsampling,
padding, crops, folds and strides around it). :class:`~tnviz.execute.program.Program` runs
them in the plan's order."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from tnviz.core.plan import Step
from tnviz.core.plan.lower import channel_block
from tnviz.core.spec import einsum_letters

__all__ = ["Pairwise", "compile_pairwise", "sum_step", "as_shape", "permutation", "memory_format_of"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}

Prepare = Callable[[torch.Tensor], torch.Tensor]
Main = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """The layout ``torch.nn``'s convolutions would keep for ``x``: channels_last(_3d) when its
    strides are those of that layout, read as PyTorch reads them (``Tensor.suggest_memory_format``),
    so a tensor with one channel (both contiguous and channels_last) is classed by how it was laid
    out, and a convolution on it returns what ``nn.Conv2d`` would (rank 1 on channels_last: the
    channel-mixing step kept channels_last, 0.79 → 0.44 of dense, forward + backward). Under
    ``vmap``, which cannot ask a batched tensor for its strides, the plain layout."""
    if x.dim() not in (4, 5):
        return torch.contiguous_format
    layout = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    try:
        if x.is_contiguous() and not x.is_contiguous(memory_format=layout):  # plain NCHW: no strides to read
            return torch.contiguous_format
        strides = x.stride()
    except RuntimeError:  # "NYI: querying is_contiguous inside of vmap for memory_format ..."
        return torch.contiguous_format
    return layout if _channels_last_strides(tuple(x.shape), strides) else torch.contiguous_format


def _channels_last_strides(shape: tuple, strides: tuple) -> bool:
    """PyTorch's own test (c10's ``is_channels_last_strides_2d_s4``/``_3d_s5``, which Python cannot
    call; ``torch._prims_common`` mirrors it but fails under ``torch.jit.trace``): the strides grow
    from the channels over the spatial axes, last to first, to the batch; a size-1 axis is
    classed by its stride, and ambiguous cases are NCHW."""
    if strides[1] == 0:
        return False
    smallest = 0
    for d in (1, *range(len(shape) - 1, 1, -1), 0):
        if shape[d] == 0 or strides[d] < smallest:
            return False
        if d == 0 and smallest == strides[1]:
            return False
        smallest = strides[d] * shape[d] if shape[d] > 1 else strides[d]
    return True


def as_shape(t: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``t.reshape(shape)``, but ``t`` itself when it has that shape already: a reshape to its own
    shape re-strides a tensor that is contiguous in two layouts (one channel, one pixel) as plainly
    contiguous, and the convolution after it would then return NCHW where ``nn.Conv2d`` keeps
    channels_last (svd at rate 0.02 on channels_last, forward: a copy back of the whole output)."""
    return t if t.shape == shape else t.reshape(shape)


def permutation(src: Sequence[str], dst: Sequence[str]) -> tuple[int, ...] | None:
    perm = tuple(src.index(i) for i in dst)
    return None if perm == tuple(range(len(perm))) else perm


@dataclass(frozen=True)
class Pairwise:
    """A pairwise step compiled: ``main(x, prepare(w), bias)`` writes the result; ``fuses_bias``
    when ``main`` adds ``bias`` along the result's channel mode itself."""

    x: int
    w: int
    prepare: Prepare | None
    main: Main
    fuses_bias: bool


def _einsum_call(step: Step) -> Pairwise:
    (a, b), (ia, ib) = step.operands, step.operand_indices
    names = list(dict.fromkeys(ia + ib))
    letter = einsum_letters(names, "a step")
    eq = (
        f"{''.join(letter[i] for i in ia)},{''.join(letter[i] for i in ib)}->{''.join(letter[i] for i in step.indices)}"
    )
    return Pairwise(a, b, None, lambda x, w, bias: torch.einsum(eq, x, w), False)


def _channel_contraction(step: Step, big: int, bias_layout: tuple | None) -> Pairwise | None:
    """A contraction over a block of "channel" modes of an activation laid out as
    (outer..., channels..., inner...): with no inner modes an ``F.linear``; else a 1×1
    convolution — ``F.conv2d``/``F.conv3d`` on a channels_last activation as it lies (it stays
    channels_last), ``F.conv1d`` over the flattened inner modes otherwise. No permuted copy in
    or out. Measured on 2 CPU threads (torch 2.13, 32×C×32×32, forward + backward) against
    ``torch.einsum``: 6.0 vs 9.7 ms for 27→64 channels, 4.1 vs 5.5 ms for 16→40, equal for 64→27.

    Returns None when the step does not have that shape.
    """
    ob, os_ = step.operand_indices[big], step.operand_indices[1 - big]
    block = channel_block(ob, os_, step.indices)  # the lowering's own test of this form
    if block is None:
        return None
    outer, channels, inner, new = block  # new: the small side's indices, in any order
    shape_big = dict(zip(ob, step.operand_shapes[big]))
    shape_small = dict(zip(os_, step.operand_shapes[1 - big]))
    n_outer = math.prod([shape_big[i] for i in outer])
    n_in = math.prod([shape_big[i] for i in channels])
    inner_shape = tuple(shape_big[i] for i in inner)
    n_inner = math.prod(inner_shape)
    n_out = math.prod([shape_small[i] for i in new])
    if not n_outer * n_in * n_inner * n_out:
        return None  # an empty tensor: F.conv refuses zero channels, torch.einsum does not
    w_perm = permutation(os_, new + channels)
    out_shape = step.shape
    fuses = bias_layout == (outer, new, inner)

    def prepare(w: torch.Tensor) -> torch.Tensor:
        if w_perm is not None:
            w = w.permute(w_perm)
        return w.reshape(n_out, n_in)

    if not inner:

        def linear(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
            if not x.is_floating_point():  # integer and complex tensors: torch.einsum
                return torch.einsum("bi,oi->bo", x.reshape(n_outer, n_in), w).reshape(out_shape)
            return F.linear(x.reshape(n_outer, n_in), w, bias).reshape(out_shape)

        return Pairwise(step.operands[big], step.operands[1 - big], prepare, linear, fuses)

    spatial_ok = len(inner) <= 3

    def pointwise(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
        if not x.is_floating_point():  # F.conv is for real floating types only: torch.einsum
            return torch.einsum("bij,oi->boj", x.reshape(n_outer, n_in, n_inner), w).reshape(out_shape)
        if spatial_ok:
            x = as_shape(x, (n_outer, n_in, *inner_shape))  # a view where the layout allows
            if memory_format_of(x) is not torch.contiguous_format:
                y = _CONV[len(inner)](x, w.reshape(n_out, n_in, *([1] * len(inner))), bias)
                return as_shape(y, out_shape)
        y = F.conv1d(x.reshape(n_outer, n_in, n_inner), w.reshape(n_out, n_in, 1), bias)
        return y.reshape(out_shape)

    return Pairwise(step.operands[big], step.operands[1 - big], prepare, pointwise, fuses)


def sum_step(step: Step) -> Callable[[torch.Tensor], torch.Tensor]:
    """One tensor's unary step: its diagonals (a repeated index) and its summed indices."""
    (ia,) = step.operand_indices
    if len(set(ia)) < len(ia):
        letter = einsum_letters(list(dict.fromkeys(ia)), "a diagonal of a tensor")
        eq = f"{''.join(letter[i] for i in ia)}->{''.join(letter[i] for i in step.indices)}"
        return lambda x: torch.einsum(eq, x)
    dims = tuple(ia.index(i) for i in step.summed)
    return lambda x: x.sum(dim=dims)


@dataclass(frozen=True)
class _ConvCall:
    """How one conv step's tensors are laid out for a grouped ``F.conv`` call and what is done
    around it: upsampling, padding in a mode, crops, folds, summed spatial dimensions."""

    in_perm: tuple[int, ...] | None
    w_perm: tuple[int, ...] | None
    in_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    groups: int
    channels: int  # g · in_channels: F.conv refuses zero
    flip: tuple[int, ...]
    upsample: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    pads_by_mode: dict[str, list[int]]
    crop: list[int]  # negative paddings: cropped after the padding of the other sides
    drop: tuple[int, ...]  # spatial dimensions summed after convolving
    folds: list[tuple[int, tuple[str, int, int], int]]  # (dim, fold, stride after it)
    grouped_shape: tuple[int, ...]
    regroup: int

    @classmethod
    def of(cls, step: Step) -> _ConvCall:
        side = step.input_side
        oi, ow = step.operand_indices[side], step.operand_indices[1 - side]
        len_in = dict(zip(oi, step.operand_shapes[side]))
        len_w = dict(zip(ow, step.operand_shapes[1 - side]))
        dims = step.conv
        spatial = tuple(d.index for d in dims)
        kernel_dims = tuple(d.index for d in dims if d.operation != "pass")
        g = math.prod([len_in[i] for i in step.groups])
        nb = math.prod([len_in[i] for i in step.batch])
        cin = math.prod([len_in[i] for i in step.in_channels])
        cout = math.prod([len_w[i] for i in step.out_channels])
        in_shape = (nb, g * cin, *[len_in[i] for i in spatial])
        symmetric_zero = all(d.pad[0] == d.pad[1] >= 0 and (d.padding_mode == "zeros" or d.pad == (0, 0)) for d in dims)
        pads_by_mode: dict[str, list[int]] = {}
        crop: list[int] = []
        if not symmetric_zero:
            for mode in {d.padding_mode for d in dims}:
                flat: list[int] = []
                for d in reversed(dims):
                    flat += [max(v, 0) for v in d.pad] if d.padding_mode == mode else [0, 0]
                if any(flat):
                    pads_by_mode[_PAD_MODE[mode]] = flat
            for d in reversed(dims):
                crop += [min(v, 0) for v in d.pad]
            if not any(crop):
                crop = []
        out_shape = (
            tuple(len_in[i] for i in step.batch + step.groups)
            + tuple(len_w[i] for i in step.out_channels)
            + tuple(d.length for d in dims)
        )
        upsample = tuple((2 + k, d.upsample) for k, d in enumerate(dims) if d.upsample > 1)
        folds = [(2 + k, d.fold, d.stride) for k, d in enumerate(dims) if d.fold is not None]
        # A channels_last activation whose batch indices stand next to its channels — (b, r0, r1, x, y)
        # read as (b·r0, r1, x, y), as a tensor ring's closing index does — would be copied to NCHW by
        # that reshape. Read as (b, r0·r1, x, y), a view, with the kernel repeated r0 times as groups,
        # it stays channels_last (tr at rate 0.1, fwd+bwd on channels_last: 0.80 → 0.42 of dense).
        n_outer = len_in[step.batch[0]] if step.batch else 1
        plain = not upsample and not pads_by_mode and not crop and not folds
        return cls(
            in_perm=permutation(oi, step.batch + step.groups + step.in_channels + spatial),
            w_perm=permutation(ow, step.groups + step.out_channels + step.in_channels + kernel_dims),
            in_shape=in_shape,
            w_shape=(g * cout, cin, *[d.kernel for d in dims]),
            out_shape=out_shape,
            groups=g,
            channels=g * cin,
            flip=tuple(2 + k for k, d in enumerate(dims) if d.operation == "full" or d.flip),
            upsample=upsample,
            # a fold comes before the stride: that dimension is convolved at stride 1, folded, then strided
            stride=tuple(1 if d.fold is not None else d.stride for d in dims),
            padding=tuple(d.pad[0] for d in dims) if symmetric_zero else (0,) * len(dims),
            dilation=tuple(d.dilation for d in dims),
            pads_by_mode=pads_by_mode,
            crop=crop,
            drop=tuple(len(out_shape) - len(dims) + k for k, d in enumerate(dims) if d.index not in step.indices),
            folds=folds,
            grouped_shape=(n_outer, nb // n_outer * g * cin, *in_shape[2:]),
            regroup=nb // n_outer if len(step.batch) > 1 and g == 1 and plain else 1,
        )


def _conv_step(step: Step, bias_layout: tuple | None) -> Pairwise:
    """A pairwise step with convolution as one grouped F.conv call.

    Layout: the input side becomes (batch, groups·in_channels, *spatial), the weight side
    (groups·out_channels, in_channels, *kernel); partial-outer-product indices are F.conv's
    groups, contracted indices its channels, indices of the input side only its batch.
    """
    ids = step.operands
    inp_id, wgt_id = ids[step.input_side], ids[1 - step.input_side]
    call = _ConvCall.of(step)
    out_shape, drop = call.out_shape, call.drop
    conv = _CONV[len(step.conv)]
    spatial = tuple(d.index for d in step.conv)
    # a bias added before the fold would be folded too
    fuses = not step.groups and not drop and not call.folds and bias_layout == (step.batch, step.out_channels, spatial)

    if not call.channels:  # F.conv refuses zero channels; the sum over none is zero

        def zeros(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
            # zeros that stay in the graph, so the gradients are zeros rather than None
            return x.new_zeros(out_shape) + 0 * (x.sum() + w.sum())

        return Pairwise(inp_id, wgt_id, None, zeros, False)

    def prepare(w: torch.Tensor) -> torch.Tensor:
        if call.w_perm is not None:
            w = w.permute(call.w_perm)
        w = w.reshape(call.w_shape)
        if call.flip:
            w = w.flip(call.flip)
        # A reshaped view can keep odd strides (size-1 axes); PyTorch's CPU conv backward then
        # fails with "grad_weight must be contiguous". contiguous() is free when it already is.
        return w.contiguous()

    stride, padding, dilation, g, regroup = call.stride, call.padding, call.dilation, call.groups, call.regroup

    def main(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
        if call.in_perm is not None:
            x = x.permute(call.in_perm)
        if regroup > 1 and not x.is_contiguous():
            x = as_shape(x, call.grouped_shape)  # a view where the layout allows
            if memory_format_of(x) is not torch.contiguous_format:
                y = conv(x, w.repeat(regroup, *([1] * (w.dim() - 1))), None, stride, padding, dilation, regroup)
                y = as_shape(y, out_shape)
                return y.sum(dim=drop) if drop else y
        x = _upsampled(as_shape(x, call.in_shape), call.upsample)
        for mode, flat in call.pads_by_mode.items():
            x = F.pad(x, flat, mode=mode)
        if call.crop:
            x = F.pad(x, call.crop)  # negative: crops
        y = _folded(conv(x, w, bias, stride, padding, dilation, g), call.folds)
        y = as_shape(y, out_shape)
        return y.sum(dim=drop) if drop else y

    return Pairwise(inp_id, wgt_id, prepare, main, fuses)


def _upsampled(x: torch.Tensor, upsample: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Zeros between the signal's entries along each ``(dim, factor)`` (a stride's transpose)."""
    for dim, factor in upsample:
        shape = list(x.shape)
        shape[dim] = (shape[dim] - 1) * factor + 1
        spread = x.new_zeros(shape)
        index = [slice(None)] * len(shape)
        index[dim] = slice(None, None, factor)
        spread[tuple(index)] = x
        x = spread
    return x


def _folded(y: torch.Tensor, folds: Sequence[tuple[int, tuple[str, int, int], int]]) -> torch.Tensor:
    """Each padded entry added back onto the entry it copies, then the stride, per ``(dim, fold,
    stride)``."""
    for dim, fold, step in folds:
        shape = list(y.shape)
        shape[dim] -= fold[1] + fold[2]
        y = y.new_zeros(shape).index_add(dim, _fold_sources(fold, shape[dim], y.device), y)
        if step > 1:
            y = y[(slice(None),) * dim + (slice(None, None, step),)]
    return y


@functools.lru_cache(maxsize=64)
def _fold_sources(fold: tuple[str, int, int], length: int, device: torch.device) -> torch.Tensor:
    """For each entry of a signal of ``length`` padded by ``fold = (mode, left, right)``, the
    entry it copies (F.pad's modes): adding each onto its source is the padding's adjoint."""
    mode, left, right = fold
    inner = list(range(length))
    if mode == "circular":
        before = [(q - left) % length for q in range(left)]
        after = [j % length for j in range(right)]
    elif mode == "reflect":
        before = [left - q for q in range(left)]
        after = [length - 2 - j for j in range(right)]
    else:  # replicate
        before, after = [0] * left, [length - 1] * right
    return torch.tensor(before + inner + after, dtype=torch.long, device=device)


def compile_pairwise(step: Step, bias_layout: tuple | None) -> Pairwise:
    if step.kind == "conv":
        return _conv_step(step, bias_layout)
    for big in (0, 1):
        pair = _channel_contraction(step, big, bias_layout)
        if pair is not None:
            return pair
    return _einsum_call(step)
