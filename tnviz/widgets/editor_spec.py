"""The editor's drawing and a spec, both ways: the spec text of tensors, output and convolution
indices as drawn; the bound :class:`Diagram` with the drawing's sizes (a default where none is
set); and, for a Diagram read in, each tensor's canvas position from tnviz's layout and its
lengths split into signals' and kernels'. Plain Python (the layout from ``tnviz.render``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tnviz.core.conv_options import ConvOptions
from tnviz.core.diagram import Diagram
from tnviz.core.spec import modes_text
from tnviz.errors import TnvizError

__all__ = [
    "spec_text",
    "bound_diagram",
    "canvas_positions",
    "conv_lengths",
    "free_spot",
    "canvas_point",
    "CANVAS",
    "PIXELS_PER_UNIT",
    "DEFAULT_SIGNAL",
    "DEFAULT_KERNEL",
]

CANVAS = (560, 360)
#: canvas pixels per layout unit: the picture under the canvas is drawn at the canvas's positions
PIXELS_PER_UNIT = 70.0
DEFAULT_SIGNAL, DEFAULT_KERNEL = 16, 3


def spec_text(tensors: Sequence[dict], output: Sequence[Sequence[str]], output_name: str, conv: Sequence[str]) -> str:
    """The spec of a drawing's tensors (``{"name", "role", "modes"}``), output and convolution
    indices (raises TnvizError while there is no tensor)."""
    if not tensors:
        raise TnvizError("the canvas is empty: add a tensor", token="")
    # Inputs first: a convolution's signal is its first holder in the spec, and the signal is
    # the input (a parameter drawn before the input must not become the signal).
    ordered = [t for t in tensors if t["role"] == "input"] + [t for t in tensors if t["role"] != "input"]
    operands = ", ".join(f"{t['name']}: {modes_text(t['modes'])}".rstrip() for t in ordered)
    head = f"{output_name}: " if output_name else ""
    spec = f"{operands} -> {head}{modes_text(output)}".rstrip()
    if conv:
        spec += " | " + " ".join(conv)
    return spec


def bound_diagram(
    spec: str,
    options: Mapping[str, ConvOptions],
    sizes: Mapping[str, int],
    signal_sizes: Mapping[str, int],
    kernel_sizes: Mapping[str, int],
    default_size: int,
) -> Diagram:
    """``spec`` with the drawing's options and sizes bound: an index's own size or
    ``default_size``; a convolution's signal and kernel lengths, or 16 and 3."""
    parsed = Diagram.parse(spec)
    diagram = Diagram(parsed.spec, options={c: o for c, o in options.items() if c in parsed.conv})
    conv = set(diagram.conv)
    plain: dict[str, Any] = {i: sizes.get(i, default_size) for i in diagram.index_names if i not in conv}
    if not conv:
        return diagram.bind(plain)
    shapes = {}  # a convolution's lengths differ by holder: signal first, then kernels
    for name in diagram.tensor_names:
        shape = []
        for mode in diagram.tensor(name).modes:
            length = 1
            for i in mode:
                if i not in conv:
                    length *= plain[i]
                elif diagram.holders(i)[0] == name:
                    length *= signal_sizes.get(i, DEFAULT_SIGNAL)
                else:
                    length *= kernel_sizes.get(i, DEFAULT_KERNEL)
            shape.append(length)
        shapes[name] = tuple(shape)
    return diagram.bind(plain, shapes=shapes)


def canvas_positions(diagram: Diagram) -> list[tuple[float, float]]:
    """Each tensor's canvas position (pixels) from tnviz's layout, centred, in the picture's
    orientation, with a margin for legs and their labels (about 85 px) on every side."""
    from tnviz.render.layout import layout

    lay = layout(diagram)
    pts = [lay.positions[n] for n in diagram.tensor_names]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    span_x, span_y = max(max(xs) - min(xs), 1e-9), max(max(ys) - min(ys), 1e-9)
    scale = min((CANVAS[0] - 190) / span_x, (CANVAS[1] - 190) / span_y, PIXELS_PER_UNIT)
    # layout's y points up, the canvas's down
    return [(CANVAS[0] / 2 + scale * (x - cx), CANVAS[1] / 2 - scale * (y - cy)) for x, y in pts]


def conv_lengths(diagram: Diagram) -> tuple[dict[str, int], dict[str, int]]:
    """(signal lengths, kernel lengths) by convolution index, as the diagram binds them."""
    signal, kernel = {}, {}
    for (tensor, index), n in diagram.conv_sizes.items():
        (signal if tensor == diagram.holders(index)[0] else kernel)[index] = n
    return signal, kernel


def free_spot(taken: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The first spot of a grid over the canvas with no tensor near it (else the least crowded)."""
    spots = [(90.0 + 125 * i, 70.0 + 110 * j) for j in range(3) for i in range(4)]

    def crowd(p: tuple[float, float]) -> float:
        return min((math.hypot(p[0] - x, p[1] - y) for x, y in taken), default=1e9)

    return max(spots, key=lambda p: (min(crowd(p), 60.0), -spots.index(p)))


def canvas_point(x: Any, y: Any) -> tuple[float, float]:
    """``(x, y)`` in canvas pixels, each a finite number (else a TnvizError naming it)."""
    for what, value in (("x", x), ("y", y)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TnvizError(f"{what} must be a finite number of pixels, got {value!r}", token=what)
    return float(x), float(y)
