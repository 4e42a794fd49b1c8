"""Fast execution strategies of the tensorial layers, beside the planner's plans.

Two strategies are written by hand here because the generic plan compiler cannot reach them:

* ``"dense"``: reconstruct the kernel (pairwise contractions in opt_einsum's order, computed
  once per parameter shapes), lay it out as ``F.linear`` / ``F.conv`` wants it (contiguous,
  channels_last when the input is) and run one dense call. Autograd keeps the reconstructed
  kernel from the forward pass for the backward pass, so it is built once per training step;
  under ``torch.no_grad`` it is cached until a parameter changes (keyed on the parameters'
  ``_version`` counters and storage pointers).
* ``"factored"``: the factored convolutions (svd, cp, tk, tt, tr, btd) as a sequence of
  ``F.conv`` calls — 1×1, grouped or depthwise, 1×1 — on the activation as it lies, so a
  channels_last input stays channels_last throughout (the planner's conv steps permute and
  reshape, which loses it).

:func:`estimate` prices the strategies (multiply-adds, weighted by how well each kind of
call runs) for ``optimize="auto"``; ``optimize="measure"`` times them instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from tnviz.core.formats import kernel_spec
from tnviz.core.spec import parse_spec

__all__ = ["KernelBuilder", "FactoredConv", "factored_conv", "memory_format_of", "conv_macs"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last(_3d) when ``x`` is laid out so and not also plainly contiguous (a tensor
    with one channel or one pixel is both; then the plain layout is the one to keep)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    if x.dim() == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format


class KernelBuilder:
    """Reconstructs a layer's dense kernel (``torch.nn``'s layout) from its parameters.

    The pairwise contraction order is opt_einsum's ``"dp"`` (fewest multiply-adds) for the
    parameters' shapes; the last contraction writes straight into the (out, in, *kernel)
    layout, then one ``contiguous`` call gives the memory format the dense call wants."""

    def __init__(self, spec: str) -> None:
        parsed = parse_spec(kernel_spec(spec))
        names = list(dict.fromkeys(i for op in parsed.operands for i in op.indices))
        self._letter = {i: _LETTERS[k] for k, i in enumerate(names)}
        self._inputs = ["".join(self._letter[i] for i in op.indices) for op in parsed.operands]
        self._out_indices = "".join(self._letter[i] for i in parsed.output.indices)
        self._modes = parsed.output.modes
        self._path: tuple[tuple[int, ...], ...] | None = None
        self._steps: list[tuple[int, int, str, str]] = []
        self.macs = 0

    def _plan(self, shapes: Sequence[tuple[int, ...]]) -> None:
        import opt_einsum

        eq = ",".join(self._inputs) + "->" + self._out_indices
        path, info = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="dp")
        self.macs = int(info.opt_cost) // 2
        live = list(self._inputs)
        steps = []
        for n, pair in enumerate(path):
            if len(pair) == 1:  # a lone sum
                (a,) = pair
                keep = "".join(c for c in live[a] if c in self._out_indices or any(c in s for s in _rest(live, pair)))
                steps.append((a, -1, f"{live[a]}->{keep}", keep))
                live = [s for k, s in enumerate(live) if k != a] + [keep]
                continue
            a, b = sorted(pair)
            rest = _rest(live, pair)
            last = n == len(path) - 1
            if last:
                keep = self._out_indices
            else:
                seen = live[a] + live[b]
                keep = "".join(dict.fromkeys(c for c in seen if c in self._out_indices or any(c in s for s in rest)))
            steps.append((a, b, f"{live[a]},{live[b]}->{keep}", keep))
            live = [s for k, s in enumerate(live) if k not in (a, b)] + [keep]
        self._steps = steps
        self._path = tuple(tuple(s) for s in shapes)

    def __call__(
        self, tensors: Sequence[torch.Tensor], memory_format: torch.memory_format = torch.contiguous_format
    ) -> torch.Tensor:
        shapes = tuple(tuple(t.shape) for t in tensors)
        if self._path != shapes:
            self._plan(shapes)
        live = list(tensors)
        if len(live) == 1:
            w = torch.einsum(f"{self._inputs[0]}->{self._out_indices}", live[0])
        else:
            for a, b, eq, _ in self._steps:
                if b < 0:
                    out = torch.einsum(eq, live[a])
                    live = [t for k, t in enumerate(live) if k != a] + [out]
                else:
                    out = torch.einsum(eq, live[a], live[b])
                    live = [t for k, t in enumerate(live) if k not in (a, b)] + [out]
            w = live[-1]
        n_t, n_s = len(self._modes[0]), len(self._modes[1])
        w = w.reshape(math.prod(w.shape[:n_t]), math.prod(w.shape[n_t : n_t + n_s]), *w.shape[n_t + n_s :])
        if memory_format is not torch.contiguous_format and w.dim() in (4, 5):
            return w.contiguous(memory_format=memory_format)
        return w.contiguous()


def _rest(live: list[str], pair: Sequence[int]) -> list[str]:
    return [s for k, s in enumerate(live) if k not in pair]


def conv_macs(batch: int, cin: int, cout: int, kernel: Sequence[int], out_spatial: Sequence[int], groups: int) -> int:
    """Multiply-adds of one F.conv call."""
    return batch * cout * (cin // groups) * math.prod(kernel) * math.prod(out_spatial)


# -- the factored convolutions ------------------------------------------------------------


class ConvGeometry:
    """A layer's stride, padding, dilation and padding mode, applied per spatial dimension
    (a factored step that convolves along some dimensions only passes the others through)."""

    def __init__(self, kernel: tuple, stride: tuple, padding: Any, dilation: tuple, padding_mode: str) -> None:
        n = len(kernel)
        self.n = n
        self.kernel, self.stride, self.dilation, self.mode = kernel, stride, dilation, padding_mode
        if padding == "valid":
            pads = [(0, 0)] * n
        elif padding == "same":  # as torch.nn: the extra pixel of an even extent goes right
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
        else:
            pads = [(p, p) for p in padding]
        self.pads = pads

    def out_len(self, i: int, length: int) -> int:
        lo, hi = self.pads[i]
        return (length + lo + hi - self.dilation[i] * (self.kernel[i] - 1) - 1) // self.stride[i] + 1

    def conv(
        self, x: torch.Tensor, w: torch.Tensor, dims: Sequence[int], groups: int = 1, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``F.conv`` of ``x`` with ``w``, whose kernel spans the spatial ``dims`` (extent 1 elsewhere),
        plus ``bias`` (fused into the call, as ``torch.nn`` does)."""
        n = self.n
        stride = tuple(self.stride[i] if i in dims else 1 for i in range(n))
        dilation = tuple(self.dilation[i] if i in dims else 1 for i in range(n))
        pads = [self.pads[i] if i in dims else (0, 0) for i in range(n)]
        if self.mode == "zeros" and all(lo == hi for lo, hi in pads):
            return _CONV[n](x, w, bias, stride, tuple(lo for lo, _ in pads), dilation, groups)
        flat: list[int] = []
        for lo, hi in reversed(pads):
            flat += [lo, hi]
        mode = "constant" if self.mode == "zeros" else self.mode
        padded = F.pad(x, flat, mode=mode)
        memory_format = memory_format_of(x)
        if memory_format is not torch.contiguous_format:  # F.pad's non-constant modes return NCHW
            padded = padded.contiguous(memory_format=memory_format)
        return _CONV[n](padded, w, bias, stride, 0, dilation, groups)


def _pointwise(w: torch.Tensor, n: int) -> torch.Tensor:
    """A (out, in) matrix as a 1×1 convolution's weight."""
    return w.reshape(*w.shape, *([1] * n))


class FactoredConv:
    """A factored convolution as a sequence of F.conv calls.

    ``build(weights)`` returns the list of (weight, spatial dims, groups) steps; ``macs``
    prices them for an input shape."""

    def __init__(self, fmt: str, geometry: ConvGeometry, names: Sequence[str]) -> None:
        self.format, self.geometry, self.names = fmt, geometry, tuple(names)

    def steps(self, w: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, tuple[int, ...], int]]:
        n, all_dims = self.geometry.n, tuple(range(self.geometry.n))
        f = self.format
        if f == "svd":  # A: r s *k (a full conv to rank r), B: t r
            return [(w["A"], all_dims, 1), (_pointwise(w["B"], n), (), 1)]
        if f == "cp":  # A: r s, K_i: r k_i, C: r t; the K_i joined into one depthwise kernel
            ks = [w[name] for name in self.names[1:-1]]
            depth = ks[0]
            for k in ks[1:]:
                depth = depth.unsqueeze(-1) * k.reshape(k.shape[0], *([1] * (depth.dim() - 1)), k.shape[1])
            r = depth.shape[0]
            return [
                (_pointwise(w["A"], n), (), 1),
                (depth.reshape(r, 1, *depth.shape[1:]), all_dims, r),
                (_pointwise(w["C"].t(), n), (), 1),
            ]
        if f == "tk":  # U: s p, G: p q *k, V: q t
            return [
                (_pointwise(w["U"].t(), n), (), 1),
                (w["G"].transpose(0, 1), all_dims, 1),
                (_pointwise(w["V"].t(), n), (), 1),
            ]
        if f == "btd":  # U: B s p, G: B p q *k, V: B q t: B Tucker blocks as grouped convs
            u, g, v = w["U"], w["G"], w["V"]
            blocks, _, p = u.shape
            q = g.shape[2]
            return [
                (_pointwise(u.permute(0, 2, 1).reshape(blocks * p, -1), n), (), 1),
                (g.transpose(1, 2).reshape(blocks * q, p, *g.shape[3:]), all_dims, blocks),
                (_pointwise(v.permute(2, 0, 1).reshape(v.shape[2], blocks * q), n), (), 1),
            ]
        if f in ("tt", "tr"):
            # G0: (r0) s r1, G_i: r_i k_i r_{i+1} along dimension i, G_last: r t (r0). The
            # spatial cores are joined into one kernel r1 → r_{n+1}: one convolution instead of
            # n thin ones (fewer passes over the activation; the planner does the same).
            cores = [w[name] for name in self.names]
            kernel = cores[1]
            for core in cores[2:-1]:
                kernel = torch.tensordot(kernel, core, dims=([kernel.dim() - 1], [0]))
            kernel = kernel.permute(kernel.dim() - 1, *range(kernel.dim() - 1))  # (r_{n+1}, r1, *k)
            if f == "tt":
                return [
                    (_pointwise(cores[0].t(), n), (), 1),
                    (kernel, all_dims, 1),
                    (_pointwise(cores[-1].t(), n), (), 1),
                ]
            # the ring's closing index r0 rides along as F.conv's groups
            r0 = cores[0].shape[0]
            first = cores[0].permute(0, 2, 1).reshape(r0 * cores[0].shape[2], -1)  # (r0 r1, s)
            grouped = kernel.unsqueeze(0).expand(r0, *kernel.shape).reshape(r0 * kernel.shape[0], *kernel.shape[1:])
            last = cores[-1].permute(1, 2, 0).reshape(cores[-1].shape[1], -1)  # (t, r0 r_{n+1})
            return [(_pointwise(first, n), (), 1), (grouped, all_dims, r0), (_pointwise(last, n), (), 1)]
        raise AssertionError(f)

    def __call__(self, x: torch.Tensor, w: dict[str, torch.Tensor], bias: torch.Tensor | None = None) -> torch.Tensor:
        """The sequence on ``x``, plus ``bias`` fused into the last call (a separate addition is
        one more pass over the output forward and backward: measured 5–8 % of a dense 3×3 conv)."""
        steps = self.steps(w)
        for k, (weight, dims, groups) in enumerate(steps):
            b = bias if k == len(steps) - 1 else None
            x = (
                self.geometry.conv(x, weight, dims, groups, b)
                if dims
                else _CONV[self.geometry.n](x, weight, b, 1, 0, 1, groups)
            )
        return x

    def macs(self, shapes: dict[str, tuple[int, ...]], x_shape: tuple[int, ...]) -> int:
        """Multiply-adds of the sequence on an input of ``x_shape``."""
        fake = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
        spatial = list(x_shape[2:])
        total = 0
        for weight, dims, groups in self.steps(fake):
            for i in dims:
                spatial[i] = self.geometry.out_len(i, spatial[i])
            cin = weight.shape[1] * groups
            macs = conv_macs(x_shape[0], cin, weight.shape[0], weight.shape[2:], spatial, groups)
            # Grouped (not depthwise) convolutions run about 1.5× less efficiently than plain
            # ones on oneDNN (measured: tr's ring sequence, 1 and 2 CPU threads).
            total += macs * 3 // 2 if 1 < groups < cin else macs
        return total


_FACTORED_SPECS = {
    "svd": ("X: b s {sp}, A: r s {sp}, B: t r -> b t {sp} | {sp}",),
    "cp": ("X: b s {sp}, A: r s, {ks}, C: r t -> b t {sp} | {sp}",),
    "tk": ("X: b s {sp}, U: s p, G: p q {sp}, V: q t -> b t {sp} | {sp}",),
    "btd": ("X: b s {sp}, U: B s p, G: B p q {sp}, V: B q t -> b t {sp} | {sp}",),
}


def factored_conv(fmt: str, spec: str, names: Sequence[str], geometry: ConvGeometry) -> FactoredConv | None:
    """The hand-written sequence for ``fmt`` when its diagram is the one that sequence
    computes (checked against the spec, so a changed format falls back to the planner);
    None otherwise."""
    spatial = ("x", "y", "z")[: geometry.n]
    sp = " ".join(spatial)
    if fmt in ("svd", "tk", "btd"):
        want = _FACTORED_SPECS[fmt][0].format(sp=sp)
    elif fmt == "cp":
        ks = ", ".join(f"K{c}: r {c}" for c in spatial)
        want = _FACTORED_SPECS["cp"][0].format(sp=sp, ks=ks)
    elif fmt == "tt":
        n = geometry.n
        cores = ["G0: s r1"] + [f"G{i + 1}: r{i + 1} {c} r{i + 2}" for i, c in enumerate(spatial)]
        want = f"X: b s {sp}, " + ", ".join(cores + [f"G{n + 1}: r{n + 1} t"]) + f" -> b t {sp} | {sp}"
    elif fmt == "tr":
        n = geometry.n
        cores = ["G0: r0 s r1"] + [f"G{i + 1}: r{i + 1} {c} r{i + 2}" for i, c in enumerate(spatial)]
        want = f"X: b s {sp}, " + ", ".join(cores + [f"G{n + 1}: r{n + 1} t r0"]) + f" -> b t {sp} | {sp}"
    else:
        return None
    if spec != want:
        return None
    return FactoredConv(fmt, geometry, names)
