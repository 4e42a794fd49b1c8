"""A plan played step by step: after each step, the network that is left — the tensors not yet
consumed and the intermediates made so far — as a Diagram to draw, with that step's cost and the
running totals. What :class:`tnviz.widgets.ContractionPlayer` shows; standard library only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.core.plan import Plan, Step
from tnviz.core.plan.report import live_elements
from tnviz.core.spec import Operand, Spec
from tnviz.errors import TnvizError

__all__ = ["Frame", "frames"]


@dataclass(frozen=True)
class Frame:
    """The network after ``done`` steps of a plan.

    Attributes:
        done: steps taken (0: the network as drawn).
        diagram: the tensors left — originals by their names, the intermediate of step k as
            ``T{k}`` — with the output of the whole network.
        members: for each tensor of ``diagram``, the original tensors merged into it.
        step: the step just taken (None in the first frame) and ``following`` the next one
            (None in the last).
        result: the name of the step's result in ``diagram`` (None in the first frame).
        following_operands: names in ``diagram`` of the next step's operands.
        flops_done: FLOPs of the steps taken so far.
        live_elements: elements alive now (inputs included, consumed intermediates freed).
        peak_elements: the most elements alive at any moment so far (while a step runs, its
            operands and its result are alive together).
    """

    done: int
    diagram: Diagram
    members: dict[str, tuple[str, ...]]
    step: Step | None
    following: Step | None
    result: str | None
    following_operands: tuple[str, ...]
    flops_done: int
    live_elements: int
    peak_elements: int


def frames(plan: Plan) -> list[Frame]:
    """Every frame of ``plan``, from the network as drawn to the output (``len(plan.steps) + 1``).
    A sliced plan (:class:`~tnviz.core.plan.slicing.SlicedPlan`) is played as its unsliced plan,
    whose steps each piece runs: its figures are the unsliced plan's.

    Example:
        >>> d = Diagram.parse("A: i j, B: j k, C: k l -> i l", sizes={"i": 2, "j": 3, "k": 4, "l": 5})
        >>> [f.diagram.to_spec(compact=False) for f in frames(d.plan(optimize="left-to-right"))]
        ['A: i j, B: j k, C: k l -> i l', 'T1: i k, C: k l -> i l', 'T2: i l -> i l']
    """
    if hasattr(plan, "full"):  # a sliced plan runs these steps once per piece: played unsliced
        plan = plan.full
    source = plan.diagram
    if source.has_ellipsis:
        raise TnvizError("bind the shapes first: '...' is expanded when planned", token="...")
    taken = set(source.tensor_names)
    names: dict[int, str] = dict(enumerate(source.tensor_names))
    operands: dict[int, Operand] = dict(enumerate(source.tensors))
    members: dict[int, tuple[str, ...]] = {k: (n,) for k, n in names.items()}
    live = live_elements(plan.input_elements, plan.steps)
    out = [_frame(plan, 0, operands, names, members, None, 0, plan.input_elements, plan.input_elements)]
    flops, peak = 0, plan.input_elements
    for k, step in enumerate(plan.steps, 1):
        name = _fresh(f"T{k}", taken)
        taken.add(name)
        names[step.result] = name
        members[step.result] = tuple(m for op in step.operands for m in members[op])
        operands = _merged(operands, step, Operand(name, tuple((i,) for i in step.indices)))
        flops += step.flops
        peak = max(peak, live[k - 1][0])
        out.append(_frame(plan, k, operands, names, members, step, flops, live[k - 1][1], peak))
    return out


def _merged(operands: dict[int, Operand], step: Step, result: Operand) -> dict[int, Operand]:
    """The operands after ``step``: its result where its first operand stood (so that a signal
    stays the first holder of its convolution index), its operands gone."""
    first = min(step.operands, key=list(operands).index)
    merged: dict[int, Operand] = {}
    for k, op in operands.items():
        if k == first:
            merged[step.result] = result
        elif k not in step.operands:
            merged[k] = op
    return merged


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _frame(
    plan: Plan,
    done: int,
    operands: dict[int, Operand],
    names: dict[int, str],
    members: dict[int, tuple[str, ...]],
    step: Step | None,
    flops: int,
    live: int,
    peak: int,
) -> Frame:
    source = plan.diagram
    ops = tuple(operands.values())
    held: dict[str, int] = {}
    for op in ops:
        for i in op.unique_indices:
            held[i] = held.get(i, 0) + 1
    # a convolution stays one while two tensors left hold it; then it has been convolved
    conv = tuple(c for c in source.conv if held.get(c, 0) >= 2)
    spec = Spec(ops, dataclasses.replace(source.output), conv)
    diagram = Diagram(spec, options={c: _frame_options(source.options[c], ops, c) for c in conv})
    diagram = _with_sizes(diagram, source, conv)
    following = plan.steps[done] if done < len(plan.steps) else None
    return Frame(
        done=done,
        diagram=diagram,
        members={names[k]: members[k] for k in operands},
        step=step,
        following=following,
        result=names[step.result] if step else None,
        following_operands=tuple(names[k] for k in following.operands) if following else (),
        flops_done=flops,
        live_elements=live,
        peak_elements=peak,
    )


def _frame_options(opts: Any, ops: tuple[Operand, ...], c: str) -> Any:
    """``opts`` for a frame: what names tensors (a kernel's own spacing, holders read backwards)
    kept for the tensors still standing; a merged one is drawn with the options alone."""
    holders = [op.name for op in ops if c in op.indices]
    spacing = tuple((t, d) for t, d in opts.kernel_dilation if t in holders[1:])
    flip = opts.flip if not isinstance(opts.flip, tuple) else tuple(t for t in opts.flip if t in holders) or False
    return dataclasses.replace(opts, kernel_dilation=spacing, flip=flip)


def _with_sizes(diagram: Diagram, source: Diagram, conv: tuple[str, ...]) -> Diagram:
    """The frame with the sizes of the indices no convolution changes bound (the labels show
    them); a convolution index keeps its name alone, its lengths differing by holder."""
    changed = set(source.conv)
    sizes = {i: n for i, n in source.sizes.items() if i not in changed and i in diagram.index_names}
    try:
        return diagram.bind(sizes) if sizes else diagram
    except TnvizError:  # a size the frame cannot take as it stands: draw the names alone
        return diagram
