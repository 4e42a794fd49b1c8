"""Lowering: an evaluation tree becomes the list of :class:`Step` s that execution runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tnviz.core.plan.model import ConvDim, Problem, bits, unique
from tnviz.core.plan.search import Tree, postorder

__all__ = ["Step", "lower", "channel_block"]


@dataclass(frozen=True)
class Step:
    """One step of a plan.

    Attributes:
        kind: ``"sum"`` (one tensor: take its diagonals and sum the indices only it holds),
            ``"einsum"`` (pairwise contraction or partial outer product) or ``"conv"``
            (pairwise, with convolution).
        operands: ids of the consumed operands (inputs are 0..n-1, results n, n+1, ...).
        result: id of the produced tensor.
        operand_indices: index order of each consumed operand (a repeated index is a diagonal).
        operand_shapes: shape of each consumed operand (in that order).
        indices: index order of the result.
        shape: shape of the result.
        flops: floating-point operations of this step.
        summed: indices summed away in this step.
        conv: for a conv step, its spatial dimensions in order.
        input_side: for a conv step, which operand (0 or 1) is F.conv's input.
        groups, batch, in_channels, out_channels: for a conv step, the indices mapped to
            F.conv's groups, batch, input and output channels.
    """

    kind: str
    operands: tuple[int, ...]
    result: int
    operand_indices: tuple[tuple[str, ...], ...]
    operand_shapes: tuple[tuple[int, ...], ...]
    indices: tuple[str, ...]
    shape: tuple[int, ...]
    flops: int
    summed: tuple[str, ...] = ()
    conv: tuple[ConvDim, ...] = ()
    input_side: int = 0
    groups: tuple[str, ...] = ()
    batch: tuple[str, ...] = ()
    in_channels: tuple[str, ...] = ()
    out_channels: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def lower(problem: Problem, tree: Tree) -> tuple[list[Step], int, tuple[str, ...]]:
    """The steps of ``tree`` in execution order, the final result's id and its index order."""
    builder = _Builder(problem)
    final_id, final_order = builder.build(tree)
    return builder.steps, final_id, final_order


class _Builder:
    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.steps: list[Step] = []
        self.next_id = problem.n
        self.shapes: dict[int, tuple[int, ...]] = {}  # operand id -> shape

    def leaf(self, k: int) -> tuple[int, tuple[str, ...]]:
        p = self.p
        flat, kept = p.flat[k], p.kept_flat[k]
        name = p.names[k]
        flat_shape = tuple(p.diagram.size(i, name) for i in flat)
        self.shapes[k] = flat_shape  # type: ignore[assignment]
        if flat == kept:
            return k, flat
        shape = tuple(self.length(1 << k, i) for i in kept)
        summed = tuple(i for i in unique(flat) if i not in kept)
        step = Step("sum", (k,), self.next_id, (flat,), (flat_shape,), kept, shape, p.unary_flops(k), summed)  # type: ignore[arg-type]
        return self._new(step), kept

    def length(self, s: int, i: str) -> int:
        if i in self.p.conv:
            return self.p.conv_length(s, i)
        return self.p.static[self.p.bit[i]]

    def _new(self, step: Step) -> int:
        self.steps.append(step)
        self.shapes[step.result] = step.shape
        self.next_id += 1
        return step.result

    def build(self, tree: Tree) -> tuple[int, tuple[str, ...]]:
        """Post-order, iteratively; of two subtrees the larger runs first, which keeps fewer
        intermediates alive."""
        size: dict[int, int] = {}
        for node in postorder(tree):
            size[id(node)] = 1 if isinstance(node, int) else size[id(node[0])] + size[id(node[1])]
        done: dict[int, tuple[int, int, tuple[str, ...]]] = {}  # id(node) -> (mask, result id, order)
        stack: list[tuple[Tree, bool]] = [(tree, False)]
        while stack:
            node, expanded = stack.pop()
            if isinstance(node, int):
                rid, order = self.leaf(node)
                done[id(node)] = (1 << node, rid, order)
                continue
            left, right = node
            if not expanded:
                first, second = (right, left) if size[id(right)] > size[id(left)] else (left, right)
                stack += [(node, True), (second, False), (first, False)]
                continue
            sa, ia, oa = done.pop(id(left))
            sb, ib, ob = done.pop(id(right))
            done[id(node)] = self.merge(sa, ia, oa, sb, ib, ob)
        _, rid, order = done[id(tree)]
        return rid, order

    def merge(self, a: int, ia: int, oa: tuple[str, ...], b: int, ib: int, ob: tuple[str, ...]):
        p = self.p
        s = a | b
        kept_s = p.subset(s, (a, b))[0]
        keep = {p.index_list[bit] for bit in bits(kept_s)}
        flops, _ = p.step_cost(a, b)
        set_a, set_b = set(oa), set(ob)
        shared = set_a & set_b
        shared_conv = [c for c in p.conv if c in shared]
        if not shared_conv:
            return self._einsum_step(a, ia, oa, b, ib, ob, s, keep, flops, shared)
        return self._conv_step(a, ia, oa, b, ib, ob, s, keep, flops, shared_conv)

    def _einsum_step(self, a, ia, oa, b, ib, ob, s, keep, flops, shared):
        """A pairwise contraction or partial outer product (no shared convolution index)."""
        p = self.p
        # The larger operand (by elements; more indices break a tie) keeps its order, so that
        # the executor contracts its channel block in place (F.linear / a 1×1 convolution): by
        # index count, "X: b s" against "U: B s p" gave "B b p", a 1024-channel convolution over
        # U (Linear btd at rate 0.05 1.28× the order "b B p" runs in, two F.linear calls).
        a_first = (p.subset(a)[2], len(oa)) >= (p.subset(b)[2], len(ob))
        order = _einsum_order(oa, ob, keep, a_first)
        if s == p.full:  # the last step writes the output's order, where that costs nothing
            wanted = tuple(i for i in dict.fromkeys(p.diagram.output.indices) if i in keep)
            if sorted(wanted) == sorted(order) and (
                _contracts_in_place(wanted, oa, ob) or not _contracts_in_place(order, oa, ob)
            ):
                order = wanted
        summed = tuple(i for i in oa if i in shared and i not in keep)
        return self._pairwise("einsum", s, (ia, ib), (oa, ob), order, flops, summed)

    def _conv_step(self, a, ia, oa, b, ib, ob, s, keep, flops, shared_conv):
        """A pairwise step with convolution: the side holding the signals is F.conv's input."""
        p = self.p
        sig_a = any(a >> p.conv_info[c][0] & 1 for c in shared_conv)
        sig_b = any(b >> p.conv_info[c][0] & 1 for c in shared_conv)
        if sig_a or (not sig_b and p.subset(a)[2] >= p.subset(b)[2]):
            side, inp, wgt, oi, ow = 0, a, b, oa, ob
        else:
            side, inp, wgt, oi, ow = 1, b, a, ob, oa
        set_w = set(ow)
        groups = tuple(i for i in oi if i in set_w and i not in p.conv and i in keep)
        cin = tuple(i for i in oi if i in set_w and i not in p.conv and i not in keep)
        only_in = [i for i in oi if i not in set_w]
        room = 3 - len(shared_conv)
        passes = [i for i in only_in if i in p.conv][:room]
        batch = tuple(i for i in only_in if i not in passes)
        cout = tuple(i for i in ow if i not in set(oi))
        dims = []
        for i in oi:
            if i in shared_conv:
                sig, kernels, _, opts, pads = p.conv_info[i]
                if inp >> sig & 1:
                    first = not any(inp >> k & 1 for k, _ in kernels)
                    last = all(s >> k & 1 for k, _ in kernels)
                    dims.append(
                        ConvDim(
                            i,
                            "correlate",
                            pads if first else (0, 0),
                            opts.padding_mode,
                            opts.stride if last else 1,
                            p.conv_dilation(wgt, i),
                            p.subset(wgt)[1][i],
                            p.conv_length(s, i),
                            opts.upsample if first else 1,
                            opts.flip is True,  # named holders are reversed as they are read (Program)
                            opts.fold if last else None,
                        )
                    )
                else:
                    # Kernels combined by a full convolution, in units of their common spacing g:
                    # the input side spread by its spacing / g, the weight dilated by its own.
                    kw = p.subset(wgt)[1][i]
                    g = p.conv_dilation(s, i)
                    spread, dil = p.conv_dilation(inp, i) // g, p.conv_dilation(wgt, i) // g
                    pad = dil * (kw - 1)
                    length = p.conv_length(s, i)
                    dims.append(ConvDim(i, "full", (pad, pad), "zeros", 1, dil, kw, length, spread))
            elif i in passes:
                n = self.length(inp, i)
                dims.append(ConvDim(i, "pass", (0, 0), "zeros", 1, 1, 1, n))
        order = batch + groups + cout + tuple(d.index for d in dims if d.index in keep)
        summed = cin + tuple(d.index for d in dims if d.index not in keep)
        conv = dict(conv=tuple(dims), input_side=side, groups=groups, batch=batch, in_channels=cin, out_channels=cout)
        return self._pairwise("conv", s, (ia, ib), (oa, ob), order, flops, summed, **conv)

    def _pairwise(self, kind, s, ids, indices, order, flops, summed, **conv):
        """Record the step that makes subset ``s`` from the operands ``ids`` (their index orders
        ``indices``), its result in ``order``: (subset, result id, order)."""
        step = Step(
            kind=kind,
            operands=ids,
            result=self.next_id,
            operand_indices=indices,
            operand_shapes=tuple(self.shapes[i] for i in ids),
            indices=order,
            shape=tuple(self.length(s, i) for i in order),
            flops=int(flops),
            summed=summed,
            **conv,
        )
        return s, self._new(step), order


def channel_block(
    big: Sequence[str], small: Sequence[str], result: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    """(outer, channels, inner, new) where a pairwise contraction runs in place: ``big`` laid out as
    (outer, a block of the channels both hold, inner) and ``result`` as (outer, ``small``'s other
    indices in any order — ``new`` —, inner): an ``F.linear`` or a 1×1 convolution over that block,
    with no permuted copy of ``big`` or of the result (``tnviz.execute.steps``). None otherwise:
    nothing contracted, an index both hold kept (a batch index), a diagonal, the channels not one
    block, or another result order."""
    shared = set(big) & set(small)
    if not shared or shared & set(result) or len(set(big)) != len(big) or len(set(small)) != len(small):
        return None
    at = [k for k, i in enumerate(big) if i in shared]
    if at[-1] - at[0] + 1 != len(at):
        return None
    outer, channels, inner = tuple(big[: at[0]]), tuple(big[at[0] : at[-1] + 1]), tuple(big[at[-1] + 1 :])
    new = tuple(result[len(outer) : len(result) - len(inner)])
    if tuple(result) != outer + new + inner or sorted(new) != sorted(i for i in small if i not in shared):
        return None
    return outer, channels, inner, new


def _contracts_in_place(result: Sequence[str], oa: Sequence[str], ob: Sequence[str]) -> bool:
    """Whether the executor runs a contraction with this result order in place, either operand as
    the large one (:func:`channel_block`). Writing the output's order where that breaks this form
    costs the step torch.einsum's permuted copies: Conv mtk at rate 0.1, last step
    "b t3 q1 q2 x y, q2 t2 q1 t1", forward + backward, 1.16× the hand-written engine's time written
    as "b t1 t2 t3 x y", 1.04× written as "b t3 t2 t1 x y" and permuted after (benchmarks/engine_ab.py)."""
    return channel_block(oa, ob, result) is not None or channel_block(ob, oa, result) is not None


def _einsum_order(oa: Sequence[str], ob: Sequence[str], keep: set[str], a_first: bool) -> tuple[str, ...]:
    """Result order of a pairwise contraction: the larger operand's order, with the other's new
    indices where the contracted ones were (so "b s x y, r s -> b r x y")."""
    big, small = (oa, ob) if a_first else (ob, oa)
    set_big = set(big)
    new = [i for i in small if i not in set_big and i in keep]
    order: list[str] = []
    inserted = False
    for i in big:
        if i in keep:
            order.append(i)
        elif not inserted:
            order.extend(new)
            inserted = True
    if not inserted:
        order.extend(new)
    return tuple(order)
