"""The printable :class:`Plan`: a report of the chosen steps, their cost and memory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tnviz.core.optimize import Optimize
from tnviz.core.plan.lower import Step
from tnviz.core.plan.model import INF, Problem
from tnviz.core.plan.search import Tree, left_to_right_tree, merges, reconstruct_tree, tree_cost, tree_path
from tnviz.tables import html_table

if TYPE_CHECKING:
    from tnviz.core.diagram import Diagram

__all__ = ["Plan", "approach_label", "live_elements"]


def live_elements(input_elements: int, steps: Sequence[Step]) -> list[tuple[int, int]]:
    """``(during, after)`` for each step: the elements alive while it runs (the inputs, the
    intermediates not yet consumed and its result) and once its operands are freed (an input
    is never freed: the caller holds it)."""
    live, alive, out = input_elements, {}, []
    for step in steps:
        live += step.size
        during = live
        for op in step.operands:
            live -= alive.pop(op, 0)
        alive[step.result] = step.size
        out.append((during, live))
    return out


class Plan:
    """An evaluation plan: the steps, their cost and the memory they need. It only reports;
    execution compiles it (``tnviz.execute``) and keeps the compiled program itself.

    Print it for a table in the spirit of opt_einsum's ``PathInfo``.

    Attributes:
        diagram: the bound Diagram it plans.
        steps: the :class:`Step` s in execution order.
        inputs: the activation tensors (see :func:`tnviz.core.inputs.default_inputs`).
        flops: total FLOPs (sums included).
        left_to_right_flops: FLOPs of plain left-to-right pairwise evaluation (computed on
            first use).
        reconstruct_flops: FLOPs of contracting the non-input tensors first, then applying
            them (computed on first use; None where that order is illegal).
        largest_intermediate: elements of the largest step result.
        peak_elements: peak elements alive (inputs included) during the schedule.
        itemsize: bytes per element used for the byte figures.
        approach: how the plan treats the non-input tensors: ``"factor by factor"``,
            ``"reconstruct"``, ``"mixed"`` or ``"direct"``.
        objective: what the search minimised: ``"time"`` (the default: FLOPs over
            efficiency plus memory traffic) or ``"flops"``.
        layout: the inputs' memory layout the plan was priced for (``"contiguous"`` or
            ``"channels_last"``).
        cost: the objective's value for this plan (FLOP-equivalents).
        input_cost: the objective's value of the steps that involve an input — the plan's cost
            when what depends on the parameters alone is served from a kernel cache (no
            gradient recorded).
        output_indices: flat index order of the final result before groups are merged.
    """

    def __init__(
        self,
        diagram: Diagram,
        steps: list[Step],
        final: tuple[int, tuple[str, ...]],
        problem: Problem,
        tree: Tree,
        optimize: Optimize,
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
        self.tree = tree
        self.objective = "time" if problem.by_time else "flops"
        self.layout = problem.layout
        self._problem: Problem | None = problem  # kept for the lazy comparisons, then dropped
        self._left_to_right: int | None = None
        self._reconstruct: int | None | str = "unknown"
        held = sum(1 << k for k in problem.inputs)
        cost = input_cost = 0.0
        for a, b in merges(tree):
            step = problem.step_cost(a, b)[1]
            cost += step
            input_cost += step if (a | b) & held else 0.0
        self.cost = cost + _unary_flops(steps)
        self.input_cost = input_cost + _unary_flops(steps)
        self.approach = approach_label(problem, tree)
        input_sizes = [math.prod(s for s in diagram.shape(t)) for t in diagram.tensor_names]  # type: ignore[misc]
        self.input_elements = sum(input_sizes)
        during = [d for d, _ in live_elements(self.input_elements, steps)]
        self.peak_elements = max([self.input_elements, *during])
        self.largest_intermediate = max([0] + [s.size for s in steps])

    # -- the comparisons, computed when first asked for -----------------------------
    def _release(self) -> None:
        if self._left_to_right is not None and self._reconstruct != "unknown":
            self._problem = None  # both known: the cost model's caches can go

    @property
    def left_to_right_flops(self) -> int:
        """FLOPs of plain left-to-right pairwise evaluation (same unary steps)."""
        if self._left_to_right is None:
            p = self._problem
            assert p is not None
            if p.n > 1:
                self._left_to_right = int(tree_cost(p, left_to_right_tree(range(p.n))) + _unary_flops(self.steps))
            else:
                self._left_to_right = self.flops
            self._release()
        return self._left_to_right

    @property
    def reconstruct_flops(self) -> int | None:
        """FLOPs of contracting the non-input tensors first (by the same search policy), then
        the inputs; None where a parameter is the signal of an input's kernel."""
        if self._reconstruct == "unknown":
            p = self._problem
            assert p is not None
            if p.n > 1:
                rebuilt = reconstruct_tree(p)
                cost = tree_cost(p, rebuilt) if rebuilt is not None else INF
                self._reconstruct = int(cost + _unary_flops(self.steps)) if cost < INF else None
            else:
                self._reconstruct = self.flops
            self._release()
        return self._reconstruct  # type: ignore[return-value]

    @property
    def peak_bytes(self) -> int:
        return self.peak_elements * self.itemsize

    @property
    def path(self) -> list[tuple[int, ...]]:
        """The pairwise steps as an opt_einsum path (positions in the shrinking list of operands):
        ``opt_einsum.contract_path(eq, *shapes, optimize=plan.path)`` follows this plan
        (``[(0,)]`` for one operand: opt_einsum's single contraction)."""
        n = len(self.diagram.tensors)
        return [(0,)] if n == 1 else tree_path(self.tree, n)  # type: ignore[list-item]

    # -- printing -------------------------------------------------------------
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
                    if d.operation == "pass":
                        continue
                    extra = ""
                    if d.operation == "correlate":
                        if d.pad != (0, 0):
                            extra += f" pad={d.pad[0]}" if d.pad[0] == d.pad[1] else f" pad={d.pad}"
                        if d.stride != 1:
                            extra += f" stride={d.stride}"
                        if d.dilation != 1:
                            extra += f" dil={d.dilation}"
                        if d.fold is not None:
                            extra += f" fold={d.fold[0]}{d.fold[1:]}"
                    parts.append(f"{d.index}{'*' if d.operation == 'correlate' else '(full)'}{extra}")
                ndim = len(step.conv)
                op = f"conv{ndim}d " + " ".join(parts)
                if step.groups:
                    op += f" groups={'·'.join(step.groups)}"
            elif step.kind == "sum":
                flat = step.operand_indices[0]
                repeated = [i for i in dict.fromkeys(flat) if flat.count(i) > 1]
                traces = [i for i in repeated if i in step.summed]
                parts = []
                if traces:
                    parts.append("trace " + " ".join(traces))
                if [i for i in repeated if i not in traces]:
                    parts.append("diagonal " + " ".join(i for i in repeated if i not in traces))
                if [i for i in step.summed if i not in traces]:
                    parts.append("sum " + " ".join(i for i in step.summed if i not in traces))
                op = ", ".join(parts)
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
        inputs = ", ".join(self.inputs) or "none"
        lines.append(
            f"  Approach:             {self.approach} (optimize={self.optimize!r}, objective={self.objective!r}, "
            f"inputs: {inputs}{', channels_last' if self.layout == 'channels_last' else ''})"
        )
        lines.append(f"  FLOPs:                {_human(self.flops)}{_exact(self.flops)}")
        if self.diagram.tensors and len(self.diagram.tensors) > 1:
            lines.append(
                f"  Left-to-right FLOPs:  {_human(self.left_to_right_flops)}  "
                f"({_ratio(self.left_to_right_flops, self.flops)} this plan)"
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
            f"  Peak memory:          {_human(self.peak_elements)} elements "
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
            f"<Plan {self.diagram.to_spec()!r}: {len(self.steps)} steps, {_human(self.flops)} FLOPs, {self.approach}>"
        )

    def _repr_html_(self) -> str:
        summary = (
            ("Spec", self.diagram.to_spec()),
            ("Approach", self.approach),
            ("FLOPs", f"{_human(self.flops)}{_exact(self.flops)}"),
            ("Left-to-right FLOPs", _human(self.left_to_right_flops)),
            ("Reconstruct FLOPs", "—" if self.reconstruct_flops is None else _human(self.reconstruct_flops)),
            ("Peak memory", f"{_human(self.peak_elements)} elements"),
        )
        columns = ("step", "operands", "operation", "result indices", "shape", "FLOPs")
        return html_table(None, summary, numeric=(False, False)) + html_table(columns, self._rows())


def _human(n: float) -> str:
    if isinstance(n, int) and n >= 10**15:  # exact to three digits, also beyond float's range
        digits = str(n)
        return f"{digits[0]}.{digits[1:3]}e{len(digits) - 1}"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}" if isinstance(n, float) and not float(n).is_integer() else str(int(n))


def _ratio(a: int, b: int) -> str:
    if not b:
        return "—"
    return f"{_human(a // b)}×" if a // b >= 10**6 else f"{a / b:.2f}×"


def _exact(n: int) -> str:
    """A count in full, where it is short enough to read."""
    return f"  ({n:,})" if n < 10**18 else ""


def _unary_flops(steps: Sequence[Step]) -> int:
    return sum(s.flops for s in steps if s.kind == "sum")


def approach_label(problem: Problem, tree: Tree) -> str:
    """How a tree treats the non-input tensors: ``"reconstruct"`` (all merged before any
    input), ``"factor by factor"`` (applied one at a time to the inputs), ``"mixed"``,
    ``"direct"`` (one parameter tensor) or ``"single tensor"``."""
    if isinstance(tree, int) or not problem.inputs:
        return "single tensor" if isinstance(tree, int) else "mixed"
    inputs = sum(1 << k for k in problem.inputs)
    kernels = problem.full & ~inputs
    if kernels & (kernels - 1) == 0:
        return "direct"  # one parameter tensor: nothing to reconstruct or factor
    if any(a | b == kernels for a, b in merges(tree)):
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
