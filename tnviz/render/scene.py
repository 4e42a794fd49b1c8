"""A backend-neutral picture of a Diagram: shapes, lines and labels in layout units.

Every renderer (graphviz, matplotlib, TikZ) draws this same scene, so the three agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.clearance import CONV_RADIUS, DOT_RADIUS, LEG_LENGTH, TENSOR_RADIUS
from tnviz.render.geometry import Grid
from tnviz.render.layout import Layout, drawn_inputs, layout

__all__ = ["Style", "Scene", "Shape", "Line", "Label", "build_scene"]

# The paper's figures: inputs and parameters in two soft colours, convolution in red.
COLORS = {
    "input": "#9ecae1",
    "parameter": "#fdd49e",
    "tensor": "#e5e5e5",
    "edge": "#333333",
    "conv": "#d62728",
    "upstream": "#a1d99b",  # the loss's gradient G in a gradient diagram
    "dot": "#000000",
    "label": "#222222",
    "step": "#2ca02c",
}


@dataclass(frozen=True)
class Style:
    """How to draw a diagram.

    Attributes:
        labels: show index labels (``index=size`` when sizes are bound).
        sizes: add ``=size`` to labels where known.
        edge_width: ``"log"`` scales line width with log(size); ``"fixed"`` keeps one width.
        title: a title above the picture, or None.
        plan: a :class:`~tnviz.core.plan.Plan` whose step numbers are overlaid on the
            indices each step sums, or None.
        inputs: tensors drawn as inputs, a name or a sequence of names (None: ``X``, or the
            first tensor of a convolving diagram; ``()``: none).
        pinned: ``{vertex: (x, y)}`` positions to keep.
        highlight: tensors drawn in green, as the upstream gradient ``G`` of a gradient diagram.
    """

    labels: bool = True
    sizes: bool = True
    edge_width: str = "log"
    title: str | None = None
    plan: Any = None
    inputs: Sequence[str] | None = None
    highlight: Sequence[str] | None = None
    pinned: Mapping[str, tuple[float, float]] | None = None


STYLE_KEYS = tuple(Style.__dataclass_fields__)


def make_style(style: Mapping[str, Any]) -> Style:
    unknown = set(style) - set(STYLE_KEYS)
    if unknown:
        bad = sorted(unknown)[0]
        raise TnvizError(f"unknown style option {bad!r}; expected one of {', '.join(STYLE_KEYS)}", token=bad)
    if style.get("edge_width", "log") not in ("log", "fixed"):
        raise TnvizError(f"edge_width must be 'log' or 'fixed', got {style['edge_width']!r}", token="edge_width")
    return Style(**style)


@dataclass(frozen=True)
class Shape:
    """A tensor circle, a black dot (hyperedge / partial outer product) or a ∗ marker (convolution)."""

    name: str
    kind: str  # "input", "parameter", "tensor", "dot", "conv", "bend"
    x: float
    y: float
    radius: float
    text: str


@dataclass(frozen=True)
class Line:
    """A line: between vertices ``u`` and ``v`` (edge, conv) or from ``u`` outwards (leg, stub)."""

    x1: float
    y1: float
    x2: float
    y2: float
    kind: str  # "edge", "conv", "leg", "stub"
    width: float
    index: str
    text: str  # its label, "" when labels are off
    u: str
    v: str | None = None
    step: int | None = None  # the plan step that sums this index


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    kind: str  # "index", "step", "title"


@dataclass
class Scene:
    layout: Layout
    shapes: list[Shape] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    stub_ends: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, dx, dy
    title: str | None = None

    def bounds(self) -> tuple[float, float, float, float]:
        xs = [s.x for s in self.shapes] + [v for ln in self.lines for v in (ln.x1, ln.x2)]
        ys = [s.y for s in self.shapes] + [v for ln in self.lines for v in (ln.y1, ln.y2)]
        xs += [lb.x for lb in self.labels]
        ys += [lb.y for lb in self.labels]
        margin = 0.45
        return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin + (0.4 if self.title else 0)


def _marker(diagram: Diagram, index: str) -> str:
    """A convolution's marker: ∗ (correlation, PyTorch's convolution), ⊛ with flipped kernels
    (a true convolution; holders named by ``flip`` are marked "rev" on their edges instead),
    then ↑u when the signal is upsampled; "" for a hyperedge's dot."""
    if index not in diagram.conv:
        return ""
    opts = diagram.options[index]
    return ("⊛" if opts.flip is True else "∗") + (f"↑{opts.upsample}" if opts.upsample > 1 else "")


def _spacing_text(diagram: Diagram, index: str, tensor: str | None) -> str:
    """ " dil d" on a kernel's convolution edge whose taps are d > 1 apart (``dilation`` or its own
    ``kernel_dilation``); the signal's edge and plain kernels carry nothing."""
    if index not in diagram.conv or tensor is None or diagram.holders(index)[0] == tensor:
        return ""
    spacing = diagram.options[index].dilation_of(tensor)
    return f" dil {spacing}" if spacing > 1 else ""


def _reversed_text(diagram: Diagram, index: str, tensor: str | None) -> str:
    """ " rev" on a holder's convolution edge when ``flip`` names it (read backwards along it)."""
    if index not in diagram.conv or tensor is None:
        return ""
    flip = diagram.options[index].flip
    return " rev" if isinstance(flip, tuple) and tensor in flip else ""


def _fold_text(diagram: Diagram, index: str) -> str:
    """ " fold reflect 2,1" on a convolution's output leg when the output folds a padding back
    (:attr:`ConvOptions.fold`, the adjoint of that padding in a signal's gradient)."""
    fold = diagram.options[index].fold if index in diagram.conv else None
    return f" fold {fold[0]} {fold[1]},{fold[2]}" if fold is not None else ""


def _size_text(diagram: Diagram, index: str, tensor: str | None) -> str:
    size = diagram.size(index, tensor) if index in diagram.conv and tensor else diagram.size(index)
    return f"={size}" if size is not None else ""


def _trim(x1: float, y1: float, x2: float, y2: float, r1: float, r2: float) -> tuple[float, float, float, float]:
    """Shorten a segment so it starts and ends on the two circles' rims."""
    dx, dy = x2 - x1, y2 - y1
    d = math.hypot(dx, dy) or 1e-9
    ux, uy = dx / d, dy / d
    return x1 + ux * r1, y1 + uy * r1, x2 - ux * r2, y2 - uy * r2


def _width(diagram: Diagram, index: str, style: Style) -> float:
    if style.edge_width == "fixed":
        return 1.4
    size = diagram.size(index)
    return 1.0 + 0.45 * math.log2(size) if size and size > 1 else 1.0


def build_scene(diagram: Diagram, style: Style) -> Scene:
    """Lay out ``diagram`` and turn it into shapes, lines and labels."""
    inputs = drawn_inputs(diagram, style.inputs)
    lay = layout(diagram, pinned=style.pinned, inputs=inputs)
    scene = Scene(lay, title=style.title)
    radius: dict[str, float] = {}
    for v, (x, y) in lay.positions.items():
        if v.startswith("~"):  # a bend in an edge: nothing to draw, lines meet there
            r = 0.0
            scene.shapes.append(Shape(v, "bend", x, y, r, ""))
        elif v in lay.junctions:
            index = lay.junctions[v]
            is_conv = index in diagram.conv
            r = CONV_RADIUS if is_conv else DOT_RADIUS
            scene.shapes.append(Shape(v, "conv" if is_conv else "dot", x, y, r, _marker(diagram, index)))
        else:
            kind = "input" if v in inputs else ("parameter" if inputs else "tensor")
            if style.highlight and v in style.highlight:
                kind = "upstream"
            r = TENSOR_RADIUS
            scene.shapes.append(Shape(v, kind, x, y, r, v))
        radius[v] = r
    steps = _step_numbers(style.plan)
    requests: list[tuple[Line, str, str]] = []  # (line, text, kind) of each label to place
    drawn: dict[tuple[str, str, str], int] = {}
    for u, v, index in lay.edges:
        (x1, y1), (x2, y2) = lay.positions[u], lay.positions[v]
        again = drawn.get((u, v, index), 0)
        drawn[(u, v, index)] = again + 1
        if again:
            # A further line of a diagonal: bowed out through a bend, beside the first,
            # alternately to either side and further out each time.
            length = math.hypot(x2 - x1, y2 - y1) or 1.0
            bow = 0.22 * ((again + 1) // 2) * (1 if again % 2 else -1)
            mx, my = (x1 + x2) / 2 - (y2 - y1) / length * bow, (y1 + y2) / 2 + (x2 - x1) / length * bow
            bend = f"~{index}:{u}:diagonal{again}"
            scene.shapes.append(Shape(bend, "bend", mx, my, 0.0, ""))
            radius[bend] = 0.0
            for a, b, (ax, ay), (bx, by) in ((u, bend, (x1, y1), (mx, my)), (bend, v, (mx, my), (x2, y2))):
                seg = _trim(ax, ay, bx, by, radius[a], radius[b])
                scene.lines.append(Line(*seg, "edge", _width(diagram, index, style), index, "", a, b, None))
            continue
        seg = _trim(x1, y1, x2, y2, radius[u], radius[v])
        kind = "conv" if index in diagram.conv else "edge"
        tensor = u if not u.startswith("#") else (v if not v.startswith("#") else None)
        text = (index + (_size_text(diagram, index, tensor) if style.sizes else "")) if style.labels else ""
        text += (_spacing_text(diagram, index, tensor) + _reversed_text(diagram, index, tensor)) if text else ""
        if u.startswith("~"):
            text = ""  # a bent edge is labelled once, on its first segment
        line = Line(*seg, kind, _width(diagram, index, style), index, text, u, v, steps.get(index))
        scene.lines.append(line)
    for leg in lay.legs:
        x, y = lay.positions[leg.node]
        dx, dy = leg.direction
        if leg.kind == "loop":
            _add_loop(scene, diagram, style, leg, x, y, radius[leg.node], steps.get(leg.index))
            continue
        length = LEG_LENGTH if leg.kind == "open" else LEG_LENGTH * 0.55
        start = (x + dx * radius[leg.node], y + dy * radius[leg.node])
        end = (x + dx * (radius[leg.node] + length), y + dy * (radius[leg.node] + length))
        kind = "leg" if leg.kind == "open" else "stub"
        tensor = None if leg.node.startswith("#") or leg.kind == "open" else leg.node
        text = (leg.index + (_size_text(diagram, leg.index, tensor) if style.sizes else "")) if style.labels else ""
        text += _fold_text(diagram, leg.index) if text and leg.kind == "open" else ""
        width = _width(diagram, leg.index, style)
        scene.lines.append(Line(*start, *end, kind, width, leg.index, text, leg.node, None, steps.get(leg.index)))
        if leg.kind == "stub":
            scene.stub_ends.append((end[0], end[1], dx, dy))
    if style.labels:
        # Legs first (their labels have the least room), then edges; steps last.
        for line in sorted(scene.lines, key=lambda ln: ln.kind not in ("leg", "stub")):
            requests.append((line, line.text, "index"))
        requests += [(ln, f"[{ln.step}]", "step") for ln in scene.lines if ln.step is not None]
        scene.labels.extend(_place_labels(scene, requests))
    return scene


LOOP_RADIUS = 0.22
LOOP_SEGMENTS = 16


def _add_loop(scene: Scene, diagram: Diagram, style: Style, leg: Any, x: float, y: float, r: float, step) -> None:
    """A trace: a circle of bends hanging off the tensor along the leg's direction, drawn as
    plain segments so that every painter (graphviz, matplotlib, TikZ) draws it alike."""
    dx, dy = leg.direction
    cx, cy = x + dx * (r + LOOP_RADIUS * 0.8), y + dy * (r + LOOP_RADIUS * 0.8)
    start = math.atan2(y - cy, x - cx)
    names = [leg.node]
    points = [(x + dx * r, y + dy * r)]
    for k in range(1, LOOP_SEGMENTS):
        angle = start + 2 * math.pi * k / LOOP_SEGMENTS
        name = f"~{leg.index}:loop{k}"
        px, py = cx + LOOP_RADIUS * math.cos(angle), cy + LOOP_RADIUS * math.sin(angle)
        scene.shapes.append(Shape(name, "bend", px, py, 0.0, ""))
        names.append(name)
        points.append((px, py))
    names.append(leg.node)
    points.append(points[0])
    text = leg.index if style.labels else ""
    width = _width(diagram, leg.index, style)
    far = len(points) // 2
    for k in range(len(points) - 1):
        label = text if k == far else ""  # labelled once, at the far side of the loop
        (ax, ay), (bx, by) = points[k], points[k + 1]
        scene.lines.append(
            Line(ax, ay, bx, by, "edge", width, leg.index, label, names[k], names[k + 1], step if label else None)
        )


LABEL_CHAR = 0.09  # width of one label character, in layout units (9 pt text at 60 pt per unit)
LABEL_HEIGHT = 0.2


def _label_box(x: float, y: float, text: str) -> tuple[float, float, float, float]:
    w = LABEL_CHAR * len(text) + 0.04
    return x - w / 2, y - LABEL_HEIGHT / 2, x + w / 2, y + LABEL_HEIGHT / 2


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _segment_hits_box(line: Line, box: tuple[float, float, float, float]) -> bool:
    """Liang-Barsky clipping: does the segment cross the box?"""
    x0, y0, dx, dy = line.x1, line.y1, line.x2 - line.x1, line.y2 - line.y1
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _circle_hits_box(shape: Shape, box: tuple[float, float, float, float]) -> bool:
    cx = min(max(shape.x, box[0]), box[2])
    cy = min(max(shape.y, box[1]), box[3])
    return (cx - shape.x) ** 2 + (cy - shape.y) ** 2 < (shape.radius + 0.04) ** 2


def _candidates(line: Line, text: str, kind: str) -> list[tuple[float, float]]:
    """Spots for a label, best first: a leg's beyond its end (then beside its outer part), an
    edge's beside its middle, then further along and further out."""
    w = LABEL_CHAR * len(text) + 0.04
    dx, dy = line.x2 - line.x1, line.y2 - line.y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux
    across = 0.5 * (abs(nx) * w + abs(ny) * LABEL_HEIGHT) + 0.05
    along = 0.5 * (abs(ux) * w + abs(uy) * LABEL_HEIGHT) + 0.06
    points = []
    if line.kind in ("leg", "stub") and kind == "index":
        for extra in (0.0, 0.1, 0.2, 0.32):
            ex, ey = line.x2 + ux * (along + extra), line.y2 + uy * (along + extra)
            points += [(ex, ey)] + [(ex + nx * k * 0.12, ey + ny * k * 0.12) for k in (1, -1, 2, -2, 3, -3)]
        for t in (0.85, 0.65, 1.0):
            for side in (1, -1):
                points.append((line.x1 + dx * t + side * nx * across, line.y1 + dy * t + side * ny * across))
        return points
    sides = (1, -1) if kind == "index" else (-1, 1)
    for gap in (across, across + 0.12, across + 0.24, across + 0.36):
        for t in (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.12, 0.88):
            for side in sides:
                points.append((line.x1 + dx * t + side * nx * gap, line.y1 + dy * t + side * ny * gap))
    return points


def _line_box(line: Line, pad: float = 0.0) -> tuple[float, float, float, float]:
    return (
        min(line.x1, line.x2) - pad,
        min(line.y1, line.y2) - pad,
        max(line.x1, line.x2) + pad,
        max(line.y1, line.y2) + pad,
    )


STUB_BAR = 0.08  # half the bar across a stub's end, as the renderers draw it


def stub_bars(scene: Scene) -> list[Line]:
    """The bars that end the stubs, as lines (they are drawn, so labels keep off them)."""
    return [
        Line(x - dy * STUB_BAR, y + dx * STUB_BAR, x + dy * STUB_BAR, y - dx * STUB_BAR, "bar", 1.0, "", "", "")
        for x, y, dx, dy in scene.stub_ends
    ]


def _place_labels(scene: Scene, requests: list[tuple[Line, str, str]]) -> list[Label]:
    """Greedy placement: each label takes the first candidate spot that meets no shape, no
    line (its own included) and no label already placed (else the spot with the fewest
    collisions)."""
    grid: Grid[int] = Grid()
    items: list[tuple[str, Any, tuple[float, float, float, float]]] = []  # (what, item, its box)
    for s in scene.shapes:
        if s.kind != "bend":
            r = s.radius + 0.04
            items.append(("shape", s, (s.x - r, s.y - r, s.x + r, s.y + r)))
    for ln in list(scene.lines) + stub_bars(scene):
        items.append(("line", ln, _line_box(ln)))
    for k, (_, _, box) in enumerate(items):
        grid.add(k, box)
    labels = []
    for line, text, kind in requests:
        if not text:
            continue
        best, best_hits = None, None
        for x, y in _candidates(line, text, kind):
            box = _label_box(x, y, text)
            hits = 0
            for k in grid.near(box):
                what, item, near = items[k]
                if not _boxes_overlap(box, near):
                    continue
                if what == "shape":
                    hits += _circle_hits_box(item, box)
                elif what == "line":
                    hits += _segment_hits_box(item, box)
                else:
                    hits += 1
                if best_hits is not None and hits >= best_hits:
                    break
            if best_hits is None or hits < best_hits:
                best, best_hits = (x, y), hits
            if hits == 0:
                break
        assert best is not None
        box = _label_box(*best, text)
        items.append(("label", None, box))
        grid.add(len(items) - 1, box)
        labels.append(Label(best[0], best[1], text, kind))
    return labels


def _step_numbers(plan: Any) -> dict[str, int]:
    """``{index: step number}`` for the step in which each index is summed away."""
    if plan is None:
        return {}
    numbers: dict[str, int] = {}
    for k, step in enumerate(plan.steps, 1):
        for index in step.summed:
            numbers.setdefault(index, k)
    return numbers
