"""Matplotlib renderer: returns a Figure that a notebook displays, and never shows it by itself."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from matplotlib.figure import Figure

from tnviz.render.rendering_lock import savefig
from tnviz.render.scene import COLORS, Scene

__all__ = ["draw_matplotlib", "DiagramFigure", "drawn_text_scale", "natural_size"]


INCHES_PER_UNIT = 0.85  # the scale the scene's label boxes assume (LABEL_CHAR: 9 pt text at ~60 pt per unit)
MAX_INCHES = 12.0
LABEL_POINTS, TENSOR_POINTS, TITLE_POINTS = 8.0, 10.0, 11.0


class DiagramFigure(Figure):
    """A matplotlib Figure holding one diagram; ``.ax`` is its Axes.

    It is made without pyplot, so nothing shows it behind the user's back; as the last
    expression of a notebook cell it shows itself as a PNG. ``fig, ax = d.draw()`` still
    unpacks, as it did when drawing returned a tuple.

    ``.ax`` is the Axes the diagram was drawn into (or one assigned); in a figure made by hand
    with several Axes (``DiagramFigure(...).subplots(1, 4)``, a diagram drawn into each with
    ``draw(ax=...)``) it is the first of ``fig.axes``, and None while there is none.
    """

    _ax: Any = None

    @property
    def ax(self) -> Any:
        """The diagram's Axes: the one assigned, else the figure's first (None without any)."""
        if self._ax is not None:
            return self._ax
        return self.axes[0] if self.axes else None

    @ax.setter
    def ax(self, value: Any) -> None:
        self._ax = value

    def __iter__(self) -> Iterator[Any]:
        return iter((self, self.ax))

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        savefig(self, buffer, format="png", dpi=100)
        return buffer.getvalue()


def draw_matplotlib(scene: Scene, ax: Any = None, extent: tuple[float, float, float, float] | None = None) -> Figure:
    """Draw a scene with matplotlib.

    Args:
        scene: from :func:`tnviz.render.scene.build_scene`.
        ax: an existing Axes to draw into, or None for a new figure.
        extent: ``(x0, y0, x1, y1)``, the part of the plane to frame instead of the scene's own
            bounds: pictures of a sequence keep one size and one scale, text included.

    Returns:
        The Figure: a new :class:`DiagramFigure` (its Axes is ``.ax``), or ``ax.figure``.
    """
    from matplotlib.patches import Circle

    x0, y0, x1, y1 = bounds = _framed(scene, extent)
    if ax is None:
        w, h = _inches(bounds)
        scale = min(1.0, MAX_INCHES / max(w, h))
        fig = DiagramFigure(figsize=(max(1.5, w * scale), max(1.2, h * scale)))  # no pyplot: nothing is shown
        ax = fig.ax = fig.add_axes((0, 0, 1, 1))
    else:
        fig = ax.figure
    # Text shrinks with the drawing (never grows): drawn smaller than its natural size, a diagram
    # keeps the room the label placement measured around each label.
    text = min(1.0, _points_per_unit(ax, bounds) / (INCHES_PER_UNIT * 72))
    for ln in scene.lines:
        color = COLORS["conv"] if ln.kind == "conv" else COLORS["edge"]
        ax.plot([ln.x1, ln.x2], [ln.y1, ln.y2], color=color, linewidth=ln.width, solid_capstyle="butt", zorder=1)
    for x, y, dx, dy in scene.stub_ends:  # a short bar across the end of a summed leg
        ax.plot([x - dy * 0.08, x + dy * 0.08], [y + dx * 0.08, y - dx * 0.08], color=COLORS["edge"], linewidth=1.6)
    for s in scene.shapes:
        if s.kind == "bend":
            continue
        if s.kind == "dot":
            ax.add_patch(Circle((s.x, s.y), s.radius, color=COLORS["dot"], zorder=3))
        elif s.kind == "conv":
            ax.add_patch(
                Circle((s.x, s.y), s.radius, facecolor="white", edgecolor=COLORS["conv"], linewidth=1.5, zorder=3)
            )
            size = 13 if len(s.text) == 1 else 8
            ax.text(
                s.x, s.y - 0.01, s.text, ha="center", va="center", color=COLORS["conv"], fontsize=size * text, zorder=4
            )
        else:
            ax.add_patch(
                Circle((s.x, s.y), s.radius, facecolor=COLORS[s.kind], edgecolor="#333333", linewidth=1.2, zorder=3)
            )
            ax.text(s.x, s.y, s.text, ha="center", va="center", fontsize=TENSOR_POINTS * text, zorder=4)
    for lb in scene.labels:
        color = COLORS["step"] if lb.kind == "step" else COLORS["label"]
        ax.text(lb.x, lb.y, lb.text, ha="center", va="center", fontsize=LABEL_POINTS * text, color=color, zorder=5)
    if scene.title:
        ax.text(
            (x0 + x1) / 2, y1 - 0.2, scene.title, ha="center", va="center", fontsize=TITLE_POINTS * text, weight="bold"
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def natural_size(scene: Scene) -> tuple[float, float]:
    """The inches a scene takes at the scale its label boxes were measured for."""
    return _inches(scene.bounds())


def _inches(bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    x0, y0, x1, y1 = bounds
    return (x1 - x0) * INCHES_PER_UNIT, (y1 - y0) * INCHES_PER_UNIT


def _framed(scene: Scene, extent: tuple[float, float, float, float] | None) -> tuple[float, float, float, float]:
    return scene.bounds() if extent is None else extent


def _points_per_unit(ax: Any, bounds: tuple[float, float, float, float]) -> float:
    """Points per layout unit once ``bounds`` fill ``ax`` (equal aspect: the tighter direction)."""
    x0, y0, x1, y1 = bounds
    box = ax.get_position()
    width, height = ax.figure.get_size_inches()
    return min(box.width * width * 72 / max(x1 - x0, 1e-9), box.height * height * 72 / max(y1 - y0, 1e-9))


def drawn_text_scale(ax: Any, scene: Scene) -> float:
    """How large the labels drawn in ``ax`` are against the drawing, relative to what the scene's
    label boxes assume (1: as measured; 2: twice as large, so boxes that just clear would overlap)
    — for :func:`tnviz.render.collisions.collisions` to count what the user sees."""
    sizes = [t.get_fontsize() for t in ax.texts if t.get_text() in {lb.text for lb in scene.labels}]
    drawn = max(sizes) if sizes else LABEL_POINTS
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return (drawn / LABEL_POINTS) * (INCHES_PER_UNIT * 72) / _points_per_unit(ax, (x0, y0, x1, y1))
