"""The cost model: a bound Diagram as operand bitmasks, and the price of one pairwise step.

Standard library only. Every intermediate is fixed by the set of operands it holds: its
indices (those still shared with the rest of the network or kept by the output) and, along a
convolution index, its length - the padded signal shortened by the kernels already applied,
or the full convolution of the kernels merged so far. So a step's price depends on the two
operand sets alone, which is what lets the searches in :mod:`tnviz.core.plan.search` compare
orders without building them.

FLOPs count a multiply-add as 2 where a step sums something (contraction or convolution) and
1 for a pure (partial) outer product, as opt_einsum does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tnviz.core.conv_options import ConvOptions
    from tnviz.core.diagram import Diagram

__all__ = [
    "ConvDim",
    "Problem",
    "OBJECTIVES",
    "LAYOUTS",
    "MEMORY_WEIGHT",
    "REORDER_WEIGHT",
    "REDUCTION_HALF",
    "WIDTH_HALF",
    "LARGE_RESULT",
    "LARGE_RESULT_CHANNELS_LAST",
    "LARGE_RESULT_WEIGHT",
    "DEPTHWISE_HALF",
    "DEPTHWISE_CHANNELS_LAST_HALF",
    "INF",
]

OBJECTIVES = ("time", "flops")
# The memory layout of the input activations: the executor keeps a channels_last input as it lies
# (1×1 and grouped convolutions on it), where oneDNN runs a depthwise convolution (vectorised over
# channels, a kernel of its own) an order of magnitude faster than on NCHW; the "time" objective
# prices a depthwise step on a channels_last activation with its own fitted constant. (Other calls
# run on channels_last about as much faster as each other, which changes no choice; a thin grouped
# convolution there is not fast at all, so a cheaper price for every channels_last step misleads.)
LAYOUTS = ("contiguous", "channels_last")


def _calibration() -> dict:
    """The "time" objective's constants, fitted to measured step times by
    ``benchmarks/calibrate.py --write`` (its results file: benchmarks/results/calibration.json)."""
    import json
    from importlib import resources

    return json.loads(resources.files(__package__).joinpath("calibration.json").read_text())


# The "time" objective: FLOPs / efficiency + MEMORY_WEIGHT · elements read and written, in FLOP
# equivalents (+ REORDER_WEIGHT per element for a convolution with a spatial kernel on NCHW,
# which oneDNN reorders), + LARGE_RESULT_WEIGHT · elements of a result of LARGE_RESULT elements or more
# (LARGE_RESULT_CHANNELS_LAST on a channels_last activation; see Problem._memory). MEMORY_WEIGHT
# prices moving one element against the large-GEMM rate. A step runs
# far below peak where the channels K it sums over are few (a convolution over 4 input channels,
# a depthwise one: K = 1) or where its narrower side W is thin (a convolution with 4 output
# channels, a depthwise kernel: W = 1), so its FLOPs are divided by
# K / (K + REDUCTION_HALF) · W / (W + WIDTH_HALF) — on channels_last, K counts the kernel's taps
# too (Problem.step_cost). All are fitted on measured calls of the
# kinds the executor makes, never typed in. A depthwise step (K = W = 1) is priced apart: its
# time hardly moves with its kernel's taps (27 channels, 32×32, batch 32, forward + backward
# here: 3×1 7.1 ms, 3×3 6.3 ms on NCHW; 1.30 and 1.49 ms on channels_last), so its FLOPs are
# counted for one tap, with DEPTHWISE_HALF (NCHW) or DEPTHWISE_CHANNELS_LAST_HALF for
# REDUCTION_HALF, each fitted on such calls in its layout. (Priced by their taps, CP's two
# one-row kernels looked cheaper applied one after the other than joined into one 3×3 kernel,
# which runs in half the time.)
CALIBRATION = _calibration()
MEMORY_WEIGHT: float = CALIBRATION["memory_weight"]
REORDER_WEIGHT: float = CALIBRATION["reorder_weight"]
REDUCTION_HALF: float = CALIBRATION["reduction_half"]
WIDTH_HALF: float = CALIBRATION["width_half"]
DEPTHWISE_HALF: float = CALIBRATION["depthwise_half"]
LARGE_RESULT: int = CALIBRATION["large_result"]
LARGE_RESULT_CHANNELS_LAST: int = CALIBRATION["large_result_channels_last"]
LARGE_RESULT_WEIGHT: float = CALIBRATION["large_result_weight"]
DEPTHWISE_CHANNELS_LAST_HALF: float = CALIBRATION["depthwise_channels_last_half"]
INF = float("inf")


@dataclass(frozen=True)
class ConvDim:
    """How one spatial dimension of a convolution step is evaluated.

    ``operation`` is ``"correlate"`` (signal against kernel, F.conv semantics),
    ``"full"`` (kernel against kernel: true, full convolution), or ``"pass"`` (an index of
    the input side only, carried as a spatial dimension of kernel length 1).
    """

    index: str
    operation: str
    pad: tuple[int, int]
    padding_mode: str
    stride: int
    dilation: int
    kernel: int
    length: int
    upsample: int = 1  # zeros inserted into the signal before padding (first step only)
    flip: bool = False  # the kernel reversed along this index (a true convolution)
    fold: tuple[str, int, int] | None = None  # the adjoint of a padding, after the last kernel (ConvOptions.fold)


def as_float(count: int) -> float:
    """An exact count (FLOPs, elements) as the "time" objective's float: beyond float's range
    (sizes of 2**40 on 26 indices), inf, which no legal step's FLOPs reach; the searches compare
    (cost, FLOPs), so such steps still rank by their exact FLOPs, and the plan that results is
    refused by the memory check, never by an OverflowError."""
    return float(count) if count < _FLOAT_LIMIT else INF


_FLOAT_LIMIT = 2**1023


def bits(mask: int) -> Iterable[int]:
    """The set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def unique(indices: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(indices))


class Problem:
    """The operands of a bound diagram as bitmasks, with cached per-subset facts.

    Operand ``k`` is bit ``k`` of an operand mask; index ``i`` is bit ``self.bit[i]`` of an
    index mask. A tensor's repeated index (a diagonal) and its indices held by no one else
    and not kept by the output (summed, traces included) are taken away first by a unary
    step, so the searches see each operand with its *kept* indices only.
    """

    def __init__(
        self, diagram: Diagram, inputs: Sequence[str], objective: str = "time", layout: str = "contiguous"
    ) -> None:
        self.diagram = diagram
        self.by_time = objective == "time"
        self.layout = layout
        roles = diagram.roles
        self.names = diagram.tensor_names
        self.inputs = tuple(self.names.index(n) for n in inputs)
        # the steps on an activation laid out channels_last: priced with that layout's constants
        self.channels_last_mask = sum(1 << k for k in self.inputs) if layout == "channels_last" else 0
        self.conv = diagram.conv
        self.flat = [op.indices for op in diagram.tensors]
        self.kept_flat = [tuple(i for i in unique(ix) if roles[i] != "summed") for ix in self.flat]
        self.index_list = list(dict.fromkeys(i for ix in self.kept_flat for i in ix))
        self.bit = {i: b for b, i in enumerate(self.index_list)}
        self.op_mask = [sum(1 << self.bit[i] for i in ix) for ix in self.kept_flat]
        self.out_indices = diagram.output.indices
        # unique: a diagonal output ("-> i i") keeps its index once
        self.out_mask = sum(1 << self.bit[i] for i in unique(self.out_indices) if i in self.bit)
        self.conv_bits = {self.bit[c]: c for c in self.conv if c in self.bit}
        self.conv_mask = sum(1 << b for b in self.conv_bits)
        self.static = [1] * len(self.index_list)
        for i, b in self.bit.items():
            if i not in self.conv:
                self.static[b] = diagram.size(i)  # type: ignore[assignment]
        self.n = len(self.names)
        self.full = (1 << self.n) - 1
        # Per index bit: the operands holding it (after the unary steps).
        self.holders = [0] * len(self.index_list)
        for k, mask in enumerate(self.op_mask):
            for b in bits(mask):
                self.holders[b] |= 1 << k
        # Per convolution index: signal operand, kernels (operand, length), signal length, options, pads;
        # and each kernel's dilation (``kernel_dilation`` may give kernels their own).
        self.conv_info: dict[str, tuple[int, list[tuple[int, int]], int, ConvOptions, tuple[int, int]]] = {}
        self.kernel_dilation: dict[str, dict[int, int]] = {}
        for c in self.conv:
            holders = [self.names.index(t) for t in diagram.holders(c)]
            sig = holders[0]
            kernels = [(k, diagram.size(c, self.names[k])) for k in holders[1:]]
            opts = diagram.options[c]
            reach = opts.reach([(self.names[k], v) for k, v in kernels])  # type: ignore[misc]
            self.conv_info[c] = (sig, kernels, diagram.size(c, self.names[sig]), opts, opts.pads_for_reach(reach))  # type: ignore[assignment]
            self.kernel_dilation[c] = {k: opts.dilation_of(self.names[k]) for k in holders[1:]}
        self._static_prod: dict[int, int] = {0: 1}
        self._subset: dict[int, tuple[int, dict[str, int], int, int]] = {}
        self.tables: dict[int, dict[int, tuple[float, float, object]]] = {}  # exact-search tables by operand mask

    # -- per-subset facts ---------------------------------------------------
    def static_prod(self, mask: int) -> int:
        p = self._static_prod.get(mask)
        if p is None:
            p = 1
            for b in bits(mask):
                p *= self.static[b]
            self._static_prod[mask] = p
        return p

    def conv_dilation(self, s: int, c: str) -> int:
        """The spacing of the taps of the combined kernels of subset ``s`` (no signal) along ``c``:
        their common dilation, or the gcd of differing ones (the combination is then spread out)."""
        return math.gcd(*(d for k, d in self.kernel_dilation[c].items() if s >> k & 1)) or 1

    def conv_length(self, s: int, c: str) -> int:
        """Length along convolution index ``c`` of the intermediate holding subset ``s``."""
        sig, kernels, n, opts, (left, right) = self.conv_info[c]
        dil = self.kernel_dilation[c]
        ks = [(v, dil[k]) for k, v in kernels if s >> k & 1]
        if not s >> sig & 1:
            g = self.conv_dilation(s, c)
            return sum((v - 1) * (d // g) for v, d in ks) + 1
        if not ks:
            return n
        length = (n - 1) * opts.upsample + 1 + left + right - sum((v - 1) * d for v, d in ks)
        if len(ks) == len(kernels):  # the last kernel: the fold, then the stride
            length = (length - opts.folded() - 1) // opts.stride + 1
        return length

    def _folded(self, s: int, c: str) -> int:
        """The entries along ``c`` that the step making subset ``s`` computes and then folds or
        strides away: at the step that applies the last kernel to the signal, a fold's is computed
        at stride 1 (the fold comes before the stride)."""
        sig, kernels, n, opts, (left, right) = self.conv_info[c]
        if opts.fold is None or not s >> sig & 1 or not all(s >> k & 1 for k, _ in kernels):
            return 0
        dil = self.kernel_dilation[c]
        computed = (n - 1) * opts.upsample + 1 + left + right - sum((v - 1) * dil[k] for k, v in kernels)
        return computed - self.conv_length(s, c)

    def _kept(self, s: int, candidates: int, inside: int) -> int:
        """Of the index bits ``candidates`` (held by subset ``s``), those still needed outside
        ``s`` or by the output. ``inside`` are bits known to be kept already."""
        kept = inside | (candidates & self.out_mask)
        outside = ~s
        for b in bits(candidates & ~kept):
            if self.holders[b] & outside:
                kept |= 1 << b
        return kept

    def subset(self, s: int, parts: tuple[int, int] | None = None) -> tuple[int, dict[str, int], int, int]:
        """(kept index mask, conv lengths, number of elements, product of the non-conv sizes)
        of the intermediate for operand subset ``s``; ``parts`` (a split of ``s``) makes the
        first computation proportional to the indices the two parts share."""
        info = self._subset.get(s)
        if info is not None:
            return info
        if parts is not None:
            ka, kb = self.subset(parts[0])[0], self.subset(parts[1])[0]
            shared = ka & kb
            kept = self._kept(s, shared, (ka | kb) & ~shared)
        elif s & (s - 1) == 0:
            k = s.bit_length() - 1
            kept = self._kept(s, self.op_mask[k], 0)
        else:
            union = 0
            for k in bits(s):
                union |= self.op_mask[k]
            kept = self._kept(s, union, 0)
        lengths = {c: self.conv_length(s, c) for b, c in self.conv_bits.items() if kept >> b & 1}
        static = self.static_prod(kept & ~self.conv_mask)
        info = (kept, lengths, static * math.prod(lengths.values()), static)
        self._subset[s] = info
        return info

    # -- one step -------------------------------------------------------------
    def step_cost(self, a: int, b: int) -> tuple[float, float]:
        """(FLOPs, objective cost) of merging subsets ``a`` and ``b``; both inf if illegal."""
        ka, la, sa, pa = self.subset(a)
        kb, lb, sb, pb = self.subset(b)
        s = a | b
        ks, _, ss, _ = self.subset(s, (a, b))
        shared = ka & kb
        shared_conv = shared & self.conv_mask
        # Product of the non-conv sizes over both operands' indices, shared ones once.
        shared_size = self.static_prod(shared & ~self.conv_mask)
        macs = pa * pb // shared_size if shared_size else 0  # an empty index: nothing to compute
        extra = 0
        signal_side = 0
        taps = 1  # of the kernel applied to the signal
        for bit, c in self.conv_bits.items():
            if shared_conv >> bit & 1:
                sig = self.conv_info[c][0]
                side = 1 if a >> sig & 1 else 2 if b >> sig & 1 else 0
                if side:
                    if signal_side and signal_side != side:
                        return INF, INF  # correlations in both directions: F.conv cannot
                    signal_side = side
                    out_len = self.conv_length(s, c)
                    kernel = lb[c] if side == 1 else la[c]
                    macs *= (out_len + self._folded(s, c)) * kernel  # a fold's entries are computed too
                    taps *= kernel
                    if not ks >> bit & 1:
                        extra += ss * out_len
                else:
                    out_len = self.conv_length(s, c)
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
        # The channels the call sums over (a convolution's input channels, its kernel taps
        # apart on NCHW, where oneDNN vectorises over channel blocks) and its narrower side (what
        # only one operand holds: a convolution's output channels, a depthwise kernel's 1): a thin
        # F.conv or GEMM runs far below peak.
        reduction = max(1, self.static_prod(shared & ~ks & ~self.conv_mask))
        width = max(1, min(self.static_prod(ka & ~kb & ~self.conv_mask), self.static_prod(kb & ~ka & ~self.conv_mask)))
        channels_last = s & self.channels_last_mask
        if reduction == 1 and width == 1:  # depthwise: priced for one tap
            half = DEPTHWISE_CHANNELS_LAST_HALF if channels_last else DEPTHWISE_HALF
            return flops, as_float(flops // taps) * (1 + half) + self._memory(s, sa, sb, ss, taps)
        if channels_last:
            # A thin convolution's time grows far slower than its taps (5 channels, batch 160, on
            # the calibration's Intel Xeon: a 3×3 kernel 1.52× a 3×1 one on NCHW, 1.69× on
            # channels_last, not 3×). On NCHW the reorder term carries that; on channels_last,
            # which has none, the taps count as channels summed (each pixel's channels lie
            # together, and oneDNN sums taps and channels in one loop there). See
            # benchmarks/calibrate.py for what it does to the fit.
            reduction *= taps
        efficiency = reduction / (reduction + REDUCTION_HALF) * width / (width + WIDTH_HALF)
        return flops, as_float(flops) / efficiency + self._memory(s, sa, sb, ss, taps)

    def _memory(self, s: int, sa: int, sb: int, ss: int, taps: int) -> float:
        """The elements a step reads and writes, priced higher for a convolution with a spatial
        kernel on NCHW: oneDNN runs it in a blocked layout of its own and reorders the result back
        (ONEDNN_VERBOSE, 7 to 8 channels 3×1, 32×32, batch 224: the convolution 1.7 ms, the
        result's reorder 1.65 ms; none on channels_last), and a large result's fresh pages: glibc's malloc
        serves a block of several MB by mmap and returns it on free, so a call that allocates such
        blocks faults their pages in again each time — from a smaller result on NCHW, where
        oneDNN's convolutions allocate more blocks than the result (a 1×1 convolution from 16 to 64
        channels, 32×32, batch 32, an 8 MB result: 9.8 ms and 4,133 page faults a call on NCHW,
        0.47 ms and none on channels_last; a 1×1 from 64 to 256 channels in 16 groups, 32 MB:
        27 and 22 ms)."""
        channels_last = s & self.channels_last_mask
        large = LARGE_RESULT_CHANNELS_LAST if channels_last else LARGE_RESULT
        moved = MEMORY_WEIGHT + (REORDER_WEIGHT if taps > 1 and not channels_last else 0.0)
        return moved * as_float(sa + sb + ss) + (LARGE_RESULT_WEIGHT * as_float(ss) if ss >= large else 0.0)

    def unary_flops(self, k: int) -> int:
        """FLOPs of operand ``k``'s unary step (its diagonal, then the sum of its summed indices)."""
        flat, kept = self.flat[k], self.kept_flat[k]
        if len(unique(flat)) == len(kept):
            return 0  # nothing summed: at most a diagonal, which is a view
        name = self.names[k]
        return math.prod(self.diagram.size(i, name) for i in unique(flat))  # type: ignore[misc]
