"""Turn a Plan into PyTorch operations, once per plan (the plan caches its program)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from tnviz.core.plan import Plan, Step
from tnviz.errors import TnvizError
from tnviz.execute.memory import check_plan_memory

__all__ = ["compile_plan", "run_plan"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}

Op = Callable[[list], None]


def _prod(values: Sequence[int]) -> int:
    total = 1
    for v in values:
        total *= v
    return total


def _perm(src: Sequence[str], dst: Sequence[str]) -> tuple[int, ...] | None:
    perm = tuple(src.index(i) for i in dst)
    return None if perm == tuple(range(len(perm))) else perm


def _einsum_op(step: Step) -> Op:
    for big in (0, 1):
        op = _channel_contraction_op(step, big)
        if op is not None:
            return op
    return _einsum_call(step)


def _einsum_call(step: Step) -> Op:
    (a, b), (ia, ib) = step.operands, step.operand_indices
    names = list(dict.fromkeys(ia + ib))
    if len(names) > len(_LETTERS):
        raise TnvizError(
            f"a step joins {len(names)} indices; torch.einsum takes at most {len(_LETTERS)}", token=names[-1]
        )
    letter = {i: _LETTERS[k] for k, i in enumerate(names)}
    eq = (
        f"{''.join(letter[i] for i in ia)},{''.join(letter[i] for i in ib)}->{''.join(letter[i] for i in step.indices)}"
    )
    out = step.result

    def op(slots: list) -> None:
        slots[out] = torch.einsum(eq, slots[a], slots[b])

    return op


def _channel_contraction_op(step: Step, big: int) -> Op | None:
    """A contraction over a block of "channel" modes of an activation laid out as
    (outer..., channels..., inner...) — a 1×1 convolution — runs as ``F.conv1d`` on the
    tensor as it lies: no permuted copy in or out. Measured on 2 CPU threads (torch 2.13,
    32×C×32×32, forward + backward) against ``torch.einsum``: 6.0 vs 9.7 ms for 27→64
    channels, 4.1 vs 5.5 ms for 16→40, equal for 64→27.

    Returns None when the step does not have that shape.
    """
    ob, os_ = step.operand_indices[big], step.operand_indices[1 - big]
    shared = set(ob) & set(os_)
    if not shared or shared & set(step.indices):
        return None  # nothing contracted, or a partial outer product (batch) index
    positions = [ob.index(i) for i in ob if i in shared]
    start, stop = positions[0], positions[-1] + 1
    if stop - start != len(positions) or stop == len(ob):
        return None  # channels not one block, or no inner modes after it
    outer, channels, inner = ob[:start], ob[start:stop], ob[stop:]
    new = tuple(i for i in os_ if i not in shared)
    if step.indices != outer + new + inner:
        return None
    shape_big = dict(zip(ob, step.operand_shapes[big]))
    shape_small = dict(zip(os_, step.operand_shapes[1 - big]))
    n_outer = _prod([shape_big[i] for i in outer])
    n_in = _prod([shape_big[i] for i in channels])
    n_inner = _prod([shape_big[i] for i in inner])
    n_out = _prod([shape_small[i] for i in new])
    if not n_outer * n_in * n_inner * n_out:
        return None  # an empty tensor: F.conv1d refuses zero channels, torch.einsum does not
    w_perm = _perm(os_, new + channels)
    big_id, small_id = step.operands[big], step.operands[1 - big]
    out_shape, out = step.shape, step.result
    fallback = _einsum_call(step)

    def op(slots: list) -> None:
        if not slots[big_id].is_floating_point():  # F.conv1d is for real floating types only
            fallback(slots)
            return
        w = slots[small_id]
        if w_perm is not None:
            w = w.permute(w_perm)
        x = slots[big_id].reshape(n_outer, n_in, n_inner)
        slots[out] = F.conv1d(x, w.reshape(n_out, n_in, 1)).reshape(out_shape)

    return op


def _sum_op(step: Step) -> Op:
    """One tensor's unary step: its diagonals (a repeated index) and its summed indices."""
    (a,), (ia,) = step.operands, step.operand_indices
    out = step.result
    if len(set(ia)) < len(ia):
        if len(set(ia)) > len(_LETTERS):
            raise TnvizError(
                f"a diagonal of a tensor with {len(set(ia))} indices; torch.einsum takes at most {len(_LETTERS)}",
                token=ia[-1],
            )
        letter = {i: _LETTERS[k] for k, i in enumerate(dict.fromkeys(ia))}
        eq = f"{''.join(letter[i] for i in ia)}->{''.join(letter[i] for i in step.indices)}"

        def diagonal(slots: list) -> None:
            slots[out] = torch.einsum(eq, slots[a])

        return diagonal
    dims = tuple(ia.index(i) for i in step.summed)

    def op(slots: list) -> None:
        slots[out] = slots[a].sum(dim=dims)

    return op


def _conv_op(step: Step) -> Op:
    """A pairwise step with convolution as one grouped F.conv call.

    Layout: the input side becomes (batch, groups·in_channels, *spatial), the weight side
    (groups·out_channels, in_channels, *kernel); partial-outer-product indices are F.conv's
    groups, contracted indices its channels, indices of the input side only its batch.
    """
    ids = step.operands
    side = step.input_side
    inp_id, wgt_id = ids[side], ids[1 - side]
    oi, ow = step.operand_indices[side], step.operand_indices[1 - side]
    len_in = dict(zip(oi, step.operand_shapes[side]))
    len_w = dict(zip(ow, step.operand_shapes[1 - side]))
    dims = step.conv
    spatial = tuple(d.index for d in dims)
    kernel_dims = tuple(d.index for d in dims if d.operation != "pass")
    in_perm = _perm(oi, step.batch + step.groups + step.in_channels + spatial)
    w_perm = _perm(ow, step.groups + step.out_channels + step.in_channels + kernel_dims)
    g = _prod([len_in[i] for i in step.groups])
    nb = _prod([len_in[i] for i in step.batch])
    cin = _prod([len_in[i] for i in step.in_channels])
    cout = _prod([len_w[i] for i in step.out_channels])
    in_shape = (nb, g * cin, *[len_in[i] for i in spatial])
    w_shape = (g * cout, cin, *[d.kernel for d in dims])
    flip = tuple(2 + k for k, d in enumerate(dims) if d.operation == "full" or d.flip)
    upsample = tuple((2 + k, d.upsample) for k, d in enumerate(dims) if d.upsample > 1)
    stride = tuple(d.stride for d in dims)
    dilation = tuple(d.dilation for d in dims)
    symmetric_zero = all(d.pad[0] == d.pad[1] >= 0 and (d.padding_mode == "zeros" or d.pad == (0, 0)) for d in dims)
    padding = tuple(d.pad[0] for d in dims) if symmetric_zero else (0,) * len(dims)
    pads_by_mode: dict[str, list[int]] = {}
    crop: list[int] = []  # negative paddings: cropped after the padding of the other sides
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
    drop = tuple(len(out_shape) - len(dims) + k for k, d in enumerate(dims) if d.index not in step.indices)
    conv = _CONV[len(dims)]
    out = step.result
    empty_sum = not cin * g  # F.conv refuses zero channels; the sum over none is zero

    def zeros(slots: list) -> None:
        x, w = slots[inp_id], slots[wgt_id]
        # zeros that stay in the graph, so the gradients are zeros rather than None
        slots[out] = x.new_zeros(out_shape) + 0 * (x.sum() + w.sum())

    if empty_sum:
        return zeros

    def op(slots: list) -> None:
        x = slots[inp_id]
        w = slots[wgt_id]
        if in_perm is not None:
            x = x.permute(in_perm)
        if w_perm is not None:
            w = w.permute(w_perm)
        x = x.reshape(in_shape)
        w = w.reshape(w_shape)
        if flip:
            w = w.flip(flip)
        # A reshaped view can keep odd strides (size-1 axes); PyTorch's CPU conv backward then
        # fails with "grad_weight must be contiguous". contiguous() is free when it already is.
        w = w.contiguous()
        for dim, factor in upsample:  # zeros between the signal's entries (a stride's transpose)
            shape = list(x.shape)
            shape[dim] = (shape[dim] - 1) * factor + 1
            spread = x.new_zeros(shape)
            index = [slice(None)] * len(shape)
            index[dim] = slice(None, None, factor)
            spread[tuple(index)] = x
            x = spread
        for mode, flat in pads_by_mode.items():
            x = F.pad(x, flat, mode=mode)
        if crop:
            x = F.pad(x, crop)  # negative: crops
        y = conv(x, w, None, stride, padding, dilation, g)
        y = y.reshape(out_shape)
        if drop:
            y = y.sum(dim=drop)
        slots[out] = y

    return op


def _output_embedding(plan: Plan) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What turns the planned result (the output's held indices, each once, in order of first
    occurrence) into the output's flat indices: broadcast indices (held by no tensor) expanded,
    then repeated indices placed on the diagonal (zeros elsewhere). None when nothing is to do."""
    flat = tuple(plan.output_indices)
    unique = tuple(dict.fromkeys(flat))
    held = [i for i in unique if i in plan.final_indices]
    if len(flat) == len(unique) == len(held):
        return None
    diagram = plan.diagram
    size = {i: int(diagram.size(i)) for i in unique}  # type: ignore[arg-type]
    missing = tuple(k for k, i in enumerate(unique) if i not in plan.final_indices)
    unique_shape = tuple(size[i] for i in unique)
    full_shape = tuple(size[i] for i in flat)
    contiguous = [1] * len(flat)  # row-major strides of the full output
    for k in range(len(flat) - 2, -1, -1):
        contiguous[k] = contiguous[k + 1] * full_shape[k + 1]
    # One element per unique index: its stride in the full output is the sum of its positions'.
    diag_strides = tuple(sum(contiguous[k] for k, j in enumerate(flat) if j == i) for i in unique)
    diagonal = len(flat) != len(unique)

    def embed(y: torch.Tensor) -> torch.Tensor:
        for k in missing:
            y = y.unsqueeze(k)
        if missing:
            y = y.expand(unique_shape)
        if not diagonal:
            return y
        return y.new_zeros(full_shape).as_strided_scatter(y, unique_shape, diag_strides)

    return embed


def compile_plan(plan: Plan) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
    """Build the function that runs ``plan`` on its input tensors."""
    diagram = plan.diagram
    input_shapes = [tuple(diagram.size(i, op.name) for i in op.indices) for op in diagram.tensors]
    ops: list[Op] = []
    for step in plan.steps:
        if step.kind == "sum":
            ops.append(_sum_op(step))
        elif step.kind == "einsum":
            ops.append(_einsum_op(step))
        else:
            ops.append(_conv_op(step))
    embed = _output_embedding(plan)
    held_out = [i for i in dict.fromkeys(plan.output_indices) if i in plan.final_indices]
    final_perm = _perm(plan.final_indices, held_out)
    out_shape = plan.output_shape
    final = plan.final_id
    n_slots = len(diagram.tensors) + len(plan.steps)
    # Drop each intermediate after its last use, as Plan.peak_elements assumes (autograd keeps
    # what the backward pass needs by itself).
    last_use: dict[int, int] = {}
    for k, step in enumerate(plan.steps):
        for operand in step.operands:
            last_use[operand] = k
    free_after: list[tuple[int, ...]] = [
        tuple(slot for slot, k in last_use.items() if k == n and slot != final) for n in range(len(plan.steps))
    ]

    def run(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        slots: list = [None] * n_slots
        for k, (t, shape) in enumerate(zip(tensors, input_shapes)):
            slots[k] = t.reshape(shape)
        for op, done in zip(ops, free_after):
            op(slots)
            for slot in done:
                slots[slot] = None
        y = slots[final]
        if final_perm is not None:
            y = y.permute(final_perm)
        if embed is not None:
            y = embed(y)
        return y.reshape(out_shape)

    return run


# Compiled programs, one per plan, kept here rather than on the (core, report-only) Plan; a
# plan that is dropped from its diagram's cache takes its program with it.
_PROGRAMS: weakref.WeakKeyDictionary[Plan, Callable[[Sequence[torch.Tensor]], torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def run_plan(plan: Plan, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Run ``plan`` on ``tensors`` (compiling it on first use)."""
    if tensors:
        check_plan_memory(plan, tensors[0].element_size(), tensors[0].device)
    program = _PROGRAMS.get(plan)
    if program is None:
        program = _PROGRAMS[plan] = compile_plan(plan)
    return program(tensors)
