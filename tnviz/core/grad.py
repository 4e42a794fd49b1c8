"""The gradient of a diagram with respect to one of its tensors, as a diagram.

For a loss whose gradient with respect to the output is ``G``, the gradient with respect to a
tensor ``T`` is the network with ``T`` taken out and ``G`` put in (the output's indices), read
out along ``T``'s indices: the paper's rule for contractions, hyperedges and partial outer
products. An index ``T`` holds twice (a trace or diagonal) comes out as a diagonal output
(``-> dT: i i``), and one that ``T`` alone sums as a broadcast output index (held by no
tensor, the gradient constant along it). A convolution index held by ``T`` changes roles:

* ``T`` a kernel: ``dK[k] = Σ_j G[j] Ŝ[j·s + k·d]`` — the (padded, upsampled) signal correlated
  with ``G`` as the kernel, stride and dilation swapped, cropped to the kernel's length.
* ``T`` the signal (zero padding, or circular padding that keeps the length):
  ``dS[x] = Σ_k G↑[x·u + P + k·d] flip(K)[k]`` — ``G`` with ``s - 1`` zeros inserted
  (``upsample``), correlated with the kernel reversed (``flip``, a true convolution), padded
  by ``P = (len K - 1)·d - left`` (negative crops) and strided by the forward's upsampling.

What the spec language cannot write yet is refused with a :class:`TnvizError` naming it.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from tnviz.core.binding import checked_shape
from tnviz.core.conv_options import ConvOptions
from tnviz.core.diagram import Diagram
from tnviz.core.spec import Operand, Spec, first_free_name
from tnviz.errors import TnvizError

__all__ = ["gradient_diagram", "backward_plan", "BackwardPlan", "PendingGradient", "free_upstream_name"]


def free_upstream_name(diagram: Diagram) -> str:
    """``G``, or the first of dY, dOut, G_, G1, G2, … that names no tensor or index of ``diagram``."""
    return first_free_name(("G", "dY", "dOut", "G_"), set(diagram.tensor_names) | set(diagram.index_names))


def _free_name(base: str, diagram: Diagram, upstream: str, taken: Any) -> str:
    """``base``, or ``base_1``, ``base_2``, … whichever names no tensor or index yet."""
    used = {*diagram.tensor_names, *diagram.index_names, upstream, *taken}
    name, k = base, 0
    while name in used:
        k += 1
        name = f"{base}_{k}"
    return name


def _refuse(message: str, token: str) -> TnvizError:
    return TnvizError(message, token=token)


def _with_spacing(options: ConvOptions, spacing: dict[str, int]) -> ConvOptions:
    """``options`` with the kernels' spacings: one common spacing is ``dilation``; differing ones
    go to ``kernel_dilation`` (the most common one as ``dilation``)."""
    if not spacing:
        return options
    values = list(spacing.values())
    common = max(set(values), key=lambda v: (values.count(v), -v))
    own = tuple(sorted((t, d) for t, d in spacing.items() if d != common))
    return ConvOptions(**{**options.__dict__, "dilation": common, "kernel_dilation": own})


@dataclasses.dataclass
class _Index:
    """One convolution index of the forward as its gradients see it: the holders' lengths, the
    padding and the holders read backwards, normalised so that the signal is read forwards.

    A forward that reads its signal backwards is the reversal of one that does not:
    corr(S⃖, K; l, r) = rev(corr(S, K⃖; r - u, l)), u the unused tail, every holder toggled; its
    upstream gradient is then G read backwards (``g_backwards``).
    """

    opts: ConvOptions
    signal: str
    kernels: list[str]
    lengths: dict[str, int]
    n_out: int
    left: int
    right: int
    padded: int
    backwards: set[str]
    g_backwards: bool

    @classmethod
    def of(cls, diagram: Diagram, c: str) -> _Index:
        holders = diagram.holders(c)
        opts = diagram.options[c]
        lengths = {t: int(diagram.size(c, t)) for t in holders}  # type: ignore[arg-type]
        signal, kernels = holders[0], list(holders[1:])
        n_out = int(diagram.size(c))  # type: ignore[arg-type]
        reach = opts.reach([(t, lengths[t]) for t in kernels])
        left, right = opts.pads_for_reach(reach)
        padded = (lengths[signal] - 1) * opts.upsample + 1 + left + right
        backwards = set(opts.reversed_holders(holders))
        g_backwards = signal in backwards
        if g_backwards:
            unused = padded - 1 - reach - opts.stride * (n_out - 1)
            backwards = set(holders) - backwards
            left, right, padded = right - unused, left, padded - unused
        return cls(opts, signal, kernels, lengths, n_out, left, right, padded, backwards, g_backwards)

    def reach(self, kernels: list[str]) -> int:
        return self.opts.reach([(t, self.lengths[t]) for t in kernels])


def _off_the_index(ix: _Index, upstream: str) -> tuple[ConvOptions, set[str]]:
    """A tensor off a convolution index the output keeps: Σ_o G[o] Σ_k Ŝ[o·s + Σ k·d] Π K[k] —
    G joins the kernels with its taps ``stride`` apart, the index summed after convolving. The
    far side is cropped where the forward's stride left the signal's tail unused, so that
    exactly one position remains."""
    opts = ix.opts
    unused = ix.padded - ix.reach(ix.kernels) - opts.stride * (ix.n_out - 1) - 1
    written = _with_spacing(
        ConvOptions(padding=(ix.left, ix.right - unused), padding_mode=opts.padding_mode, upsample=opts.upsample),
        {**{t: opts.dilation_of(t) for t in ix.kernels}, upstream: opts.stride},
    )
    return written, ix.backwards | ({upstream} if ix.g_backwards else set())


def _kernel_gradient(ix: _Index, name: str, carrier: str, upstream: str) -> tuple[ConvOptions, set[str]]:
    """Kernel ``name``: Σ_j G[j] Ŝ[j·s + k·d + Σ k'·d'] Π K'[k'] — G (or the ones standing for it)
    and the other kernels K' are the kernels, G's taps ``stride`` apart; the output strided by
    the target's dilation and the far side cropped so that exactly len(K) values come out."""
    opts = ix.opts
    own = opts.dilation_of(name)
    rest = [t for t in ix.kernels if t != name]
    spacing = {carrier: opts.stride, **{t: opts.dilation_of(t) for t in rest}}
    reach = ix.reach(rest) + opts.stride * (ix.n_out - 1)
    natural = (ix.padded - reach - 1) // own + 1
    pads = (ix.left, ix.right - (natural - ix.lengths[name]) * own)
    read = (ix.backwards & set(rest)) | ({carrier} if ix.g_backwards and carrier == upstream else set())
    if name in ix.backwards:
        # the forward reads this kernel backwards: its gradient is the one above reversed, every
        # holder of that correlation read backwards instead (the identity of :class:`_Index`)
        tail = (ix.padded - reach - 1) % own
        pads = (pads[1] - tail, pads[0])
        read = {ix.signal, carrier, *rest} - read
    written = _with_spacing(
        ConvOptions(padding=pads, stride=own, padding_mode=opts.padding_mode, upsample=opts.upsample), spacing
    )
    return written, read


def _signal_gradient(ix: _Index, carrier: str) -> tuple[ConvOptions, set[str]]:
    """The signal: ``dS[x] = Σ_k G↑[x·u + P + k·d] flip(K)[k]`` — G with ``stride - 1`` zeros
    inserted, correlated with the kernels reversed (a true convolution), strided by the
    forward's upsampling; through a reflect, replicate or circular padding, over the whole
    padded extent and then folded back (before that stride)."""
    opts = ix.opts
    left, right = ix.left, ix.right
    n_sig = ix.lengths[ix.signal]
    # Circular padding with the output as long as the signal (the usual "same" case, no stride):
    # G is periodic too, so the adjoint is a circular correlation of G.
    circular = opts.padding_mode == "circular" and opts.stride == 1 and opts.upsample == 1 and ix.n_out == n_sig
    # The padded sides (a cropped one is never read: the correlation below is zero there)
    grow = (max(left, 0), max(right, 0))
    fold = None
    if opts.padding_mode != "zeros" and grow != (0, 0) and not circular:
        fold = (opts.padding_mode, *grow)
    reach = ix.reach(ix.kernels)
    grown = (ix.n_out - 1) * opts.stride + 1
    pad_left = reach - left
    # the right side makes the strided output exactly the signal's length
    pad_right = (n_sig - 1) * opts.upsample - (grown + pad_left - reach - 1)
    if fold is not None:  # the whole padded extent, which the fold brings back to the signal's length
        pad_left, pad_right = pad_left + grow[0], pad_right + grow[1]
    written = ConvOptions(
        padding=(pad_left, pad_right),
        stride=opts.upsample,
        dilation=opts.dilation,
        upsample=opts.stride,
        padding_mode="circular" if circular else "zeros",
        kernel_dilation=opts.kernel_dilation,
        fold=fold,
    )
    # a true convolution: the kernels the forward read forwards are read backwards here
    return written, (set(ix.kernels) - ix.backwards) | ({carrier} if ix.g_backwards else set())


def gradient_diagram(diagram: Diagram, name: str, upstream: str = "G") -> Diagram:
    """The diagram of d(loss)/d(``name``) given ``upstream``, the loss's gradient w.r.t. the output.

    See :meth:`Diagram.grad`.
    """
    if name not in diagram.tensor_names:
        raise _refuse(f"no tensor {name!r}; expected one of {', '.join(diagram.tensor_names)}", str(name))
    if upstream in diagram.tensor_names or upstream in diagram.index_names:
        raise _refuse(f"the upstream gradient's name {upstream!r} is taken; pass upstream='...'", str(upstream))
    if diagram.has_ellipsis:
        raise _refuse("the gradient of a diagram with '...' needs its shapes: bind them first", "...")
    out_indices = set(diagram.output.indices)
    # A target holding an index twice (a trace or diagonal) gets a diagonal gradient, and one
    # summing an index alone a gradient constant along it: the output ``d{name}`` takes the
    # target's modes as they stand, which the named form writes as a diagonal output
    # ("-> dA: i i") and a broadcast one (an output index held by no tensor, its size bound).
    options: dict[str, ConvOptions] = {}
    ones: dict[str, str] = {}  # convolution index the output sums: its kernel of ones
    ones_length: dict[str, int] = {}
    signal_of: list[str] = []  # convolution indices whose signal is the target
    read_backwards: dict[str, set[str]] = {}  # the gradient's holders of each index read backwards
    pending = False  # some convolution lengths unbound: the options once bound (PendingGradient)
    for c in diagram.conv:
        holders = diagram.holders(c)
        if diagram.options[c].fold is not None:
            raise _refuse(
                f"the gradient through the fold on {c!r} (a gradient's own gradient) needs that padding again, "
                "which is not written yet",
                c,
            )
        if name not in holders and c not in out_indices:
            options[c] = diagram.options[c]  # summed after convolving in the forward too: the same convolution
            continue
        # The output sums c after convolving: its upstream along c is all ones (every output position
        # counted once), a kernel of ones ``ones_c`` of the output's length standing where G would.
        carrier = upstream
        if name in holders and c not in out_indices:
            carrier = ones[c] = _free_name(f"ones_{c}", diagram, upstream, ones.values())
        if name == holders[0]:
            signal_of.append(c)
        if any(diagram.size(c, t) is None for t in holders):
            pending = True
            continue
        ix = _Index.of(diagram, c)
        if carrier != upstream:
            ones_length[c] = ix.n_out
        if name not in holders:
            options[c], read_backwards[c] = _off_the_index(ix, upstream)
        elif name != ix.signal:
            options[c], read_backwards[c] = _kernel_gradient(ix, name, carrier, upstream)
        else:
            options[c], read_backwards[c] = _signal_gradient(ix, carrier)
    operands = _operands(diagram, name, upstream, ones, signal_of)
    output = Operand(f"d{name}" if f"d{name}" not in diagram.tensor_names else "out", diagram.tensor(name).modes)
    spec = Spec(tuple(operands), output, diagram.conv)
    if pending:
        return PendingGradient(spec, diagram, name, upstream)
    for c, read in read_backwards.items():
        grad_kernels = [op.name for op in operands if c in op.indices][1:]
        flip = True if read and read == set(grad_kernels) else tuple(sorted(read)) or False
        options[c] = dataclasses.replace(options[c], flip=flip)
    result = Diagram(spec, options=options)
    # sizes: every plain index as in the forward; G shaped like the output; each tensor's own shape
    shapes = {}
    for op in operands:
        shape = diagram.shape(op.name) if op.name in diagram.tensor_names else None
        if shape is not None and all(v is not None for v in shape):
            shapes[op.name] = tuple(shape)
    if all(v is not None for v in diagram.output_shape):
        shapes[upstream] = tuple(diagram.output_shape)
    for c, n in ones.items():
        shapes[n] = (ones_length[c],)
    sizes = {i: n for i, n in diagram.sizes.items() if i in result.index_names}
    if not sizes and not shapes:
        return result
    return result.bind(sizes, shapes=shapes)


def _operands(diagram: Diagram, name: str, upstream: str, ones: dict[str, str], signal_of: list[str]) -> list[Operand]:
    """The gradient's tensors: the others, ``upstream`` with the output's modes and the kernels of
    ones. A convolution's signal is its first holder: G (or the ones standing for it) leads when
    it takes the signal's place."""
    g = Operand(upstream, diagram.output.modes)
    kernels_of_ones = [Operand(n, ((c,),)) for c, n in ones.items()]
    leading = [op for op in [g, *kernels_of_ones] if signal_of and any(c in op.indices for c in signal_of)]
    if signal_of and not leading:
        leading = [g]
    trailing = [op for op in [g, *kernels_of_ones] if op not in leading]
    operands = leading + [op for op in diagram.tensors if op.name != name] + trailing
    carriers = {upstream, *ones.values()}
    for c in diagram.conv:
        if c not in signal_of:
            holders = [op.name for op in operands if c in op.indices]
            if holders[0] in carriers:
                raise _refuse(
                    f"{name} is the signal of {', '.join(signal_of)} but a kernel of {c!r}: the two gradients need "
                    "different tensors first",
                    c,
                )
    return operands


class PendingGradient(Diagram):
    """The gradient of a diagram whose convolution lengths are not bound yet.

    Its tensors and output are :meth:`Diagram.grad`'s; its convolution options (paddings, crops,
    strides, flips) depend on the lengths, so they are written when it is bound — by
    ``tnviz.einsum`` from the tensors' shapes, or by :meth:`bind` — which returns the gradient
    diagram of the forward bound to those lengths. The target's lengths come from ``G``'s (or
    ``ones_…``'s) and the other tensors'; where a stride leaves them open, pass the target's
    shape: ``bind(shapes={"K": (4, 3, 3)})``.
    """

    __slots__ = ("forward", "target", "upstream", "_written")

    def __init__(self, spec: Spec, forward: Diagram, target: str, upstream: str) -> None:
        held = {i for op in (*spec.operands, spec.output) for i in op.indices}
        sizes = {i: n for i, n in forward.sizes.items() if i in held and i not in forward.conv}
        super().__init__(spec, sizes)
        self.forward, self.target, self.upstream = forward, target, upstream
        self._written: dict[Any, Diagram] = {}  # by the sizes bound: a second run plans nothing anew

    def _key(self) -> tuple:
        return ("pending gradient", self.forward._key(), self.target, self.upstream)

    def __repr__(self) -> str:
        return (
            f"<PendingGradient {self.to_spec()!r}: d/d{self.target} of {self.forward.to_spec()!r}, "
            "its convolution options written when its lengths are bound>"
        )

    def with_options(self, **conv_options: Any) -> Diagram:
        raise _refuse("a pending gradient's convolution options come from its lengths: bind them first", self.target)

    def to_dict(self) -> dict[str, Any]:
        raise _refuse("a pending gradient's convolution options come from its lengths: bind them first", self.target)

    def bind(self, sizes: Any = None, *, shapes: Any = None) -> Diagram:
        """The gradient diagram of the forward bound to these lengths (then bound to them)."""
        if sizes is not None and not isinstance(sizes, Mapping):
            raise _refuse(f"sizes must be a dict, got {type(sizes).__name__}", "sizes")
        for key in [*(sizes or {}), *(shapes or {})]:
            if not isinstance(key, str):
                raise _refuse(f"sizes and shapes are keyed by index and tensor names, got {key!r}", repr(key))
        given = dict(shapes or {})
        index_sizes: dict[str, Any] = {}
        for key, value in (sizes or {}).items():
            (given if key in self.tensor_names or key == self.target else index_sizes)[key] = value
        given = {name: checked_shape(name, shape) for name, shape in given.items()}
        # a list and a tuple of the same lengths are one key; repr keeps any value a user passes hashable
        written_sizes = ((k, repr(tuple(v) if isinstance(v, list) else v)) for k, v in (sizes or {}).items())
        key = (tuple(sorted(written_sizes)), tuple(sorted(given.items())))
        if key in self._written:
            return self._written[key]
        if len(self._written) >= 16:  # bounded, as a Diagram's plan cache is
            del self._written[next(iter(self._written))]
        self._written[key] = written = self._write(dict(given), index_sizes)
        return written

    def _write(self, given: dict[str, Any], index_sizes: dict[str, Any]) -> Diagram:
        target_shape = given.pop(self.target, None)
        forward = self.forward
        out_lengths = self._output_lengths(given, index_sizes)
        others = {n: v for n, v in given.items() if n in forward.tensor_names}
        plain = {i: v for i, v in index_sizes.items() if i not in forward.conv}
        if target_shape is None:
            target_shape = self._target_shape(forward.bind(plain, shapes=others), out_lengths)
        bound = forward.bind(plain, shapes={**others, self.target: tuple(target_shape)})
        return gradient_diagram(bound, self.target, self.upstream).bind(index_sizes or None, shapes=given)

    def _output_lengths(self, given: dict[str, Any], index_sizes: dict[str, Any]) -> dict[str, int]:
        """Each convolution index's output length, read off G's shape or ones_…'s; G's other
        lengths go to ``index_sizes``."""
        lengths: dict[str, int] = {}
        upstream = given.get(self.upstream)
        if upstream is not None:
            modes = self.forward.output.modes
            if len(upstream) != len(modes):
                raise _refuse(
                    f"{self.upstream} has shape {tuple(upstream)}; expected {len(modes)} dimensions (the output's)",
                    self.upstream,
                )
            for mode, n in zip(modes, upstream):
                if len(mode) == 1 and mode[0] in self.forward.conv:
                    lengths[mode[0]] = int(n)
                elif len(mode) == 1:
                    index_sizes.setdefault(mode[0], int(n))
        for op in self.tensors:
            if op.name.startswith("ones_") and op.name in given and op.name not in self.forward.tensor_names:
                lengths[op.indices[0]] = int(given[op.name][0])
        return lengths

    def _target_shape(self, partial: Diagram, out_lengths: dict[str, int]) -> tuple[int, ...]:
        """The target's shape: its other sizes from ``partial``, its convolution lengths the one
        that gives each index its output length."""
        target = self.forward.tensor(self.target)
        shape = []
        for mode in target.modes:
            if len(mode) == 1 and mode[0] in self.forward.conv:
                shape.append(self._conv_length(partial, mode[0], out_lengths))
                continue
            sizes = [partial.size(i) for i in mode]
            if None in sizes:
                missing = mode[sizes.index(None)]
                raise _refuse(
                    f"the size of index {missing!r} of {self.target} cannot be read from the gradient's tensors; "
                    f"pass sizes={{{self.target!r}: shape}}",
                    missing,
                )
            shape.append(math.prod(sizes))  # type: ignore[arg-type]
        return tuple(shape)

    def _conv_length(self, partial: Diagram, c: str, out_lengths: dict[str, int]) -> int:
        holders = partial.holders(c)
        opts = partial.options[c]
        known = {t: partial.size(c, t) for t in holders if t != self.target}
        if c not in out_lengths or None in known.values():
            raise _refuse(
                f"the length of {self.target} along {c!r} cannot be read from the gradient's tensors; "
                f"pass sizes={{{self.target!r}: shape}}",
                c,
            )
        wanted = out_lengths[c]

        def output(length: int) -> int:
            lens = {**known, self.target: length}
            return opts.output_length(lens[holders[0]], [lens[t] for t in holders[1:]], holders[1:])  # type: ignore[arg-type]

        # The output grows with the signal's length and shrinks with a kernel's: the lengths that
        # give ``wanted`` are one run of a range long enough for any padding, dilation and stride.
        pads = sum(abs(v) for v in opts.padding) if isinstance(opts.padding, tuple) else 0
        reach = sum(opts.dilation_of(t) * (n - 1) for t, n in known.items() if t != holders[0])  # type: ignore[operator]
        longest = max(known.values(), default=1) * opts.upsample + pads + reach + wanted * opts.stride + 64  # type: ignore[operator]
        lengths = range(1, longest + 1)
        sign = 1 if self.target == holders[0] else -1
        first = bisect.bisect_left(lengths, sign * wanted, key=lambda n: sign * output(n))
        fits = lengths[first : bisect.bisect_right(lengths, sign * wanted, key=lambda n: sign * output(n))]
        if len(fits) != 1:
            shown = ", ".join(map(str, fits[:6])) + (", …" if len(fits) > 6 else "")
            options = "no length" if not fits else f"any of {shown}"
            raise _refuse(
                f"the length of {self.target} along {c!r} is not fixed by the gradient's tensors ({options} gives "
                f"an output of {wanted}); pass sizes={{{self.target!r}: shape}}",
                c,
            )
        return fits[0]


class BackwardPlan:
    """What the backward pass of a diagram costs: the forward plan and, per tensor, the plan of
    its gradient diagram (or why that gradient cannot be a diagram yet). Prints as a table.

    Attributes:
        forward: the forward :class:`~tnviz.core.plan.report.Plan`.
        gradients: ``{tensor: Plan}`` for each gradient diagram planned.
        refused: ``{tensor: reason}`` for each gradient the spec language cannot write yet.
    """

    def __init__(self, forward: Any, gradients: dict[str, Any], refused: dict[str, str]) -> None:
        self.forward, self.gradients, self.refused = forward, gradients, refused

    @property
    def backward_flops(self) -> int:
        """FLOPs of every gradient planned (the refused ones not counted)."""
        return sum(p.flops for p in self.gradients.values())

    def rows(self) -> list[tuple[str, str, str, str]]:
        rows = [("forward", f"{self.forward.flops:,}", "1.00", self.forward.approach)]
        for name, plan in self.gradients.items():
            ratio = plan.flops / self.forward.flops if self.forward.flops else float("nan")
            rows.append((f"d/d{name}", f"{plan.flops:,}", f"{ratio:.2f}", plan.approach))
        for name, reason in self.refused.items():
            rows.append((f"d/d{name}", "—", "—", f"not a diagram yet: {reason}"))
        return rows

    def __str__(self) -> str:
        rows = [("pass", "FLOPs", "× forward", "approach")] + self.rows()
        widths = [max(len(r[k]) for r in rows) for k in range(3)]
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
        ratio = self.backward_flops / max(self.forward.flops, 1)
        refused = f" ({len(self.refused)} refused, not counted)" if self.refused else ""
        lines.append(f"backward / forward FLOPs: {ratio:.2f}{refused}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from tnviz.tables import html_table

        return html_table(("pass", "FLOPs", "× forward", "approach"), self.rows())

    def __repr__(self) -> str:
        return f"<BackwardPlan: forward {self.forward.flops:,} FLOPs, backward {self.backward_flops:,} FLOPs>"


def backward_plan(diagram: Diagram, tensors: Any = None, **plan_options: Any) -> BackwardPlan:
    """Plan the forward pass and the gradient diagram of each of ``tensors`` (default: all)."""
    names = list(diagram.tensor_names if tensors is None else tensors)
    forward = diagram.plan(**plan_options)
    gradients, refused = {}, {}
    upstream = free_upstream_name(diagram)
    for name in names:
        try:
            g = gradient_diagram(diagram, name, upstream)
        except TnvizError as err:
            if name not in diagram.tensor_names:
                raise
            refused[name] = err.message
            continue
        gradients[name] = g.plan(**{k: v for k, v in plan_options.items() if k != "inputs"})
    return BackwardPlan(forward, gradients, refused)
