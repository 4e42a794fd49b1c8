"""Slicing: a plan whose intermediates do not fit, run in pieces over some of its indices.

Cutting an index into equal chunks (cotengra's "slicing", which cuts into chunks of one) makes
every intermediate holding it that many times smaller; the contraction runs once per chunk (or
combination of chunks) and the pieces are summed (a summed index) or placed side by side (an
output index). The order of the steps is kept — the same tree, priced with the sliced indices at
their chunk's length — so the extra work is only what the steps not holding a sliced index
repeat. The indices are chosen greedily, as cotengra's ``SliceFinder`` does: each time, among the
largest intermediate's indices, the cut into the fewest pieces (a divisor of its length) that
fits, else the one leaving the least memory; fewer FLOPs in all break ties.

Only indices that are a mode of their own wherever they appear can be sliced (not a
convolution index, not inside a group ``( … )``, not repeated within one tensor).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tnviz.errors import TnvizError

if TYPE_CHECKING:
    from tnviz.core.diagram import Diagram
    from tnviz.core.plan.report import Plan

__all__ = ["SlicedPlan", "slice_plan", "MAX_SLICES"]

# More pieces than this is a run of hours: refused with the estimate instead.
MAX_SLICES = 2**20


class SlicedPlan:
    """A plan run in pieces: ``piece`` (the plan with each sliced index at its chunk's length) runs
    once per combination of chunks. Prints as the plan's table with the slicing above it.

    Attributes:
        diagram: the full bound Diagram.
        full: the unsliced :class:`Plan` (the same order of steps).
        piece: the :class:`Plan` of one piece.
        sliced: ``((index, pieces), …)``: each sliced index and the chunks it is cut into;
            ``slices`` the number of pieces in all.
        flops: FLOPs of all pieces; ``extra_flops`` what slicing adds to ``full.flops``.
        peak_elements: inputs, the output being assembled, and one piece's intermediates.

    Everything else (``inputs``, ``itemsize``, ``output_shape``, ``tree``, ``approach``, …) is the
    unsliced plan's.
    """

    def __init__(self, full: Plan, piece: Plan, sliced: tuple[tuple[str, int], ...]) -> None:
        self.full = full
        self.piece = piece
        self.diagram = full.diagram
        self.sliced = sliced
        self.slices = math.prod(p for _, p in sliced)
        self.flops = piece.flops * self.slices
        self.extra_flops = self.flops - full.flops
        self.steps = piece.steps
        self.largest_intermediate = piece.largest_intermediate
        output = math.prod(full.output_shape)
        self.peak_elements = full.input_elements + output + (piece.peak_elements - piece.input_elements)

    @property
    def peak_bytes(self) -> int:
        return self.peak_elements * self.itemsize

    def __getattr__(self, name: str) -> Any:
        """What the slicing leaves as it was — the order of steps (``tree``, ``path``), the
        ``approach``, the comparisons — is the unsliced plan's."""
        if name.startswith("__") or name == "full":
            raise AttributeError(name)
        return getattr(self.full, name)

    def __str__(self) -> str:
        sizes = ", ".join(f"{i} ({self.diagram.size(i)}) in {p} chunks" for i, p in self.sliced)
        ratio = self.flops / self.full.flops if self.full.flops else 1.0
        head = [
            f"  Sliced:               {sizes} ({self.slices:,} pieces, one after another)",
            f"  FLOPs, all pieces:    {self.flops:,} ({ratio:.2f}× unsliced, +{self.extra_flops:,})",
            f"  Peak memory:          {self.peak_elements:,} elements (unsliced {self.full.peak_elements:,})",
            "  One piece:",
        ]
        return "\n".join(head) + "\n" + str(self.piece)

    def __repr__(self) -> str:
        over = ", ".join(i for i, _ in self.sliced)
        return f"<SlicedPlan {self.diagram.to_spec()!r} over {over}: {self.slices:,} pieces>"

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def sliceable(diagram: Diagram) -> tuple[str, ...]:
    """Indices that can be sliced: a mode of their own wherever they appear, not convolution
    indices, not repeated within one tensor or the output, and longer than 1."""
    out = []
    conv = set(diagram.conv)
    for index in diagram.index_names:
        if index in conv or (diagram.size(index) or 0) < 2:
            continue
        ok = True
        for op in (*diagram.tensors, diagram.output):
            modes = [m for m in op.modes if index in m]
            if len(modes) > 1 or (modes and len(modes[0]) != 1):
                ok = False
                break
        if ok:
            out.append(index)
    return tuple(out)


def _chunked(diagram: Diagram, sliced: dict[str, int]) -> Diagram:
    """``diagram`` with each sliced index at its chunk's length."""
    sizes = {**diagram.sizes, **{i: int(diagram.size(i)) // p for i, p in sliced.items()}}  # type: ignore[arg-type]
    # a plan's diagram is a bound plain Diagram (a pending gradient binds into one first); its own
    # class builds the chunk, so that this module needs no import of diagram.py, which imports it
    return type(diagram)(diagram.spec, sizes, diagram.conv_sizes, diagram.options)


def _divisors(n: int) -> list[int]:
    """The divisors of ``n`` above 1, ascending (pairs up to √n: an index may be long)."""
    small = [d for d in range(2, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small), n}) if n > 1 else []


def _new_memory(plan: Plan) -> int:
    return plan.peak_elements - plan.input_elements


def slice_plan(plan: Plan, max_elements: int, make_plan: Any) -> SlicedPlan:
    """Slice ``plan`` until one piece's new memory plus the output is at most ``max_elements``.

    Args:
        plan: a plan of a bound diagram.
        max_elements: the elements the intermediates and the output may take.
        make_plan: ``make_plan(diagram, optimize=path, inputs=…, itemsize=…, objective=…,
            layout=…)`` (passed in: this module sits below the planner's entry point).

    Raises:
        TnvizError: the output alone does not fit, no index is left to slice, or more than
            ``MAX_SLICES`` pieces would be needed — with the estimate.
    """
    diagram = plan.diagram
    output = math.prod(plan.output_shape)
    spec = diagram.to_spec()
    if output > max_elements:
        raise TnvizError(
            f"the output alone has {output:,} elements, more than the {max_elements:,} the budget allows: "
            "slicing cannot help",
            token=spec,
        )
    path = plan.path
    options = dict(inputs=plan.inputs, itemsize=plan.itemsize, objective=plan.objective, layout=plan.layout)
    candidates = set(sliceable(diagram))
    sliced: dict[str, int] = {}
    piece = plan

    def fits(p: Plan) -> bool:
        return _new_memory(p) + output <= max_elements

    while not fits(piece):
        largest = max(piece.steps, key=lambda s: s.size, default=None)
        held = set(largest.indices) if largest is not None else set()
        options_here = sorted((candidates & held) or candidates)
        if not options_here:
            raise TnvizError(
                f"slicing {', '.join(sliced) or 'nothing'} leaves {_new_memory(piece) + output:,} elements, more than "
                f"{max_elements:,}, and no index is left to slice (convolution and grouped indices cannot be)",
                token=spec,
            )
        best: tuple[tuple[bool, float, float], str, int, Plan] | None = None
        for index in options_here:
            for pieces in _divisors(int(diagram.size(index))):  # type: ignore[arg-type]
                trial = make_plan(_chunked(diagram, {**sliced, index: pieces}), optimize=path, **options)
                if fits(trial) or pieces == diagram.size(index):
                    total = float(trial.flops) * math.prod([*sliced.values(), pieces])
                    # a cut that fits: the fewest FLOPs in all; none fits yet: the least memory left
                    memory = float(_new_memory(trial))
                    key = (False, total, memory) if fits(trial) else (True, memory, total)
                    if best is None or key < best[0]:
                        best = (key, index, pieces, trial)
                    break
        assert best is not None
        _, index, pieces, piece = best
        sliced[index] = pieces
        candidates.discard(index)
        slices = math.prod(sliced.values())
        if slices > MAX_SLICES:
            raise TnvizError(
                f"fitting the budget needs more than {MAX_SLICES:,} pieces (slicing {', '.join(sliced)}); "
                f"about {piece.flops * slices:.3g} FLOPs in all",
                token=spec,
            )
    return SlicedPlan(plan, piece, tuple(sliced.items()))
