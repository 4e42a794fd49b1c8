"""Price a Diagram and plan its evaluation: the convolution-aware contraction Plan.

Standard library only. A plan is a binary tree of pairwise steps. Every intermediate is
fixed by the set of operands it holds (its indices, and along a convolution index its
length: the padded signal shortened by the kernels already applied, or the full
convolution of the kernels merged so far), so an exact dynamic programme over operand
subsets finds the FLOP-optimal tree among *all* pairwise orders - including both
"reconstruct the dense kernel, then one convolution" and "apply the factors one by one
to the activations" - for the actual input size.

FLOPs count a multiply-add as 2 where a step sums something (contraction or
convolution) and 1 for a pure (partial) outer product, as opt_einsum does.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tnviz.core.diagram import ConvOptions, Diagram
from tnviz.errors import TnvizError

__all__ = ["ConvDim", "Step", "Plan", "make_plan", "OPTIMAL_LIMIT", "STRATEGIES"]

OPTIMAL_LIMIT = 8  # "auto" searches exhaustively up to this many operands, greedily beyond
STRATEGIES = ("auto", "optimal", "greedy", "left-to-right", "reconstruct")
OBJECTIVES = ("time", "flops")
# The "time" objective: FLOPs / efficiency + MEMORY_WEIGHT · elements read and written.
# Measured on a 2-core CPU (torch 2.13): a 1024³ matmul runs at ~144 GFLOP/s while a strided
# copy moves ~0.7 G elements/s, i.e. one element moved costs ~200 FLOPs (a contiguous one
# less); 128 sits between. A step whose reduction length K (multiply-adds per output
# element) is short runs far below peak — depthwise or few-channel convolutions — so its
# FLOPs are divided by K / (K + REDUCTION_HALF).
MEMORY_WEIGHT = 128
REDUCTION_HALF = 8
_INF = float("inf")


@dataclass(frozen=True)
class ConvDim:
    """How one spatial dimension of a convolution step is evaluated.

    ``mode`` is ``"correlate"`` (signal against kernel, F.conv semantics),
    ``"full"`` (kernel against kernel: true, full convolution), or ``"pass"`` (an index of
    the input side only, carried as a spatial dimension of kernel length 1).
    """

    index: str
    mode: str
    pad: tuple[int, int]
    padding_mode: str
    stride: int
    dilation: int
    kernel: int
    length: int


@dataclass(frozen=True)
class Step:
    """One step of a plan.

    Attributes:
        kind: ``"sum"`` (sum a tensor over indices only it holds), ``"einsum"`` (pairwise
            contraction or partial outer product) or ``"conv"`` (pairwise, with convolution).
        operands: ids of the consumed operands (inputs are 0..n-1, results n, n+1, ...).
        result: id of the produced tensor.
        operand_indices: index order of each consumed operand.
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
        return _prod(self.shape)


def _prod(values: Iterable[int]) -> int:
    total = 1
    for v in values:
        total *= v
    return total


def _bits(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}" if isinstance(n, float) and not float(n).is_integer() else str(int(n))


class _Problem:
    """The operands of a bound diagram as bitmasks, with cached per-subset facts."""

    def __init__(self, diagram: Diagram, inputs: Sequence[str], objective: str = "time") -> None:
        self.diagram = diagram
        self.by_time = objective == "time"
        roles = diagram.roles
        self.names = diagram.tensor_names
        self.inputs = tuple(self.names.index(n) for n in inputs)
        self.conv = diagram.conv
        # Operands after summing away indices only they hold ("summed" role).
        self.flat = [op.indices for op in diagram.tensors]
        self.kept_flat = [tuple(i for i in ix if roles[i] != "summed") for ix in self.flat]
        self.index_list = list(dict.fromkeys(i for ix in self.kept_flat for i in ix))
        self.bit = {i: b for b, i in enumerate(self.index_list)}
        self.op_mask = [sum(1 << self.bit[i] for i in ix) for ix in self.kept_flat]
        self.out_indices = diagram.output.indices
        self.out_mask = sum(1 << self.bit[i] for i in self.out_indices)
        self.conv_bits = {self.bit[c]: c for c in self.conv}
        self.conv_mask = sum(1 << b for b in self.conv_bits)
        self.static = [1] * len(self.index_list)
        for i, b in self.bit.items():
            if i not in self.conv:
                self.static[b] = diagram.size(i)  # type: ignore[assignment]
        self.n = len(self.names)
        self.full = (1 << self.n) - 1
        # Per convolution index: signal operand, kernels (operand, length), options.
        self.conv_info: dict[str, tuple[int, list[tuple[int, int]], int, ConvOptions, tuple[int, int]]] = {}
        for c in self.conv:
            holders = [self.names.index(t) for t in diagram.holders(c)]
            sig = holders[0]
            kernels = [(k, diagram.size(c, self.names[k])) for k in holders[1:]]
            opts = diagram.options[c]
            total_kernel = sum(v for _, v in kernels) - len(kernels) + 1
            self.conv_info[c] = (sig, kernels, diagram.size(c, self.names[sig]), opts, opts.pads(total_kernel))  # type: ignore[assignment]
        self._union: dict[int, int] = {0: 0}
        self._static_prod: dict[int, int] = {0: 1}
        self._subset: dict[int, tuple[int, dict[str, int], int, int]] = {}
        self._tables: dict[int, dict[int, tuple[float, float, Any]]] = {}  # DP tables by operand mask

    # -- per-subset facts ---------------------------------------------------
    def union(self, s: int) -> int:
        u = self._union.get(s)
        if u is None:
            low = s & -s
            u = self.union(s ^ low) | self.op_mask[low.bit_length() - 1]
            self._union[s] = u
        return u

    def static_prod(self, mask: int) -> int:
        p = self._static_prod.get(mask)
        if p is None:
            low = mask & -mask
            p = self.static_prod(mask ^ low) * self.static[low.bit_length() - 1]
            self._static_prod[mask] = p
        return p

    def conv_length(self, s: int, c: str) -> int:
        """Length along convolution index ``c`` of the intermediate holding subset ``s``."""
        sig, kernels, n, opts, (left, right) = self.conv_info[c]
        ks = [v for k, v in kernels if s >> k & 1]
        if not s >> sig & 1:
            return sum(ks) - len(ks) + 1
        if not ks:
            return n
        length = n + left + right - opts.dilation * (sum(ks) - len(ks))
        if len(ks) == len(kernels):
            length = (length - 1) // opts.stride + 1
        return length

    def subset(self, s: int) -> tuple[int, dict[str, int], int, int]:
        """(kept index mask, conv lengths, number of elements, product of the non-conv sizes)
        of the intermediate for operand subset ``s``."""
        info = self._subset.get(s)
        if info is None:
            kept = self.union(s) & (self.union(self.full ^ s) | self.out_mask)
            lengths = {c: self.conv_length(s, c) for b, c in self.conv_bits.items() if kept >> b & 1}
            static = self.static_prod(kept & ~self.conv_mask)
            info = (kept, lengths, static * _prod(lengths.values()), static)
            self._subset[s] = info
        return info

    # -- one step -------------------------------------------------------------
    def step_cost(self, a: int, b: int) -> tuple[float, float]:
        """(FLOPs, objective cost) of merging subsets ``a`` and ``b``; both inf if illegal."""
        ka, la, sa, pa = self.subset(a)
        kb, lb, sb, pb = self.subset(b)
        s = a | b
        ks, _, ss, _ = self.subset(s)
        shared = ka & kb
        shared_conv = shared & self.conv_mask
        # Product of the non-conv sizes over both operands' indices, shared ones once.
        macs = pa * pb
        for bit in _bits(shared & ~self.conv_mask):
            macs //= self.static[bit]
        extra = 0
        signal_side = 0
        for bit, c in self.conv_bits.items():
            if shared_conv >> bit & 1:
                sig = self.conv_info[c][0]
                side = 1 if a >> sig & 1 else 2 if b >> sig & 1 else 0
                if side:
                    if signal_side and signal_side != side:
                        return _INF, _INF  # correlations in both directions: F.conv cannot
                    signal_side = side
                    out_len = self.conv_length(s, c)
                    macs *= out_len * (lb[c] if side == 1 else la[c])
                    if not ks >> bit & 1:
                        extra += ss * out_len
                else:
                    out_len = la[c] + lb[c] - 1
                    macs *= out_len * min(la[c], lb[c])
                    if not ks >> bit & 1:
                        extra += ss * out_len
            elif ka >> bit & 1:
                macs *= la[c]
            elif kb >> bit & 1:
                macs *= lb[c]
        summing = shared & ~ks or shared_conv
        flops = macs * (2 if summing else 1) + extra
        if not self.by_time:
            return flops, flops
        reduction = max(1.0, macs / max(ss, 1))
        efficiency = reduction / (reduction + REDUCTION_HALF)
        return flops, flops / efficiency + MEMORY_WEIGHT * (sa + sb + ss)


def _optimal_tree(problem: _Problem, mask: int) -> tuple[float, Any]:
    """Exact DP over all binary trees on the operands in ``mask``; returns (cost, tree).

    The cost is the problem's objective; ties go to fewer FLOPs."""
    members = list(_bits(mask))
    if len(members) == 1:
        return 0, members[0]
    for covered, table in problem._tables.items():
        if covered & mask == mask and mask in table:  # a larger table already holds this subset
            return table[mask][0], table[mask][2]
    best: dict[int, tuple[float, float, Any]] = {1 << m: (0, 0, m) for m in members}
    problem._tables[mask] = best
    # Subsets in order of size, as masks restricted to ``mask``.
    subsets = sorted((s for s in _submasks(mask) if s & (s - 1)), key=lambda s: bin(s).count("1"))
    for s in subsets:
        low = s & -s
        rest = s ^ low
        choice: tuple[float, int, Any] | None = None
        sub = rest
        while True:
            a = sub | low
            bmask = s ^ a
            if bmask:
                fa = best.get(a)
                fb = best.get(bmask)
                if fa is not None and fb is not None and fa[0] < _INF and fb[0] < _INF:
                    flops, cost = problem.step_cost(a, bmask)
                    if flops < _INF:
                        key = (fa[0] + fb[0] + cost, fa[1] + fb[1] + flops)
                        if choice is None or key < choice[:2]:
                            choice = (key[0], key[1], (fa[2], fb[2]))
            if sub == 0:
                break
            sub = (sub - 1) & rest
        best[s] = choice if choice is not None else (_INF, 0, None)
    result = best[mask]
    return result[0], result[2]


def _submasks(mask: int) -> Iterable[int]:
    sub = mask
    while sub:
        yield sub
        sub = (sub - 1) & mask


def _tree_mask(tree: Any) -> int:
    if isinstance(tree, int):
        return 1 << tree
    return _tree_mask(tree[0]) | _tree_mask(tree[1])


def _tree_flops(problem: _Problem, tree: Any, which: int = 0) -> float:
    """Total FLOPs (``which=0``) or objective cost (``which=1``) of a tree."""
    if isinstance(tree, int):
        return 0
    left, right = tree
    step = problem.step_cost(_tree_mask(left), _tree_mask(right))[which]
    return _tree_flops(problem, left, which) + _tree_flops(problem, right, which) + step


def _left_to_right(order: Sequence[int]) -> Any:
    tree: Any = order[0]
    for k in order[1:]:
        tree = (tree, k)
    return tree


def _greedy_tree(problem: _Problem, mask: int) -> Any:
    """Repeatedly merge the legal pair that shrinks memory most (opt_einsum's greedy rule).

    Returns None when the choices lead to a dead end (two signals that only an illegal
    step could join); left-to-right order is always legal and serves then.
    """
    nodes = [(1 << m, m) for m in _bits(mask)]
    while len(nodes) > 1:
        best = None
        for x in range(len(nodes)):
            for y in range(x + 1, len(nodes)):
                a, b = nodes[x][0], nodes[y][0]
                ka, _, sa, _ = problem.subset(a)
                kb, _, sb, _ = problem.subset(b)
                connected = bool(ka & kb)
                flops, _ = problem.step_cost(a, b)
                if flops == _INF:
                    continue
                ss = problem.subset(a | b)[2]
                key = (not connected, ss - sa - sb, flops)
                if best is None or key < best[0]:
                    best = (key, x, y)
        if best is None:
            return None
        _, x, y = best
        merged = (nodes[x][0] | nodes[y][0], (nodes[x][1], nodes[y][1]))
        nodes = [n for k, n in enumerate(nodes) if k not in (x, y)] + [merged]
    return nodes[0][1]


def _path_tree(problem: _Problem, path: Sequence[Sequence[int]]) -> Any:
    """Turn an opt_einsum-style path (positions in a shrinking list) into a tree."""
    current: list[Any] = list(range(problem.n))
    for step in path:
        if (
            not isinstance(step, (tuple, list))
            or len(step) != 2
            or not all(
                isinstance(p, numbers.Integral) and not isinstance(p, bool) and 0 <= p < len(current) for p in step
            )
            or step[0] == step[1]
        ):
            raise TnvizError(
                f"bad path step {step!r}; expected a pair of distinct positions below {len(current)}", token=repr(step)
            )
        x, y = int(step[0]), int(step[1])
        merged = (current[x], current[y])
        current = [t for k, t in enumerate(current) if k not in (x, y)] + [merged]
    if len(current) != 1:
        raise TnvizError(
            f"the path leaves {len(current)} tensors; expected it to merge all {problem.n}", token=repr(path)
        )
    return current[0]


def _reconstruct_tree(problem: _Problem) -> Any:
    """Merge the non-input tensors first (optimally), then the inputs; None if that is illegal."""
    kernels = problem.full & ~sum(1 << k for k in problem.inputs)
    tree: Any = None
    if kernels:
        flops, tree = _optimal_tree(problem, kernels)
        if flops == _INF:
            return None
    for k in problem.inputs:
        tree = k if tree is None else (k, tree)
    return tree if _tree_flops(problem, tree) < _INF else None


def _check_tree(problem: _Problem, tree: Any) -> None:
    if isinstance(tree, int):
        return
    if problem.step_cost(_tree_mask(tree[0]), _tree_mask(tree[1]))[0] == _INF:
        raise TnvizError(
            "illegal step in the given order: it would correlate signals held by both sides; "
            "merge each signal with its kernels first",
            token=repr(tree),
        )
    _check_tree(problem, tree[0])
    _check_tree(problem, tree[1])


def choose_tree(problem: _Problem, optimize: Any) -> Any:
    """The evaluation tree for an ``optimize`` setting."""
    if isinstance(optimize, (list, tuple)):
        tree = _path_tree(problem, optimize)
        _check_tree(problem, tree)
        return tree
    if optimize not in STRATEGIES:
        raise TnvizError(
            f"unknown optimize={optimize!r}; expected one of {', '.join(STRATEGIES)} or a path of pairs",
            token=repr(optimize),
        )
    if problem.n == 1:
        return 0
    naive = _left_to_right(range(problem.n))
    if optimize == "left-to-right":
        return naive
    if optimize == "reconstruct":
        tree = _reconstruct_tree(problem)
        if tree is None:
            raise TnvizError(
                "optimize='reconstruct' is impossible here: a parameter tensor is the signal of a convolution "
                "index whose kernel is an input; use 'auto'",
                token="reconstruct",
            )
        return tree
    if optimize == "optimal" or (optimize == "auto" and problem.n <= OPTIMAL_LIMIT):
        return _optimal_tree(problem, problem.full)[1]
    greedy = _greedy_tree(problem, problem.full)
    if optimize == "greedy":
        return greedy if greedy is not None else naive
    candidates = [t for t in (greedy, naive, _reconstruct_tree(problem)) if t is not None]
    return min(candidates, key=lambda t: (_tree_flops(problem, t, 1), _tree_flops(problem, t)))


# ---------------------------------------------------------------------------- building steps


class _Builder:
    def __init__(self, problem: _Problem) -> None:
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
        summed = tuple(i for i in flat if i not in kept)
        step = Step("sum", (k,), self.next_id, (flat,), (flat_shape,), kept, shape, _prod(flat_shape), summed)  # type: ignore[arg-type]
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

    def build(self, tree: Any) -> tuple[int, int, tuple[str, ...]]:
        """Post-order; the larger subtree first keeps fewer intermediates alive."""
        if isinstance(tree, int):
            rid, order = self.leaf(tree)
            return 1 << tree, rid, order
        left, right = tree
        if _tree_size(right) > _tree_size(left):
            sb, ib, ob = self.build(right)
            sa, ia, oa = self.build(left)
        else:
            sa, ia, oa = self.build(left)
            sb, ib, ob = self.build(right)
        return self.merge(sa, ia, oa, sb, ib, ob)

    def merge(self, a: int, ia: int, oa: tuple[str, ...], b: int, ib: int, ob: tuple[str, ...]):
        p = self.p
        s = a | b
        kept_s = p.subset(s)[0]
        keep = {i for i in p.index_list if kept_s >> p.bit[i] & 1}
        flops, _ = p.step_cost(a, b)
        set_a, set_b = set(oa), set(ob)
        shared = set_a & set_b
        shared_conv = [c for c in p.conv if c in shared]
        if not shared_conv:
            order = _einsum_order(oa, ob, keep, len(oa) >= len(ob) and p.subset(a)[2] >= p.subset(b)[2])
            shape = tuple(self.length(s, i) for i in order)
            summed = tuple(i for i in oa if i in shared and i not in keep)
            step = Step(
                "einsum",
                (ia, ib),
                self.next_id,
                (oa, ob),
                (self.shapes[ia], self.shapes[ib]),
                order,
                shape,
                int(flops),
                summed,
            )
            return s, self._new(step), order

        # Convolution step: the side holding the signals is F.conv's input.
        sig_a = any(p.conv_info[c][0] in _members(a) for c in shared_conv)
        sig_b = any(p.conv_info[c][0] in _members(b) for c in shared_conv)
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
                if sig in _members(inp):
                    first = not any(k in _members(inp) for k, _ in kernels)
                    last = all(k in _members(s) for k, _ in kernels)
                    dims.append(
                        ConvDim(
                            i,
                            "correlate",
                            pads if first else (0, 0),
                            opts.padding_mode,
                            opts.stride if last else 1,
                            opts.dilation,
                            p.subset(wgt)[1][i],
                            p.conv_length(s, i),
                        )
                    )
                else:
                    kw = p.subset(wgt)[1][i]
                    li = p.subset(inp)[1][i]
                    dims.append(ConvDim(i, "full", (kw - 1, kw - 1), "zeros", 1, 1, kw, li + kw - 1))
            elif i in passes:
                n = self.length(inp, i)
                dims.append(ConvDim(i, "pass", (0, 0), "zeros", 1, 1, 1, n))
        order = batch + groups + cout + tuple(d.index for d in dims if d.index in keep)
        shape = tuple(self.length(s, i) for i in order)
        summed = cin + tuple(d.index for d in dims if d.index not in keep)
        step = Step(
            "conv",
            (ia, ib),
            self.next_id,
            (oa, ob),
            (self.shapes[ia], self.shapes[ib]),
            order,
            shape,
            int(flops),
            summed,
            tuple(dims),
            side,
            groups,
            batch,
            cin,
            cout,
        )
        return s, self._new(step), order


def _members(mask: int) -> set[int]:
    return set(_bits(mask))


def _tree_size(tree: Any) -> int:
    return 1 if isinstance(tree, int) else _tree_size(tree[0]) + _tree_size(tree[1])


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


# ---------------------------------------------------------------------------- the Plan


class Plan:
    """An evaluation plan: the steps, their cost and the memory they need.

    Print it for a table in the spirit of opt_einsum's ``PathInfo``.

    Attributes:
        diagram: the bound Diagram it plans.
        steps: the :class:`Step` s in execution order.
        flops: total FLOPs (sums included).
        naive_flops: FLOPs of plain left-to-right pairwise evaluation.
        reconstruct_flops: FLOPs of reconstructing the kernel first, then applying it.
        largest_intermediate: elements of the largest step result.
        peak_memory: peak elements alive (inputs included) during the schedule.
        itemsize: bytes per element used for the byte figures.
        strategy: ``"factor by factor"``, ``"reconstruct"``, ``"mixed"`` or ``"direct"``.
        objective: what the search minimised: ``"time"`` (the default: FLOPs over
            efficiency plus memory traffic, see ``MEMORY_WEIGHT``) or ``"flops"``.
        cost: the objective's value for this plan (FLOP-equivalents).
        output_indices: flat index order of the final result before groups are merged.
    """

    def __init__(
        self,
        diagram: Diagram,
        steps: list[Step],
        final: tuple[int, tuple[str, ...]],
        problem: _Problem,
        tree: Any,
        optimize: Any,
        itemsize: int,
    ) -> None:
        self.diagram = diagram
        self.steps = tuple(steps)
        self.final_id, self.final_indices = final
        self.optimize = optimize
        self.itemsize = itemsize
        self.inputs = tuple(problem.names[k] for k in problem.inputs)
        self.output_indices = diagram.output.indices
        self.output_shape = tuple(int(s) for s in diagram.output_shape)  # type: ignore[arg-type]
        self.flops = int(sum(s.flops for s in steps))
        self.reconstruct_flops: int | None
        if problem.n > 1:
            self.naive_flops = int(_tree_flops(problem, _left_to_right(range(problem.n))) + _sum_flops(steps))
            rebuilt = _reconstruct_tree(problem)
            self.reconstruct_flops = (
                int(_tree_flops(problem, rebuilt) + _sum_flops(steps)) if rebuilt is not None else None
            )
        else:
            self.naive_flops = self.reconstruct_flops = self.flops
        self.tree = tree
        self.objective = "time" if problem.by_time else "flops"
        self.cost = _tree_flops(problem, tree, 1) + _sum_flops(steps)
        self.strategy = _strategy(problem, tree)
        input_sizes = [_prod(s for s in diagram.shape(t)) for t in diagram.tensor_names]  # type: ignore[misc]
        live = sum(input_sizes)
        alive: dict[int, int] = {}
        peak = live
        for step in steps:
            live += step.size
            peak = max(peak, live)
            for op in step.operands:
                live -= alive.pop(op, 0)
            alive[step.result] = step.size
        self.peak_memory = peak
        self.largest_intermediate = max([0] + [s.size for s in steps])
        self.input_elements = sum(input_sizes)

    @property
    def peak_bytes(self) -> int:
        return self.peak_memory * self.itemsize

    def _rows(self) -> list[tuple[str, ...]]:
        names = {k: n for k, n in enumerate(self.diagram.tensor_names)}
        label = {}
        rows = []
        for number, step in enumerate(self.steps, 1):
            label[step.result] = f"#{number}"
            ops = ", ".join(label.get(o, names.get(o, "?")) for o in step.operands)
            if step.kind == "conv":
                parts = []
                for d in step.conv:
                    if d.mode == "pass":
                        continue
                    extra = ""
                    if d.mode == "correlate":
                        if d.pad != (0, 0):
                            extra += f" pad={d.pad[0]}" if d.pad[0] == d.pad[1] else f" pad={d.pad}"
                        if d.stride != 1:
                            extra += f" stride={d.stride}"
                        if d.dilation != 1:
                            extra += f" dil={d.dilation}"
                    parts.append(f"{d.index}{'*' if d.mode == 'correlate' else '(full)'}{extra}")
                ndim = len(step.conv)
                op = f"conv{ndim}d " + " ".join(parts)
                if step.groups:
                    op += f" groups={'·'.join(step.groups)}"
            elif step.kind == "sum":
                op = "sum " + " ".join(step.summed)
            else:
                op = "contract " + " ".join(step.summed) if step.summed else "outer product"
            shape = "×".join(map(str, step.shape)) or "scalar"
            rows.append((str(number), ops, op, " ".join(step.indices), shape, _human(step.flops)))
        return rows

    def __str__(self) -> str:
        d = self.diagram
        lines = [f"  Spec:                 {d.to_spec()}"]
        sizes = [f"{k}={v}" for k, v in d.sizes.items()]
        for c in d.conv:
            per = "/".join(str(d.size(c, t)) for t in d.holders(c))
            sizes.append(f"{c}={per}→{d.size(c)}")
        lines.append(f"  Sizes:                {' '.join(sizes)}")
        lines.append(
            f"  Strategy:             {self.strategy} (optimize={self.optimize!r}, objective={self.objective!r})"
        )
        lines.append(f"  FLOPs:                {_human(self.flops)}  ({self.flops:,})")
        if self.diagram.tensors and len(self.diagram.tensors) > 1:
            lines.append(
                f"  Left-to-right FLOPs:  {_human(self.naive_flops)}  "
                f"({_ratio(self.naive_flops, self.flops)} this plan)"
            )
            if self.reconstruct_flops is None:
                lines.append("  Reconstruct FLOPs:    — (a parameter holds a convolution signal)")
            else:
                lines.append(
                    f"  Reconstruct FLOPs:    {_human(self.reconstruct_flops)}  "
                    f"({_ratio(self.reconstruct_flops, self.flops)} this plan)"
                )
        lines.append(f"  Largest intermediate: {_human(self.largest_intermediate)} elements")
        lines.append(
            f"  Peak memory:          {_human(self.peak_memory)} elements "
            f"({_human(self.peak_bytes)}B at {self.itemsize} B/element)"
        )
        header = ("step", "operands", "operation", "result indices", "shape", "FLOPs")
        rows = self._rows()
        widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1) + 2)
        lines.append(rule)
        lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append(rule)
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<Plan {self.diagram.to_spec()!r}: {len(self.steps)} steps, {_human(self.flops)} FLOPs, {self.strategy}>"
        )

    def _repr_html_(self) -> str:
        import html

        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in (
                ("Spec", self.diagram.to_spec()),
                ("Strategy", self.strategy),
                ("FLOPs", f"{_human(self.flops)} ({self.flops:,})"),
                ("Left-to-right FLOPs", _human(self.naive_flops)),
                ("Reconstruct FLOPs", "—" if self.reconstruct_flops is None else _human(self.reconstruct_flops)),
                ("Peak memory", f"{_human(self.peak_memory)} elements"),
            )
        )
        cols = ("step", "operands", "operation", "result indices", "shape", "FLOPs")
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self._rows())
        return f"<table>{head}</table><table><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr>{body}</table>"


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}×" if b else "—"


def _sum_flops(steps: Sequence[Step]) -> int:
    return sum(s.flops for s in steps if s.kind == "sum")


def _strategy(problem: _Problem, tree: Any) -> str:
    if isinstance(tree, int) or not problem.inputs:
        return "single tensor" if isinstance(tree, int) else "mixed"
    inputs = sum(1 << k for k in problem.inputs)
    kernels = problem.full & ~inputs
    if kernels & (kernels - 1) == 0:
        return "direct"  # one parameter tensor: nothing to reconstruct or factor
    if _has_subtree(tree, kernels):
        return "reconstruct"
    node = tree
    while not isinstance(node, int):
        left, right = node
        if isinstance(right, int):
            node = left
        elif isinstance(left, int):
            node = right
        else:
            return "mixed"
    return "factor by factor" if node in problem.inputs else "mixed"


def _has_subtree(tree: Any, mask: int) -> bool:
    if _tree_mask(tree) == mask:
        return True
    if isinstance(tree, int):
        return False
    return _has_subtree(tree[0], mask) or _has_subtree(tree[1], mask)


def make_plan(
    diagram: Diagram,
    optimize: Any = "auto",
    inputs: Sequence[str] | None = None,
    itemsize: int = 4,
    objective: str = "time",
) -> Plan:
    """Plan a bound diagram (use :meth:`Diagram.plan`, which caches)."""
    if objective not in OBJECTIVES:
        raise TnvizError(
            f"unknown objective={objective!r}; expected one of {', '.join(OBJECTIVES)}", token=repr(objective)
        )
    if not diagram.is_bound:
        missing = [t for t in diagram.tensor_names if None in diagram.shape(t)]
        unknown = [i.name for i in diagram.indices if i.size is None or None in i.sizes.values()]
        raise TnvizError(
            f"cannot plan: sizes unknown for index {', '.join(map(repr, unknown))} (tensor {missing[0]!r}); "
            "give them in sizes= or pass tensors",
            token=unknown[0] if unknown else missing[0],
        )
    names = diagram.tensor_names
    inputs = tuple(inputs) if inputs else names[:1]
    for name in inputs:
        if name not in names:
            raise TnvizError(
                f"inputs names {name!r}, not a tensor of this diagram; expected one of {', '.join(names)}", token=name
            )
    problem = _Problem(diagram, inputs, objective)
    tree = choose_tree(problem, optimize)
    if _tree_flops(problem, tree) == _INF:
        raise TnvizError("no legal evaluation order found for this diagram", token=diagram.to_spec())
    builder = _Builder(problem)
    _, final_id, final_order = builder.build(tree)
    return Plan(diagram, builder.steps, (final_id, final_order), problem, tree, optimize, itemsize)
