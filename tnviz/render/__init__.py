"""Drawing Diagrams: graphviz (DOT, SVG/PNG/PDF), matplotlib and TikZ, over ``render.layout``.

Renderers return objects and never display anything by themselves.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.errors import TnvizError
from tnviz.render.collisions import Collisions, collisions
from tnviz.render.dot import IMAGE_FORMATS, graphviz_available, render_dot
from tnviz.render.dot import to_dot as _scene_to_dot
from tnviz.render.gradients import draw_gradients
from tnviz.render.panels import draw_many
from tnviz.render.plan_tree import draw_plan
from tnviz.render.rendering_lock import savefig
from tnviz.render.scene import build_scene, make_style
from tnviz.render.tikz import to_tikz as _scene_to_tikz

__all__ = [
    "draw_gradients",
    "draw_many",
    "draw_plan",
    "draw",
    "to_dot",
    "to_svg",
    "to_tikz",
    "save",
    "save_bytes",
    "notebook_svg",
    "collisions",
    "Collisions",
    "GraphvizDrawing",
    "BACKENDS",
]

BACKENDS = ("matplotlib", "graphviz", "tikz")


@dataclass(frozen=True)
class GraphvizDrawing:
    """A graphviz drawing: its DOT source; shows itself as SVG in a notebook."""

    dot: str

    def svg(self) -> str:
        return render_dot(self.dot, "svg").decode()

    def _repr_svg_(self) -> str:
        return self.svg()

    def save(self, path: str) -> None:
        fmt = os.path.splitext(path)[1].lstrip(".").lower()
        data = self.dot.encode() if fmt == "dot" else render_dot(self.dot, fmt)
        save_bytes(path, data)


def _scene(diagram: Diagram, style: dict[str, Any]):
    return build_scene(diagram, make_style(style))


def draw(diagram: Diagram, backend: str | None = None, **style: Any) -> Any:
    """Draw a diagram.

    Args:
        diagram: the Diagram.
        backend: ``"matplotlib"`` (default; returns a Figure that shows itself in a notebook,
            its Axes as ``.ax``; ``fig, ax = draw(...)`` unpacks too; with ``ax=`` it draws
            into that Axes and returns ``ax.figure``), ``"graphviz"`` (returns a
            :class:`GraphvizDrawing`) or ``"tikz"`` (returns the LaTeX source).
        **style: options of :class:`~tnviz.render.scene.Style`: ``labels``, ``sizes``,
            ``edge_width`` (``"log"``/``"fixed"``), ``title``, ``plan``, ``inputs``, ``pinned``;
            with matplotlib also ``ax`` and ``extent`` (``(x0, y0, x1, y1)``: the part of the
            plane to frame, so that several pictures share one scale).

    Returns:
        The backend's object.

    Example:
        >>> fig = draw(Diagram.parse("ij,jk->ik"), title="matrix product")
        >>> len(fig.ax.patches)  # two tensors
        2
    """
    backend = backend or "matplotlib"
    if backend not in BACKENDS:
        raise TnvizError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}", token=backend)
    ax, extent = style.pop("ax", None), style.pop("extent", None)
    scene = _scene(diagram, style)
    if backend == "matplotlib":
        from tnviz.render.mpl import draw_matplotlib

        return draw_matplotlib(scene, ax=ax, extent=extent)
    if backend == "graphviz":
        return GraphvizDrawing(_scene_to_dot(scene))
    return _scene_to_tikz(scene)


def to_dot(diagram: Diagram, **style: Any) -> str:
    """The DOT source (works without graphviz installed)."""
    return _scene_to_dot(_scene(diagram, style))


def to_tikz(diagram: Diagram, **style: Any) -> str:
    """A standalone LaTeX document drawing the diagram with TikZ."""
    return _scene_to_tikz(_scene(diagram, style))


def to_svg(diagram: Diagram, backend: str | None = None, **style: Any) -> str:
    """SVG text: through graphviz when its binary is present (or ``backend="graphviz"``),
    else matplotlib."""
    if backend is None:
        backend = "graphviz" if graphviz_available() else "matplotlib"
    if backend == "graphviz":
        return render_dot(to_dot(diagram, **style), "svg").decode()
    if backend != "matplotlib":
        raise TnvizError(f"SVG comes from 'graphviz' or 'matplotlib', not {backend!r}", token=backend)
    fig = draw(diagram, "matplotlib", **style)
    buffer = io.StringIO()
    savefig(fig, buffer, format="svg")
    return buffer.getvalue()


def save(diagram: Diagram, path: str, **style: Any) -> None:
    """Write a drawing, or the diagram itself; the format comes from the extension: svg, png,
    pdf, tex, dot — or json (the diagram, versioned; ``Diagram.load`` reads it back).

    svg/png/pdf use graphviz when present, else matplotlib.
    """
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt == "json":
        save_bytes(path, (diagram.to_json(indent=2) + "\n").encode())
    elif fmt == "dot":
        save_bytes(path, to_dot(diagram, **style).encode())
    elif fmt == "tex":
        save_bytes(path, to_tikz(diagram, **style).encode())
    elif fmt in IMAGE_FORMATS:
        if graphviz_available():
            save_bytes(path, render_dot(to_dot(diagram, **style), fmt))
        else:
            fig = draw(diagram, "matplotlib", **style)
            buffer = io.BytesIO()
            savefig(fig, buffer, format=fmt, dpi=150)
            save_bytes(path, buffer.getvalue())
    else:
        raise TnvizError(f"unknown file type {fmt!r}; expected json, svg, png, pdf, tex or dot", token=fmt or path)


_warned = False


def notebook_svg(diagram: Diagram) -> str:
    """What a notebook shows for a Diagram: graphviz SVG, or matplotlib's with one warning."""
    global _warned
    if graphviz_available():
        try:
            return to_svg(diagram, "graphviz")
        except TnvizError as err:
            reason = str(err)
    else:
        reason = "graphviz's 'neato' binary is not on PATH"
    if not _warned:
        warnings.warn(f"tnviz: {reason}; drawing with matplotlib instead", stacklevel=3)
        _warned = True
    return to_svg(diagram, "matplotlib")


def save_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader never sees half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
