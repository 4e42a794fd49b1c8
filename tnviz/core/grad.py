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

from typing import Any

from tnviz.core.conv_options import ConvOptions
from tnviz.core.diagram import Diagram
from tnviz.core.spec import Operand, Spec, first_free_name
from tnviz.errors import TnvizError

__all__ = ["gradient_diagram", "backward_plan", "BackwardPlan", "free_upstream_name"]


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
    target = diagram.tensor(name)
    others = [op for op in diagram.tensors if op.name != name]
    out = diagram.output
    out_indices = set(out.indices)
    # A target holding an index twice (a trace or diagonal) gets a diagonal gradient, and one
    # summing an index alone a gradient constant along it: the output ``d{name}`` takes the
    # target's modes as they stand, which the named form writes as a diagonal output
    # ("-> dA: i i") and a broadcast one (an output index held by no tensor, its size bound).
    conv = set(diagram.conv)
    options: dict[str, ConvOptions] = {}
    ones: dict[str, str] = {}  # convolution index the output sums: its kernel of ones
    ones_length: dict[str, int] = {}
    signal_of: list[str] = []  # convolution indices whose signal is the target
    for c in diagram.conv:
        holders = diagram.holders(c)
        opts = diagram.options[c]
        if opts.fold is not None:
            raise _refuse(
                f"the gradient through the fold on {c!r} (a gradient's own gradient) needs that padding again, "
                "which is not written yet",
                c,
            )
        lengths = {t: diagram.size(c, t) for t in holders}
        if None in lengths.values():
            raise _refuse(f"the gradient through convolution {c!r} needs its lengths: bind the sizes first", c)
        n_out = diagram.size(c)
        signal, kernels = holders[0], holders[1:]
        left, right = opts.pads_for_reach(opts.reach([(t, lengths[t]) for t in kernels]))  # type: ignore[misc]
        padded = (lengths[signal] - 1) * opts.upsample + 1 + left + right  # type: ignore[operator]
        own = {t: opts.dilation_of(t) for t in kernels}
        if name not in holders:
            if c not in out_indices:
                options[c] = opts  # summed after convolving in the forward too: the same convolution
                continue
            if opts.flip:
                raise _refuse(
                    f"{name} does not hold convolution index {c!r}, whose flip would reverse the upstream gradient "
                    f"{upstream} too as one more kernel, which the spec language cannot write yet",
                    c,
                )
            # Σ_o G[o] Σ_k Ŝ[o·s + Σ k·d] Π K[k]: G joins the kernels with its taps ``stride`` apart,
            # and the index is summed after convolving. The far side is cropped where the forward's
            # stride left the signal's tail unused, so that exactly one position remains.
            reach = opts.reach([(t, lengths[t]) for t in kernels]) + opts.stride * (n_out - 1)  # type: ignore[operator]
            unused = padded - reach - 1
            options[c] = _with_spacing(
                ConvOptions(padding=(left, right - unused), padding_mode=opts.padding_mode, upsample=opts.upsample),
                {**own, upstream: opts.stride},
            )
            continue
        # The output sums c after convolving: its upstream along c is all ones (every output position
        # counted once), a kernel of ones ``ones_c`` of the output's length standing where G would.
        carrier = upstream
        if c not in out_indices:
            carrier = ones[c] = _free_name(f"ones_{c}", diagram, upstream, ones.values())
            ones_length[c] = n_out  # type: ignore[assignment]
        if name != signal:
            if opts.flip:
                raise _refuse(f"the gradient of a flipped kernel (flip=True on {c!r}) is not written yet", c)
            # Σ_j G[j] Ŝ[j·s + k·d + Σ k'·d'] Π K'[k']: G and the other kernels K' are the kernels,
            # G's taps ``stride`` apart; the output strided by the target's dilation and the far
            # side cropped so that exactly len(K) values come out.
            rest = [t for t in kernels if t != name]
            spacing = {carrier: opts.stride, **{t: own[t] for t in rest}}
            reach = opts.reach([(t, lengths[t]) for t in rest]) + opts.stride * (n_out - 1)  # type: ignore[operator]
            natural = (padded - reach - 1) // own[name] + 1
            excess = natural - lengths[name]  # type: ignore[operator]
            options[c] = _with_spacing(
                ConvOptions(
                    padding=(left, right - excess * own[name]),
                    stride=own[name],
                    padding_mode=opts.padding_mode,
                    upsample=opts.upsample,
                ),
                spacing,
            )
        else:
            # Circular padding with the output as long as the signal (the usual "same" case, no
            # stride): G is periodic too, so the adjoint is a circular correlation of G.
            n_sig = lengths[signal]
            circular = opts.padding_mode == "circular" and opts.stride == 1 and opts.upsample == 1 and n_out == n_sig
            fold = None
            if opts.padding_mode != "zeros" and (left, right) != (0, 0) and not circular:
                if opts.upsample != 1:
                    raise _refuse(
                        f"the signal's gradient through padding_mode={opts.padding_mode!r} on the upsampled {c!r} "
                        "needs the adjoint of that padding (a fold) before the upsampling's, which the spec "
                        "language cannot write yet",
                        opts.padding_mode,
                    )
                # the gradient of the padded signal, then each padded entry added back onto its source
                fold = (opts.padding_mode, left, right)
            reach = opts.reach([(t, lengths[t]) for t in kernels])
            grown = (n_out - 1) * opts.stride + 1  # type: ignore[operator]
            pad_left = reach - left
            # the right side makes the strided output exactly the signal's length
            pad_right = (n_sig - 1) * opts.upsample - (grown + pad_left - reach - 1)  # type: ignore[operator]
            if fold is not None:  # the whole padded extent, which the fold brings back to the signal's length
                pad_left, pad_right = pad_left + left, pad_right + right
            options[c] = ConvOptions(
                padding=(pad_left, pad_right),
                stride=opts.upsample,
                dilation=opts.dilation,
                upsample=opts.stride,
                flip=not opts.flip,
                padding_mode="circular" if circular else "zeros",
                kernel_dilation=opts.kernel_dilation,
                fold=fold,
            )
            signal_of.append(c)
    g = Operand(upstream, out.modes)
    kernels_of_ones = [Operand(n, ((c,),)) for c, n in ones.items()]
    # A convolution's signal is its first holder: G (or the ones standing for it) leads when it
    # takes the signal's place.
    leading = [op for op in [g, *kernels_of_ones] if signal_of and any(c in op.indices for c in signal_of)]
    if signal_of and not leading:
        leading = [g]
    trailing = [op for op in [g, *kernels_of_ones] if op not in leading]
    operands = leading + others + trailing
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
    output = Operand(f"d{name}" if f"d{name}" not in diagram.tensor_names else "out", target.modes)
    spec = Spec(tuple(operands), output, tuple(c for c in diagram.conv if c in conv))
    result = Diagram(spec, options=options)
    # sizes: every plain index as in the forward; G shaped like the output; each tensor's own shape
    shapes = {}
    for op in others:
        shape = diagram.shape(op.name)
        if all(v is not None for v in shape):
            shapes[op.name] = tuple(shape)
    if all(v is not None for v in diagram.output_shape):
        shapes[upstream] = tuple(diagram.output_shape)
    for c, n in ones.items():
        shapes[n] = (ones_length[c],)
    sizes = {i: n for i, n in diagram.sizes.items() if i in result.index_names}
    if not sizes and not shapes:
        return result
    return result.bind(sizes, shapes=shapes)


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
