"""Plane geometry shared by the layout (:mod:`tnviz.render.layout`) and what checks a drawing
(:mod:`tnviz.render.scene`, :mod:`tnviz.render.collisions`): distances to segments, nearly
parallel segments, and a grid of cells that finds what lies near a box. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["Point", "Box", "FAR_CELLS", "segment_distance", "nearly_parallel", "close_samples", "Grid"]

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
FAR_CELLS = 4096  # a box over more grid cells than this is kept in one list

T = TypeVar("T", bound=Hashable)


def segment_distance(point: Point, a: Point, b: Point) -> float:
    """Distance from a point to the segment a-b (to ``a`` where the segment is a point).

    Example:
        >>> segment_distance((1.0, 1.0), (0.0, 0.0), (2.0, 0.0))
        1.0
    """
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy or 1e-12
    t = max(0.0, min(1.0, ((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / length2))
    return math.sqrt((point[0] - a[0] - t * dx) ** 2 + (point[1] - a[1] - t * dy) ** 2)


def nearly_parallel(p1: Point, p2: Point, q1: Point, q2: Point, sin_angle: float) -> bool:
    """Are segments p1-p2 and q1-q2 (neither of length under 1e-9) within the angle whose sine
    is ``sin_angle`` of parallel, either way round?"""
    ux, uy = p2[0] - p1[0], p2[1] - p1[1]
    vx, vy = q2[0] - q1[0], q2[1] - q1[1]
    nu, nv = math.sqrt(ux * ux + uy * uy), math.sqrt(vx * vx + vy * vy)
    return not (nu < 1e-9 or nv < 1e-9 or abs(ux * vy - uy * vx) > sin_angle * nu * nv)


def close_samples(p1: Point, p2: Point, q1: Point, q2: Point, ts: Iterable[float], gap: float) -> int:
    """How many of the points ``p1 + t (p2 - p1)``, t in ``ts``, lie within ``gap`` of the
    segment q1-q2: how far p1-p2 runs along q1-q2."""
    ux, uy = p2[0] - p1[0], p2[1] - p1[1]
    return sum(segment_distance((p1[0] + ux * t, p1[1] + uy * t), q1, q2) < gap for t in ts)


class Grid(Generic[T]):
    """A uniform grid over boxes: the items near a box, without comparing every pair.

    A box over more than :data:`FAR_CELLS` cells (something pinned far away) goes in one
    ``"far"`` list, which every lookup visits; a lookup that large returns everything.

    Example:
        >>> grid = Grid()
        >>> grid.add("A", (0.0, 0.0, 0.5, 0.5))
        >>> grid.add("B", (5.0, 5.0, 5.5, 5.5))
        >>> sorted(grid.near((0.2, 0.2, 1.2, 1.2)))
        ['A']
    """

    def __init__(self, cell: float = 1.0) -> None:
        self.cell = cell
        self.cells: dict[tuple[int, int] | str, list[T]] = {}

    def keys(self, box: Box) -> Iterator[tuple[int, int] | str]:
        """The cells a box covers, or the one ``"far"`` key for a box too large to list."""
        c = self.cell
        if ((box[2] - box[0]) / c + 1) * ((box[3] - box[1]) / c + 1) > FAR_CELLS:
            yield "far"
            return
        for i in range(math.floor(box[0] / c), math.floor(box[2] / c) + 1):
            for j in range(math.floor(box[1] / c), math.floor(box[3] / c) + 1):
                yield i, j

    def add(self, item: T, box: Box) -> None:
        for key in self.keys(box):
            self.cells.setdefault(key, []).append(item)

    def near(self, box: Box) -> set[T]:
        """The items whose boxes share a cell with ``box`` (a superset of those overlapping it)."""
        keys = list(self.keys(box))
        if keys == ["far"]:  # a huge query: everything
            return {item for found in self.cells.values() for item in found}
        found: set[T] = set(self.cells.get("far", ()))
        for key in keys:
            found.update(self.cells.get(key, ()))
        return found
