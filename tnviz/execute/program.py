"""Turn a Plan into PyTorch operations, once per plan.

What the executor adds to the plan's steps, so that every network gets it — a format's
layer and a network drawn by hand alike:

- **Weights laid out once.** A pairwise step's weight side (a convolution's kernel, a
  contraction's matrix) is permuted and reshaped into the layout its ``F.conv``/``F.linear``
  call wants by a separate *prepare* operation when it depends on no input, so a cached
  kernel is cached ready to use.
- **The kernel cache.** Everything that depends on no input (the reconstructed kernel of a
  ``"reconstruct"`` plan, a product of factors) can be served from a :class:`KernelCache`
  when no gradient is recorded; the cache compares the parameters' values with a snapshot,
  so it never serves a stale kernel (an in-place edit through ``.data`` bumps no version
  counter).
- **The memory format kept.** A contraction over an activation's channels runs as a 1×1
  ``F.conv`` on the activation as it lies, so a channels_last input stays channels_last;
  convolution steps keep it too (``F.conv`` follows its input).
- **The bias fused** into the last ``F.linear`` / ``F.conv`` call when that call writes the
  output's channel mode, as ``torch.nn`` does (a separate addition is one more pass over the
  output, forward and backward: measured 5–8 % of a dense 3×3 convolution); else added after,
  in the output's dtype (as autocast would give).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from tnviz.core.plan import Plan, Step
from tnviz.core.spec import einsum_letters
from tnviz.execute.memory import plan_within_budget

__all__ = ["Program", "KernelCache", "compile_plan", "run_plan", "memory_format_of"]

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


def _as_shape(t: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``t.reshape(shape)``, but ``t`` itself when it has that shape already: a reshape to its own
    shape re-strides a tensor that is contiguous in two layouts (one channel, one pixel) as plainly
    contiguous, and the convolution after it would then return NCHW where ``nn.Conv2d`` keeps
    channels_last (svd at rate 0.02 on channels_last, forward: a copy back of the whole output)."""
    return t if t.shape == shape else t.reshape(shape)


def _perm(src: Sequence[str], dst: Sequence[str]) -> tuple[int, ...] | None:
    perm = tuple(src.index(i) for i in dst)
    return None if perm == tuple(range(len(perm))) else perm


@dataclass(frozen=True)
class _Pairwise:
    """A pairwise step compiled: ``main(x, prepare(w), bias)`` writes the result; ``fuses_bias``
    when ``main`` adds ``bias`` along the result's channel mode itself."""

    x: int
    w: int
    prepare: Prepare | None
    main: Main
    fuses_bias: bool


def _einsum_call(step: Step) -> _Pairwise:
    (a, b), (ia, ib) = step.operands, step.operand_indices
    names = list(dict.fromkeys(ia + ib))
    letter = einsum_letters(names, "a step")
    eq = (
        f"{''.join(letter[i] for i in ia)},{''.join(letter[i] for i in ib)}->{''.join(letter[i] for i in step.indices)}"
    )
    return _Pairwise(a, b, None, lambda x, w, bias: torch.einsum(eq, x, w), False)


def _channel_contraction(step: Step, big: int, bias_layout: tuple | None) -> _Pairwise | None:
    """A contraction over a block of "channel" modes of an activation laid out as
    (outer..., channels..., inner...): with no inner modes an ``F.linear``; else a 1×1
    convolution — ``F.conv2d``/``F.conv3d`` on a channels_last activation as it lies (it stays
    channels_last), ``F.conv1d`` over the flattened inner modes otherwise. No permuted copy in
    or out. Measured on 2 CPU threads (torch 2.13, 32×C×32×32, forward + backward) against
    ``torch.einsum``: 6.0 vs 9.7 ms for 27→64 channels, 4.1 vs 5.5 ms for 16→40, equal for 64→27.

    Returns None when the step does not have that shape.
    """
    ob, os_ = step.operand_indices[big], step.operand_indices[1 - big]
    shared = set(ob) & set(os_)
    if not shared or shared & set(step.indices):
        return None  # nothing contracted, or a partial outer product (batch) index
    if len(set(ob)) != len(ob) or len(set(os_)) != len(os_):
        return None  # a diagonal
    positions = [ob.index(i) for i in ob if i in shared]
    start, stop = positions[0], positions[-1] + 1
    if stop - start != len(positions):
        return None  # channels not one block
    outer, channels, inner = ob[:start], ob[start:stop], ob[stop:]
    new = step.indices[len(outer) : len(step.indices) - len(inner)]  # the small side's, in any order
    if step.indices != outer + new + inner or sorted(new) != sorted(i for i in os_ if i not in shared):
        return None
    shape_big = dict(zip(ob, step.operand_shapes[big]))
    shape_small = dict(zip(os_, step.operand_shapes[1 - big]))
    n_outer = math.prod([shape_big[i] for i in outer])
    n_in = math.prod([shape_big[i] for i in channels])
    inner_shape = tuple(shape_big[i] for i in inner)
    n_inner = math.prod(inner_shape)
    n_out = math.prod([shape_small[i] for i in new])
    if not n_outer * n_in * n_inner * n_out:
        return None  # an empty tensor: F.conv refuses zero channels, torch.einsum does not
    w_perm = _perm(os_, new + channels)
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

        return _Pairwise(step.operands[big], step.operands[1 - big], prepare, linear, fuses)

    spatial_ok = len(inner) <= 3

    def pointwise(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
        if not x.is_floating_point():  # F.conv is for real floating types only: torch.einsum
            return torch.einsum("bij,oi->boj", x.reshape(n_outer, n_in, n_inner), w).reshape(out_shape)
        if spatial_ok:
            x = _as_shape(x, (n_outer, n_in, *inner_shape))  # a view where the layout allows
            if memory_format_of(x) is not torch.contiguous_format:
                y = _CONV[len(inner)](x, w.reshape(n_out, n_in, *([1] * len(inner))), bias)
                return _as_shape(y, out_shape)
        y = F.conv1d(x.reshape(n_outer, n_in, n_inner), w.reshape(n_out, n_in, 1), bias)
        return y.reshape(out_shape)

    return _Pairwise(step.operands[big], step.operands[1 - big], prepare, pointwise, fuses)


def _sum_op(step: Step) -> Callable[[torch.Tensor], torch.Tensor]:
    """One tensor's unary step: its diagonals (a repeated index) and its summed indices."""
    (ia,) = step.operand_indices
    if len(set(ia)) < len(ia):
        letter = einsum_letters(list(dict.fromkeys(ia)), "a diagonal of a tensor")
        eq = f"{''.join(letter[i] for i in ia)}->{''.join(letter[i] for i in step.indices)}"
        return lambda x: torch.einsum(eq, x)
    dims = tuple(ia.index(i) for i in step.summed)
    return lambda x: x.sum(dim=dims)


def _conv_step(step: Step, bias_layout: tuple | None) -> _Pairwise:
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
    g = math.prod([len_in[i] for i in step.groups])
    nb = math.prod([len_in[i] for i in step.batch])
    cin = math.prod([len_in[i] for i in step.in_channels])
    cout = math.prod([len_w[i] for i in step.out_channels])
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
    folds = [(2 + k, d.length, _fold_sources(d.fold, d.length)) for k, d in enumerate(dims) if d.fold is not None]
    # a bias added before the fold would be folded too
    fuses = not step.groups and not drop and not folds and bias_layout == (step.batch, step.out_channels, spatial)

    if not cin * g:  # F.conv refuses zero channels; the sum over none is zero

        def zeros(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
            # zeros that stay in the graph, so the gradients are zeros rather than None
            return x.new_zeros(out_shape) + 0 * (x.sum() + w.sum())

        return _Pairwise(inp_id, wgt_id, None, zeros, False)

    def prepare(w: torch.Tensor) -> torch.Tensor:
        if w_perm is not None:
            w = w.permute(w_perm)
        w = w.reshape(w_shape)
        if flip:
            w = w.flip(flip)
        # A reshaped view can keep odd strides (size-1 axes); PyTorch's CPU conv backward then
        # fails with "grad_weight must be contiguous". contiguous() is free when it already is.
        return w.contiguous()

    # A channels_last activation whose batch indices stand next to its channels — (b, r0, r1, x, y)
    # read as (b·r0, r1, x, y), as a tensor ring's closing index does — would be copied to NCHW by
    # that reshape. Read as (b, r0·r1, x, y), a view, with the kernel repeated r0 times as groups,
    # it stays channels_last (tr at rate 0.1, fwd+bwd on channels_last: 0.80 → 0.42 of dense).
    n_outer = len_in[step.batch[0]] if step.batch else 1
    grouped_shape = (n_outer, nb // n_outer * g * cin, *in_shape[2:])
    plain = not upsample and not pads_by_mode and not crop and not folds
    regroup = nb // n_outer if len(step.batch) > 1 and g == 1 and plain else 1

    def main(x: torch.Tensor, w: torch.Tensor, bias: Any) -> torch.Tensor:
        if in_perm is not None:
            x = x.permute(in_perm)
        if regroup > 1 and not x.is_contiguous():
            x = _as_shape(x, grouped_shape)  # a view where the layout allows
            if memory_format_of(x) is not torch.contiguous_format:
                y = conv(x, w.repeat(regroup, *([1] * (w.dim() - 1))), None, stride, padding, dilation, regroup)
                y = _as_shape(y, out_shape)
                return y.sum(dim=drop) if drop else y
        x = _as_shape(x, in_shape)
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
        y = conv(x, w, bias, stride, padding, dilation, g)
        for dim, length, sources in folds:  # each padded entry added back onto the entry it copies
            shape = list(y.shape)
            shape[dim] = length
            y = y.new_zeros(shape).index_add(dim, sources.to(y.device), y)
        y = _as_shape(y, out_shape)
        if drop:
            y = y.sum(dim=drop)
        return y

    return _Pairwise(inp_id, wgt_id, prepare, main, fuses)


def _fold_sources(fold: tuple[str, int, int], length: int) -> torch.Tensor:
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
    return torch.tensor(before + inner + after, dtype=torch.long)


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


@dataclass(frozen=True)
class _Op:
    """One operation of a program: ``run(*slots[reads], bias)`` is written to ``slots[write]``."""

    reads: tuple[int, ...]
    write: int
    run: Callable[..., torch.Tensor]
    constant: bool  # depends on no input: a kernel cache may serve it


class Program:
    """A plan compiled into torch calls: ``program(tensors, bias=None, cache=None)``.

    ``bias`` (optional) is added along the output's mode 1 (the channels), fused into the last
    call where it can be; ``cache`` (a :class:`KernelCache`) serves what depends on no input
    (the tensors ``plan.inputs`` do not name) — pass one only when no gradient is recorded.
    """

    def __init__(self, plan: Plan) -> None:
        diagram = plan.diagram
        self.plan = plan
        names = diagram.tensor_names
        self.input_shapes = [tuple(diagram.size(i, op.name) for i in op.indices) for op in diagram.tensors]
        n = len(names)
        constant = [name not in plan.inputs for name in names]
        self.constant_leaves = tuple(k for k in range(n) if constant[k])
        held_out = [i for i in dict.fromkeys(plan.output_indices) if i in plan.final_indices]
        self.final_perm = _perm(plan.final_indices, held_out)
        self.embed = _output_embedding(plan)
        modes = diagram.output.modes
        bias_layout = None
        if self.final_perm is None and self.embed is None and len(modes) >= 2:
            bias_layout = (tuple(modes[0]), tuple(modes[1]), tuple(i for m in modes[2:] for i in m))
        self.out_shape = plan.output_shape
        self.bias_dims = len(self.out_shape) - 2
        next_slot = n + len(plan.steps)
        ops: list[_Op] = []
        is_constant = dict(enumerate(constant))
        self.fuses_bias = False
        for step in plan.steps:
            last = step.result == plan.final_id
            if step.kind == "sum":
                (a,) = step.operands
                ops.append(_Op((a,), step.result, _sum_op(step), is_constant[a]))
                is_constant[step.result] = is_constant[a]
                continue
            pair = _pairwise(step, bias_layout if last else None)
            w_slot = pair.w
            main = pair.main
            if pair.prepare is not None:
                if is_constant[pair.w]:  # laid out by its own operation: cached ready to use
                    ops.append(_Op((pair.w,), next_slot, pair.prepare, True))
                    is_constant[next_slot] = True
                    w_slot, next_slot = next_slot, next_slot + 1
                else:
                    prepare, inner = pair.prepare, pair.main
                    main = lambda x, w, bias, prepare=prepare, inner=inner: inner(x, prepare(w), bias)
            fuses = last and pair.fuses_bias
            self.fuses_bias = self.fuses_bias or fuses
            run = main if fuses else (lambda x, w, bias, main=main: main(x, w, None))
            both_constant = is_constant[pair.x] and is_constant[w_slot]
            ops.append(_Op((pair.x, w_slot), step.result, run, both_constant))
            is_constant[step.result] = both_constant
        self.final = plan.final_id
        self.n_slots = next_slot
        self.ops = tuple(ops)
        self.varying = tuple(op for op in ops if not op.constant)
        # What a cache holds: constant slots that varying operations read (or the result itself).
        frontier = {s for op in self.varying for s in op.reads if is_constant.get(s, False)}
        if is_constant[self.final]:
            frontier.add(self.final)
        self.frontier = tuple(sorted(frontier))
        self._free_all = _free_lists(self.ops, self.final, ())
        self._free_keep = _free_lists(self.ops, self.final, self.frontier)
        self._free_varying = _free_lists(self.varying, self.final, ())

    def __call__(
        self, tensors: Sequence[torch.Tensor], bias: torch.Tensor | None = None, cache: KernelCache | None = None
    ) -> torch.Tensor:
        slots: list = [None] * self.n_slots
        for k, (t, shape) in enumerate(zip(tensors, self.input_shapes)):
            slots[k] = _as_shape(t, shape)
        params = [tensors[k] for k in self.constant_leaves]
        served = cache.lookup(self, params) if cache is not None and self.frontier else None
        if served is not None:
            for slot, value in zip(self.frontier, served):
                slots[slot] = value
            self._run(self.varying, self._free_varying, slots, bias)
        elif cache is not None and self.frontier:
            self._run(self.ops, self._free_keep, slots, bias)
            cache.store(self, params, [slots[s] for s in self.frontier])
        else:
            self._run(self.ops, self._free_all, slots, bias)
        y = slots[self.final]
        if self.final_perm is not None:
            y = y.permute(self.final_perm)
        if self.embed is not None:
            y = self.embed(y)
        y = _as_shape(y, self.out_shape)
        if bias is not None and not self.fuses_bias:
            y = y + bias.to(y.dtype).reshape(-1, *([1] * self.bias_dims))
        return y

    def fold_constants(self, constants: dict[int, torch.Tensor]) -> list[torch.Tensor]:
        """What a kernel cache would hold (the :attr:`frontier`), computed from the constant
        operands alone (``{operand position: tensor}``, every one ``plan.inputs`` does not name)."""
        slots: list = [None] * self.n_slots
        for k, t in constants.items():
            slots[k] = _as_shape(t, self.input_shapes[k])
        folding = [op for op in self.ops if op.constant]
        with torch.no_grad():
            self._run(folding, _free_lists(folding, self.final, self.frontier), slots, None)
        return [slots[s] for s in self.frontier]

    @staticmethod
    def _run(ops: Sequence[_Op], free: Sequence[tuple[int, ...]], slots: list, bias: Any) -> None:
        # Each intermediate is dropped after its last use, as Plan.peak_elements assumes
        # (autograd keeps what the backward pass needs by itself).
        for op, done in zip(ops, free):
            if len(op.reads) == 1:
                slots[op.write] = op.run(slots[op.reads[0]])
            else:
                slots[op.write] = op.run(slots[op.reads[0]], slots[op.reads[1]], bias)
            for slot in done:
                slots[slot] = None


def _pairwise(step: Step, bias_layout: tuple | None) -> _Pairwise:
    if step.kind == "conv":
        return _conv_step(step, bias_layout)
    for big in (0, 1):
        pair = _channel_contraction(step, big, bias_layout)
        if pair is not None:
            return pair
    return _einsum_call(step)


def _free_lists(ops: Sequence[_Op], final: int, keep: Sequence[int]) -> list[tuple[int, ...]]:
    last_use: dict[int, int] = {}
    for k, op in enumerate(ops):
        for slot in op.reads:
            last_use[slot] = k
    kept = {final, *keep}
    return [tuple(s for s, k in last_use.items() if k == n and s not in kept) for n in range(len(ops))]


class KernelCache:
    """What a module's program computes from its parameters alone, kept while they hold the
    same values — the reconstructed kernel of a ``"reconstruct"`` plan, a merged kernel of
    factors — so that inference does not rebuild it on every call.

    Its owner passes it only when no gradient is recorded (autograd keeps the kernel for the
    backward pass by itself) and never while tracing, compiling or under ``vmap``. A lookup
    compares the parameters with a snapshot of their values (version counters miss an
    in-place edit through ``.data``, and a swapped tensor may reuse a storage address): the
    parameters are the small factors, so the check costs a fraction of one rebuild. The
    cache is not saved with its module: ``torch.save``, ``copy.deepcopy`` and pickling start
    it empty."""

    def __init__(self) -> None:
        self._entry: tuple | None = None

    def lookup(self, program: Program, params: Sequence[torch.Tensor]) -> list[torch.Tensor] | None:
        entry = self._entry
        if entry is None or entry[0] is not program or entry[3] != torch.is_inference_mode_enabled():
            return None
        for p, s in zip(params, entry[1]):
            if p.shape != s.shape or p.dtype != s.dtype or p.device != s.device or not torch.equal(p, s):
                return None
        return entry[2]

    def store(self, program: Program, params: Sequence[torch.Tensor], values: list[torch.Tensor]) -> None:
        snapshot = [p.detach().clone() for p in params]
        self._entry = (program, snapshot, [v.detach() for v in values], torch.is_inference_mode_enabled())

    def clear(self) -> None:
        self._entry = None

    def __bool__(self) -> bool:
        return self._entry is not None

    def __getstate__(self) -> dict:
        return {"_entry": None}

    def __deepcopy__(self, memo: dict) -> KernelCache:
        return KernelCache()


def compile_plan(plan: Plan) -> Program:
    """Build the :class:`Program` that runs ``plan`` on its input tensors."""
    return Program(plan)


# Compiled programs, one per plan, kept here rather than on the (core, report-only) Plan; a
# plan that is dropped from its diagram's cache takes its program with it.
_PROGRAMS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def program_for(plan: Any) -> Any:
    """The compiled program of ``plan`` (compiled on first use): a :class:`Program`, or for a
    sliced plan a :class:`~tnviz.execute.sliced.SlicedProgram`."""
    program = _PROGRAMS.get(plan)
    if program is None:
        from tnviz.core.plan.slicing import SlicedPlan

        if isinstance(plan, SlicedPlan):
            from tnviz.execute.sliced import SlicedProgram

            program = _PROGRAMS[plan] = SlicedProgram(plan)
        else:
            program = _PROGRAMS[plan] = Program(plan)
    return program


def run_plan(
    plan: Plan, tensors: Sequence[torch.Tensor], bias: torch.Tensor | None = None, cache: KernelCache | None = None
) -> torch.Tensor:
    """Run ``plan`` on ``tensors`` (compiling it on first use), plus ``bias`` along the
    output's channel mode; ``cache`` as for :class:`Program`. A plan whose intermediates exceed
    the memory budget runs sliced (in pieces) where that fits, else is refused before running."""
    if tensors:
        fitted = plan_within_budget(plan, tensors[0].element_size(), tensors[0].device)
        if fitted is not plan:
            return program_for(fitted)(tensors, bias, None)
    return program_for(plan)(tensors, bias, cache)
