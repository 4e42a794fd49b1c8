"""Collisions in a drawing: what makes a diagram hard to read, counted on its Scene.

The kinds, each counted once per offending pair:

``edge_through_tensor``
    a line (edge, convolution edge, leg or stub) passing through a tensor circle it does not
    end at.
``edge_crossing_marker``
    a line passing through a black dot (hyperedge) or a ∗ marker (convolution) it does not
    end at.
``leg_along_edge``
    a line running along another one: an open leg or a stub nearly parallel to, and within a
    hair of, another line for a real length (also two edges of different indices overlapping).
``label_on_label``
    two label boxes overlapping.
``label_on_marker``
    a label box on a tensor circle, a black dot or a ∗ marker.
``label_on_line``
    a label box touching any line, its own included (or the bar ending a stub).

Everything is measured in layout units on the backend-neutral
:class:`~tnviz.render.scene.Scene`, with the label boxes the label placement itself uses, so
what is counted here is what every renderer draws.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.geometry import Grid, Point, close_samples, nearly_parallel, segment_distance
from tnviz.render.scene import (
    Line,
    Scene,
    Shape,
    _boxes_overlap,
    _circle_hits_box,
    _label_box,
    _line_box,
    _segment_hits_box,
    build_scene,
    make_style,
    stub_bars,
)
from tnviz.tables import html_table

__all__ = ["Collisions", "collisions", "KINDS"]

KINDS = (
    "edge_through_tensor",
    "edge_crossing_marker",
    "leg_along_edge",
    "label_on_label",
    "label_on_marker",
    "label_on_line",
)

CLEARANCE = 0.03  # a line closer than this to a circle's rim touches it (lines have a width)
ALONG_DISTANCE = 0.1  # two lines nearer than this ...
ALONG_ANGLE = math.radians(12)  # ... and within this angle of parallel ...
ALONG_LENGTH = 0.15  # ... for at least this length run along each other
TENSOR_KINDS = ("input", "parameter", "tensor")
MARKER_KINDS = ("dot", "conv")


@dataclass(frozen=True)
class Collisions:
    """Counts of collisions by kind (see :mod:`tnviz.render.collisions`) and what collides.

    Attributes:
        items: ``(kind, description)`` of every collision, e.g.
            ``("label_on_label", "label 'r=6' on label 't=50'")``.

    Example:
        >>> collisions(Diagram.parse("A: i r, B: j r, C: k r -> i j k")).total
        0
    """

    items: tuple[tuple[str, str], ...] = ()
    counts: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        counts = dict.fromkeys(KINDS, 0)
        for kind, _ in self.items:
            counts[kind] += 1
        object.__setattr__(self, "counts", counts)

    @property
    def total(self) -> int:
        return len(self.items)

    def __getattr__(self, name: str) -> int:
        if name in KINDS:
            return self.counts[name]
        raise AttributeError(name)

    def __str__(self) -> str:
        width = max(len(k) for k in KINDS)
        rows = [f"{kind:<{width}}  {self.counts[kind]:>4}" for kind in KINDS]
        rows.append(f"{'total':<{width}}  {self.total:>4}")
        rows += [f"  {kind}: {text}" for kind, text in self.items]
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        rows = [(kind, self.counts[kind]) for kind in KINDS] + [("total", self.total)]
        listed = "".join(f"<li>{html.escape(kind)}: {html.escape(text)}</li>" for kind, text in self.items)
        return html_table(("kind", "count"), rows) + (f"<ul>{listed}</ul>" if listed else "")


def collisions(scene_or_diagram: Scene | Diagram, text_scale: float = 1.0, **style: Any) -> Collisions:
    """Count the collisions in a drawing.

    Args:
        scene_or_diagram: a :class:`~tnviz.render.scene.Scene`, or a Diagram drawn with ``style``.
        text_scale: how much larger the text is drawn than the scene assumes, relative to the
            drawing (:func:`tnviz.render.mpl.drawn_text_scale` of an Axes): a panel drawn smaller
            with text of the same point size has labels larger against its lines and circles —
            what the user sees is counted.
        **style: options of :class:`~tnviz.render.scene.Style` (only with a Diagram).

    Returns:
        A :class:`Collisions`; ``print`` it for a table and the list of offenders.
    """
    if isinstance(scene_or_diagram, Diagram):
        scene = build_scene(scene_or_diagram, make_style(style))
    elif isinstance(scene_or_diagram, Scene):
        if style:
            raise TnvizError("style options apply to a Diagram, not to a Scene already built", token=sorted(style)[0])
        scene = scene_or_diagram
    else:
        raise TnvizError(
            f"collisions takes a Diagram or a Scene, got {type(scene_or_diagram).__name__}",
            token=type(scene_or_diagram).__name__,
        )
    return Collisions(tuple(_find(scene, text_scale)))


def _chain_ends(lines: list[Line]) -> list[frozenset[str]]:
    """For each line, the vertices it really ends at: through bends (``~`` vertices) to the
    tensors or junctions at the ends of the whole bent edge or loop."""
    at_bend: dict[str, list[int]] = {}
    for k, ln in enumerate(lines):
        for end in (ln.u, ln.v):
            if end is not None and end.startswith("~"):
                at_bend.setdefault(end, []).append(k)
    ends: list[frozenset[str]] = []
    for k in range(len(lines)):
        seen, stack, found = {k}, [k], set()
        while stack:
            cur = lines[stack.pop()]
            for end in (cur.u, cur.v):
                if end is None:
                    continue
                if not end.startswith("~"):
                    found.add(end)
                    continue
                for other in at_bend.get(end, ()):
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
        ends.append(frozenset(found))
    return ends


def _vertex_name(name: str, scene: Scene) -> str:
    if name.startswith("#"):
        index = name[1:]
        conv = any(s.name == name and s.kind == "conv" for s in scene.shapes)
        return f"∗{index}" if conv else f"•{index}"
    return name


def _shape_name(shape: Shape) -> str:
    if shape.kind == "conv":
        return f"∗ marker of {shape.name[1:]!r}"
    if shape.kind == "dot":
        return f"dot of {shape.name[1:]!r}"
    return f"tensor {shape.name!r}"


def _line_name(line: Line, ends: frozenset[str], scene: Scene) -> str:
    if line.kind in ("leg", "stub"):
        return f"{'leg' if line.kind == 'leg' else 'stub'} {line.index!r} of {_vertex_name(line.u, scene)}"
    names = sorted(_vertex_name(v, scene) for v in ends)
    joined = "–".join(names) if len(names) > 1 else (f"loop at {names[0]}" if names else "")
    return f"{'convolution ' if line.kind == 'conv' else ''}edge {line.index!r} ({joined})"


def _ends(line: Line) -> tuple[Point, Point]:
    return (line.x1, line.y1), (line.x2, line.y2)


ALONG_SAMPLES = tuple(k / 16 for k in range(17))  # points along a line, both ends included


def _runs_along(a: Line, b: Line) -> bool:
    """Does ``a`` run along ``b``: nearly parallel, and close for a real length?"""
    (a1, a2), (b1, b2) = _ends(a), _ends(b)
    if not nearly_parallel(a1, a2, b1, b2, math.sin(ALONG_ANGLE)):
        return False
    close = close_samples(a1, a2, b1, b2, ALONG_SAMPLES, ALONG_DISTANCE)
    length = math.hypot(a.x2 - a.x1, a.y2 - a.y1)
    return close > 1 and (close - 1) * length / (len(ALONG_SAMPLES) - 1) >= ALONG_LENGTH


def _scaled(box: tuple[float, float, float, float], scale: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, scale * (x1 - x0) / 2, scale * (y1 - y0) / 2
    return cx - hw, cy - hh, cx + hw, cy + hh


def _find(scene: Scene, text_scale: float = 1.0) -> Iterable[tuple[str, str]]:
    shapes = [s for s in scene.shapes if s.kind != "bend"]
    lines = list(scene.lines)
    ends = _chain_ends(lines)
    # Lines against shapes.
    shape_grid: Grid[int] = Grid()
    for k, s in enumerate(shapes):
        pad = s.radius + CLEARANCE
        shape_grid.add(k, (s.x - pad, s.y - pad, s.x + pad, s.y + pad))
    for k, ln in enumerate(lines):
        for j in sorted(shape_grid.near(_line_box(ln))):
            s = shapes[j]
            if s.name in ends[k] or (ln.kind in ("leg", "stub") and s.name == ln.u):
                continue
            if segment_distance((s.x, s.y), *_ends(ln)) < s.radius + CLEARANCE:
                kind = "edge_through_tensor" if s.kind in TENSOR_KINDS else "edge_crossing_marker"
                yield kind, f"{_line_name(ln, ends[k], scene)} through {_shape_name(s)}"
    # Lines along lines: a leg or stub along anything, or two edges of different indices.
    line_grid: Grid[int] = Grid()
    for k, ln in enumerate(lines):
        line_grid.add(k, _line_box(ln, ALONG_DISTANCE))
    for k, a in enumerate(lines):
        for j in sorted(line_grid.near(_line_box(a, ALONG_DISTANCE))):
            if j <= k:
                continue
            b = lines[j]
            legs = a.kind in ("leg", "stub") or b.kind in ("leg", "stub")
            if not legs and a.index == b.index:
                continue  # the lines of one bent edge, loop, diagonal or hyperedge
            if _runs_along(a, b) or _runs_along(b, a):
                yield "leg_along_edge", f"{_line_name(a, ends[k], scene)} along {_line_name(b, ends[j], scene)}"
    # Labels against labels, shapes and lines (the bars that end stubs too).
    boxes = [_scaled(_label_box(lb.x, lb.y, lb.text), text_scale) for lb in scene.labels]
    bars = stub_bars(scene)
    bar_owner = [ln for ln in lines if ln.kind == "stub"]
    label_grid: Grid[int] = Grid()
    for k, box in enumerate(boxes):
        label_grid.add(k, box)
    for k, box in enumerate(boxes):
        text = scene.labels[k].text
        for j in sorted(label_grid.near(box)):
            if j > k and _boxes_overlap(box, boxes[j]):
                yield "label_on_label", f"label {text!r} on label {scene.labels[j].text!r}"
        for j in sorted(shape_grid.near(box)):
            if _circle_hits_box(shapes[j], box):
                yield "label_on_marker", f"label {text!r} on {_shape_name(shapes[j])}"
    for k, ln in enumerate(lines):
        for j in sorted(label_grid.near(_line_box(ln))):
            if _segment_hits_box(ln, boxes[j]):
                yield "label_on_line", f"label {scene.labels[j].text!r} on {_line_name(ln, ends[k], scene)}"
    for bar, stub in zip(bars, bar_owner):
        for j in sorted(label_grid.near(_line_box(bar))):
            if _segment_hits_box(bar, boxes[j]):
                yield "label_on_line", f"label {scene.labels[j].text!r} on the end of stub {stub.index!r} of {stub.u}"
