"""Node positions for drawing a Diagram (standard library only, deterministic).

The drawing graph has a vertex per tensor and a *junction* per index that is not a plain
two-tensor edge: a hyperedge or partial outer product (a black dot) and every convolution
(a ∗ marker between the signal and its kernels). Open legs (free indices, kept junction
indices) and stubs (summed indices) hang off vertices.

Recognised shapes, in this order: a single tensor; a *layer* (the diagram has inputs and
other tensors: inputs on the left, the rest in columns by graph distance, output legs to
the right); a *chain* (a path: tensor-train cores on a line, open legs all below); a
*ring* (a cycle: a regular polygon, legs outward); a *tree* (stars and Tucker-like trees:
the hub in the middle); otherwise a deterministic force-directed layout (stress
majorization; sparse stress for large networks). Pinned positions are kept and the
positions used are returned, so a picture can be fixed.

Then what would collide is cleared (issue 14; :mod:`tnviz.render.collisions` counts what
is left): junctions go to the nearest place clear of circles and lines, with their lines
not passing through circles nor leaving a vertex along another line; edges of different
indices between one pair are bowed apart; a line still through a circle moves a junction
or bends around; legs turn from their rule where they would run along a line or through
a circle. The work is bounded, so that hundreds of tensors lay out in well under a second.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tnviz.core.diagram import Diagram, default_inputs
from tnviz.core.geometry import Grid, Point, close_samples, nearly_parallel, segment_distance
from tnviz.errors import TnvizError

__all__ = ["Layout", "Leg", "layout", "drawing_graph", "LEG_LENGTH"]

LEG_LENGTH = 0.6


@dataclass(frozen=True)
class Leg:
    """An open leg or a stub: it starts at ``node`` and points along ``direction``."""

    node: str
    index: str
    kind: str  # "open" (kept in the output), "stub" (summed) or "loop" (a trace)
    direction: Point


@dataclass
class Layout:
    """Positions for a drawing.

    Attributes:
        kind: the recognised shape (``"single"``, ``"layer"``, ``"chain"``, ``"ring"``,
            ``"tree"`` or ``"force"``).
        positions: vertex name -> (x, y); tensors by name, junctions as ``"#index"``.
        edges: (vertex, vertex, index) for each line between two vertices.
        legs: open legs and stubs.
        junctions: junction vertex -> its index.

    A vertex ``"~index"`` is a bend: an edge drawn in two segments around other vertices.
    """

    kind: str
    positions: dict[str, Point]
    edges: list[tuple[str, str, str]]
    legs: list[Leg]
    junctions: dict[str, str] = field(default_factory=dict)

    def leg_end(self, leg: Leg, length: float = LEG_LENGTH) -> Point:
        x, y = self.positions[leg.node]
        return x + leg.direction[0] * length, y + leg.direction[1] * length

    def bounds(self, margin: float = LEG_LENGTH + 0.5) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.positions.values()] + [self.leg_end(leg)[0] for leg in self.legs]
        ys = [p[1] for p in self.positions.values()] + [self.leg_end(leg)[1] for leg in self.legs]
        return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin


def junction_name(index: str) -> str:
    return f"#{index}"


def drawing_graph(diagram: Diagram) -> tuple[list[str], list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Vertices, edges ``(u, v, index)`` and legs ``(vertex, index, kind)`` of the drawing."""
    vertices = list(diagram.tensor_names)
    edges: list[tuple[str, str, str]] = []
    legs: list[tuple[str, str, str]] = []
    out = set(diagram.output.indices)
    for index in diagram.index_names:
        holders = diagram.holders(index)
        kept = index in out
        # How often each holder holds it: twice or more is a diagonal (a trace when summed).
        times = {t: diagram.tensor(t).indices.count(index) for t in holders}
        repeated = any(n > 1 for n in times.values())
        plain_edge = len(holders) == 2 and not kept and index not in diagram.conv and not repeated
        if len(holders) == 1 and repeated and not kept:
            legs.append((holders[0], index, "loop"))  # a trace: a loop on its tensor
        elif len(holders) == 1 and not repeated:
            legs.append((holders[0], index, "open" if kept else "stub"))
        elif plain_edge:
            edges.append((holders[0], holders[1], index))
        else:
            # A hyperedge, a partial outer product or a diagonal: a junction (the copy tensor),
            # with one line per occurrence, so a diagonal reaches it by a double line.
            j = junction_name(index)
            vertices.append(j)
            edges.extend((t, j, index) for t in holders for _ in range(times[t]))
            if kept:
                legs.append((j, index, "open"))
    return vertices, edges, legs


def _adjacency(vertices: Sequence[str], edges: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
    adj: dict[str, list[str]] = {v: [] for v in vertices}
    for u, v, _ in edges:
        if v not in adj[u]:
            adj[u].append(v)
        if u not in adj[v]:
            adj[v].append(u)
    return adj


def _components(adj: Mapping[str, list[str]], order: Sequence[str]) -> list[list[str]]:
    seen: set[str] = set()
    result = []
    for start in order:
        if start in seen:
            continue
        comp, queue = [], [start]
        seen.add(start)
        while queue:
            v = queue.pop(0)
            comp.append(v)
            for w in adj[v]:
                if w not in seen:
                    seen.add(w)
                    queue.append(w)
        result.append(comp)
    return result


def _path_order(adj: Mapping[str, list[str]], vertices: Sequence[str]) -> list[str] | None:
    if len(vertices) < 2 or any(len(adj[v]) > 2 for v in vertices):
        return None
    ends = [v for v in vertices if len(adj[v]) == 1]
    if len(ends) != 2:
        return None
    start = min(ends, key=vertices.index)
    order, prev = [start], None
    while len(order) < len(vertices):
        nxt = [w for w in adj[order[-1]] if w != prev]
        if not nxt:
            return None
        prev = order[-1]
        order.append(nxt[0])
    return order


def _cycle_order(adj: Mapping[str, list[str]], vertices: Sequence[str]) -> list[str] | None:
    if len(vertices) < 3 or any(len(adj[v]) != 2 for v in vertices):
        return None
    order, prev = [vertices[0]], None
    while True:
        nxt = sorted((w for w in adj[order[-1]] if w != prev), key=vertices.index)  # spec order first
        prev = order[-1]
        if nxt[0] == order[0]:
            break
        order.append(nxt[0])
    return order if len(order) == len(vertices) else None


def _is_tree(adj: Mapping[str, list[str]], vertices: Sequence[str]) -> bool:
    return sum(len(adj[v]) for v in vertices) // 2 == len(vertices) - 1


def _tree_positions(adj: Mapping[str, list[str]], vertices: Sequence[str]) -> dict[str, Point]:
    """Radial tree: the vertex of highest degree in the middle, subtrees in angular sectors."""
    root = max(vertices, key=lambda v: (len(adj[v]), -vertices.index(v)))
    pos: dict[str, Point] = {root: (0.0, 0.0)}
    leaves: dict[str, int] = {}

    def count(v: str, parent: str | None) -> int:
        kids = [w for w in adj[v] if w != parent]
        leaves[v] = sum(count(w, v) for w in kids) if kids else 1
        return leaves[v]

    count(root, None)

    def place(v: str, parent: str | None, lo: float, hi: float, depth: int) -> None:
        kids = [w for w in adj[v] if w != parent]
        total = sum(leaves[w] for w in kids) or 1
        angle = lo
        for w in kids:
            span = (hi - lo) * leaves[w] / total
            mid = angle + span / 2
            radius = 1.6 * (depth + 1)
            pos[w] = (radius * math.cos(mid), radius * math.sin(mid))
            place(w, v, angle, angle + span, depth + 1)
            angle += span

    start = math.pi / 2 + (math.pi / len(adj[root]) if adj[root] else 0.0)
    place(root, None, start, start + 2 * math.pi, 0)
    return pos


def _bfs(adj: Mapping[str, list[str]], start: str) -> dict[str, int]:
    dist = {start: 0}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in adj[v]:
            if w not in dist:
                dist[w] = dist[v] + 1
                queue.append(w)
    return dist


def _force_positions(
    adj: Mapping[str, list[str]], vertices: Sequence[str], pinned: Mapping[str, Point], iterations: int = 120
) -> dict[str, Point]:
    """Stress majorization (Gansner, Koren & North 2004) over graph distances, started from
    two BFS pivots (distance from a peripheral vertex and from the one farthest from it).
    Deterministic; grids and meshes come out unfolded, unlike a spring layout from a circle.
    Beyond ``SPARSE_FROM`` vertices, :func:`_sparse_stress` (the same, over fewer pairs)."""
    n = len(vertices)
    if n > SPARSE_FROM:
        return _sparse_stress(adj, vertices, pinned)
    dist = {v: _bfs(adj, v) for v in vertices}
    far = 1 + max((d for row in dist.values() for d in row.values()), default=1)

    def d(u: str, v: str) -> float:
        return float(dist[u].get(v, far))

    a = max(vertices, key=lambda v: (d(vertices[0], v), -vertices.index(v)))
    b = max(vertices, key=lambda v: (d(a, v), -vertices.index(v)))
    pos = {}
    for k, v in enumerate(vertices):
        if v in pinned:
            pos[v] = (float(pinned[v][0]), float(pinned[v][1]))
        else:  # pivot coordinates, nudged apart where they coincide
            pos[v] = (d(a, v) + 0.01 * k, d(b, v) - 0.013 * k)
    unit = 1.6
    for _ in range(iterations):
        moved = 0.0
        for v in vertices:
            if v in pinned:
                continue
            sx = sy = sw = 0.0
            for u in vertices:
                if u == v:
                    continue
                target = d(u, v) * unit
                w = 1.0 / (target * target)
                dx, dy = pos[v][0] - pos[u][0], pos[v][1] - pos[u][1]
                length = math.hypot(dx, dy) or 1e-9
                sx += w * (pos[u][0] + target * dx / length)
                sy += w * (pos[u][1] + target * dy / length)
                sw += w
            new = (sx / sw, sy / sw)
            moved = max(moved, abs(new[0] - pos[v][0]) + abs(new[1] - pos[v][1]))
            pos[v] = new
        if moved < 1e-4 * n:
            break
    if not pinned:  # centre the picture
        cx = sum(p[0] for p in pos.values()) / n
        cy = sum(p[1] for p in pos.values()) / n
        pos = {v: (p[0] - cx, p[1] - cy) for v, p in pos.items()}
    return pos


SPARSE_FROM = 40


def _sparse_stress(
    adj: Mapping[str, list[str]],
    vertices: Sequence[str],
    pinned: Mapping[str, Point],
    iterations: int = 60,
    pivots: int = 16,
) -> dict[str, Point]:
    """Sparse stress majorization (Ortmann, Klimenta & Brandes 2016): each vertex is drawn
    towards its graph distance from the vertices within two steps and from a few pivots (spread
    by max-min distance, each standing for the vertices nearest it), not from every vertex, so
    that a sweep costs O(n) rather than O(n²)."""
    n = len(vertices)
    order = {v: k for k, v in enumerate(vertices)}
    first = _bfs(adj, vertices[0])
    current = max(vertices, key=lambda v: (first.get(v, -1), -order[v]))  # a peripheral vertex
    centres: list[str] = []
    rows: list[dict[str, int]] = []
    nearest = {v: math.inf for v in vertices}
    for _ in range(min(pivots, n)):
        row = _bfs(adj, current)
        centres.append(current)
        rows.append(row)
        for v in vertices:
            nearest[v] = min(nearest[v], row.get(v, math.inf))
        current = max(vertices, key=lambda v: (nearest[v], -order[v]))  # the farthest from all so far
        if nearest[current] == 0:
            break
    far = 1 + max((d for row in rows for d in row.values()), default=1)
    region: list[list[int]] = [[] for _ in rows]  # each pivot's own vertices, by distance from it
    for v in vertices:
        k = min(range(len(rows)), key=lambda k: (rows[k].get(v, far), k))
        region[k].append(rows[k].get(v, far))
    for dists in region:
        dists.sort()
    terms: dict[str, list[tuple[str, float, float]]] = {}
    for v in vertices:
        near: dict[str, int] = {}
        for w in adj[v]:
            near[w] = 1
            for u in adj[w]:
                if u != v:
                    near.setdefault(u, 2)
        mine = [(u, d * 1.6, 1.0 / (d * 1.6) ** 2) for u, d in near.items()]
        for k, row in enumerate(rows):
            c = centres[k]
            if c != v and c not in near:
                hops = row.get(v, far)
                stands_for = max(1, bisect.bisect_right(region[k], hops / 2))  # its vertices nearer it
                mine.append((c, hops * 1.6, stands_for / (hops * 1.6) ** 2))
        terms[v] = mine
    second = rows[1] if len(rows) > 1 else rows[0]
    pos = {}
    for k, v in enumerate(vertices):
        if v in pinned:
            pos[v] = (float(pinned[v][0]), float(pinned[v][1]))
        else:  # pivot coordinates, nudged apart where they coincide
            pos[v] = (rows[0].get(v, far) + 0.01 * k, second.get(v, far) - 0.013 * k)
    for _ in range(iterations):
        moved = 0.0
        for v in vertices:
            if v in pinned:
                continue
            sx = sy = sw = 0.0
            vx, vy = pos[v]
            for u, target, w in terms[v]:
                ux, uy = pos[u]
                dx, dy = vx - ux, vy - uy
                length = math.sqrt(dx * dx + dy * dy) or 1e-9
                sx += w * (ux + target * dx / length)
                sy += w * (uy + target * dy / length)
                sw += w
            if sw == 0:
                continue
            new = (sx / sw, sy / sw)
            moved = max(moved, abs(new[0] - vx) + abs(new[1] - vy))
            pos[v] = new
        if moved < 1e-4 * n:
            break
    _push_apart(pos, vertices, pinned)
    if not pinned:
        cx = sum(p[0] for p in pos.values()) / n
        cy = sum(p[1] for p in pos.values()) / n
        pos = {v: (p[0] - cx, p[1] - cy) for v, p in pos.items()}
    return pos


def _push_apart(pos: dict[str, Point], vertices: Sequence[str], pinned: Mapping[str, Point], gap: float = 1.1) -> None:
    """Move apart the vertices nearer each other than ``gap`` (what sparse stress leaves
    crowded), looking only at neighbouring grid cells."""
    for _ in range(12):
        cells: dict[tuple[int, int], list[str]] = {}
        for v in vertices:
            cells.setdefault((math.floor(pos[v][0] / gap), math.floor(pos[v][1] / gap)), []).append(v)
        push = {v: [0.0, 0.0] for v in vertices}
        worst = 0.0
        for (i, j), here in cells.items():
            others = [u for di in (-1, 0, 1) for dj in (-1, 0, 1) for u in cells.get((i + di, j + dj), ())]
            for v in here:
                for u in others:
                    if u <= v:
                        continue
                    dx, dy = pos[v][0] - pos[u][0], pos[v][1] - pos[u][1]
                    d = math.sqrt(dx * dx + dy * dy)
                    if d >= gap:
                        continue
                    if d < 1e-9:
                        dx, dy, d = 1e-3, 0.0, 1e-3
                    step = (gap - d) / 2
                    worst = max(worst, step)
                    push[v][0] += dx / d * step
                    push[v][1] += dy / d * step
                    push[u][0] -= dx / d * step
                    push[u][1] -= dy / d * step
        for v in vertices:
            if v not in pinned:
                pos[v] = (pos[v][0] + push[v][0], pos[v][1] + push[v][1])
        if worst < 0.01:
            break


TENSOR_RADIUS = 0.3  # the drawn sizes (tnviz.render.scene draws these): what must stay clear
CONV_RADIUS = 0.15
DOT_RADIUS = 0.06
STUB_LENGTH = LEG_LENGTH * 0.55
LABEL_ROOM = 0.45  # beyond a leg's end: room for its label
CLEAR = 0.15  # a line keeps this far from a circle it does not end at
MIN_ANGLE = math.radians(20)  # lines leaving one vertex keep this far apart ...
LEG_ANGLE = math.radians(15)  # ... and a leg from its vertex's lines at least this far
TIGHT_ANGLE = math.radians(14)  # ... and a line to a junction at least this far, where the room is short
SIN_PARALLEL = math.sin(math.radians(15))
WORK_BUDGET = 25_000


def _radius(v: str, conv: Sequence[str]) -> float:
    if v.startswith("~"):
        return 0.0
    if v.startswith("#"):
        return CONV_RADIUS if v[1:] in conv else DOT_RADIUS
    return TENSOR_RADIUS


def _dist(p: Point, q: Point) -> float:
    return math.sqrt((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2)


def _crosses(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    def orient(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def _angle(u: Point, v: Point) -> float:
    """The angle between two directions, in [0, pi]."""
    nu, nv = math.sqrt(u[0] ** 2 + u[1] ** 2), math.sqrt(v[0] ** 2 + v[1] ** 2)
    if nu < 1e-12 or nv < 1e-12:
        return math.pi
    c = (u[0] * v[0] + u[1] * v[1]) / (nu * nv)
    return math.acos(max(-1.0, min(1.0, c)))


def _runs_along(p1: Point, p2: Point, q1: Point, q2: Point, gap: float = 0.2) -> bool:
    """Do segments p1-p2 and q1-q2 run along each other: nearly parallel, and close for a
    real stretch (of either)?"""
    if not nearly_parallel(p1, p2, q1, q2, SIN_PARALLEL):
        return False
    # Both ends of q on one side of p's line and beyond the gap: nowhere close.
    ux, uy = p2[0] - p1[0], p2[1] - p1[1]
    nu = math.sqrt(ux * ux + uy * uy)
    s1 = (ux * (q1[1] - p1[1]) - uy * (q1[0] - p1[0])) / nu
    s2 = (ux * (q2[1] - p1[1]) - uy * (q2[0] - p1[0])) / nu
    if (s1 > gap and s2 > gap) or (s1 < -gap and s2 < -gap):
        return False
    ts = (0.1, 0.3, 0.5, 0.7, 0.9)
    return close_samples(p1, p2, q1, q2, ts, gap) >= 2 or close_samples(q1, q2, p1, p2, ts, gap) >= 2


class _Space:
    """What is drawn so far: circles (vertices) and segments (edges, legs with room for their
    labels), in a grid of unit cells so that a question about one place looks only near it."""

    def __init__(self) -> None:
        self.discs: dict[str, tuple[float, float, float]] = {}
        self.segs: list[tuple[Point, Point, str, str | None, str] | None] = []
        self._disc_grid: Grid[str] = Grid()
        self._seg_grid: Grid[int] = Grid()
        self.at: dict[str, list[int]] = {}  # vertex -> its segments
        self.budget = WORK_BUDGET  # lines and circles looked at in trying places: bounds the
        # work on a large, crowded drawing (a small one never comes near it)

    def add_disc(self, name: str, p: Point, r: float) -> None:
        if r <= 0:
            return
        self.discs[name] = (p[0], p[1], r)
        self._disc_grid.add(name, (p[0] - r, p[1] - r, p[0] + r, p[1] + r))

    def remove_disc(self, name: str) -> None:
        self.discs.pop(name, None)  # grid entries stay; lookups skip what is gone

    def add_seg(self, p: Point, q: Point, a: str, b: str | None, index: str) -> int:
        self.segs.append((p, q, a, b, index))
        k = len(self.segs) - 1
        for v in (a, b):
            if v is not None:
                self.at.setdefault(v, []).append(k)
        self._seg_grid.add(k, (min(p[0], q[0]), min(p[1], q[1]), max(p[0], q[0]), max(p[1], q[1])))
        return k

    def discs_near(self, x0: float, y0: float, x1: float, y1: float) -> list[str]:
        return sorted(n for n in self._disc_grid.near((x0, y0, x1, y1)) if n in self.discs)

    def segs_near(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        return sorted(k for k in self._seg_grid.near((x0, y0, x1, y1)) if self.segs[k] is not None)

    def segment_blocked(self, p: Point, q: Point, ends: Sequence[str | None], clear: float = CLEAR) -> str | None:
        """The first circle (other than ``ends``) that the segment p-q passes through."""
        pad = TENSOR_RADIUS + clear
        box = (min(p[0], q[0]) - pad, min(p[1], q[1]) - pad, max(p[0], q[0]) + pad, max(p[1], q[1]) + pad)
        for w in self.discs_near(*box):
            if w in ends:
                continue
            x, y, r = self.discs[w]
            if segment_distance((x, y), p, q) < r + clear:
                return w
        return None


def _spot_cost(
    space: _Space,
    pos: Mapping[str, Point],
    p: Point,
    r: float,
    ends: Sequence[str],
    ideal: Point,
    bound: float = math.inf,
) -> float:
    """How bad a place ``p`` is for a vertex of radius ``r`` joined to ``ends``: circles or
    lines on it, its lines through circles, along other lines or too close in angle to the
    other lines at their far ends (hard, 40-100 each); crossings (3 each); the distance from
    the ideal place. Stops counting once past ``bound``."""
    cost = _dist(p, ideal)
    x, y = p
    reach = r + TENSOR_RADIUS + 0.45
    near = space.discs_near(x - reach, y - reach, x + reach, y + reach)
    space.budget -= len(near) + 1
    for w in near:
        wx, wy, rw = space.discs[w]
        if _dist(p, (wx, wy)) < r + rw + 0.45:
            cost += 100
    for k in space.segs_near(x - r - 0.3, y - r - 0.3, x + r + 0.3, y + r + 0.3):
        a_pt, b_pt, a, b, _ = space.segs[k]  # type: ignore[misc]
        if segment_distance(p, a_pt, b_pt) < r + 0.3:
            cost += 40
    if cost >= bound:
        return cost
    for e in ends:
        q = pos[e]
        if space.segment_blocked(p, q, (e,)) is not None:
            cost += 100
            if cost >= bound:
                return cost
        x0, y0 = min(p[0], q[0]) - 0.2, min(p[1], q[1]) - 0.2
        x1, y1 = max(p[0], q[0]) + 0.2, max(p[1], q[1]) + 0.2
        segs = space.segs_near(x0, y0, x1, y1)
        space.budget -= len(segs)
        for k in segs:
            a_pt, b_pt, a, b, _ = space.segs[k]  # type: ignore[misc]
            if e in (a, b):
                other = b_pt if a == e else a_pt
                angle = _angle((p[0] - q[0], p[1] - q[1]), (other[0] - q[0], other[1] - q[1]))
                if angle < TIGHT_ANGLE:
                    cost += 40
                elif angle < MIN_ANGLE:  # tight: drawn apart, but a wider angle is better
                    cost += 3 * (MIN_ANGLE - angle) / (MIN_ANGLE - TIGHT_ANGLE)
                continue
            if max(a_pt[0], b_pt[0]) < x0 or min(a_pt[0], b_pt[0]) > x1:
                continue
            if max(a_pt[1], b_pt[1]) < y0 or min(a_pt[1], b_pt[1]) > y1:
                continue
            if _runs_along(p, q, a_pt, b_pt):
                cost += 40
            elif _crosses(p, q, a_pt, b_pt):
                cost += 3
        if cost >= bound:
            return cost
    return cost


def _spots(ideal: Point, ends: Sequence[Point]) -> list[Point]:
    """Places to try for a junction (or a bend): along and across the line between its two
    ends, else on a grid around the ideal place; nearest first."""
    points: list[Point] = []
    if len(ends) == 2 and _dist(ends[0], ends[1]) > 1e-9:
        (ax, ay), (bx, by) = ends
        length = _dist(ends[0], ends[1])
        ux, uy = (bx - ax) / length, (by - ay) / length
        nx, ny = -uy, ux
        mx, my = (ax + bx) / 2, (ay + by) / 2
        t0 = ((ideal[0] - ax) * ux + (ideal[1] - ay) * uy) / length
        off0 = (ideal[0] - mx) * nx + (ideal[1] - my) * ny
        for t in (0.0, -0.08, 0.08, -0.16, 0.16, -0.24, 0.24):
            for k in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5):
                tt, off = min(0.85, max(0.15, t0 + t)), off0 + 0.3 * k
                points.append((ax + (bx - ax) * tt + nx * off, ay + (by - ay) * tt + ny * off))
    else:
        for dx in range(-5, 6):
            for dy in range(-5, 6):
                points.append((ideal[0] + 0.3 * dx, ideal[1] + 0.3 * dy))
    points.sort(key=lambda q: _dist(q, ideal))
    return points


def _best_spot(space: _Space, pos: Mapping[str, Point], r: float, ends: Sequence[str], ideal: Point) -> Point:
    """The best of :func:`_spots` by :func:`_spot_cost` (the ideal place itself when clear),
    within what is left of the space's budget of tries."""
    best, best_cost = ideal, _spot_cost(space, pos, ideal, r, ends, ideal)
    if best_cost < 1.0:
        return best
    for p in _spots(ideal, [pos[e] for e in dict.fromkeys(ends)]):
        if _dist(p, ideal) >= best_cost or space.budget <= 0:
            break  # the rest are further off than the best one is bad, or no time is left
        cost = _spot_cost(space, pos, p, r, ends, ideal, best_cost)
        if cost < best_cost - 1e-9:
            best, best_cost = p, cost
    return best


def _space_of(pos: Mapping[str, Point], edges: Sequence[tuple[str, str, str]], conv: Sequence[str]) -> _Space:
    space = _Space()
    for v, p in pos.items():
        space.add_disc(v, p, _radius(v, conv))
    for u, v, index in edges:
        if u in pos and v in pos:
            space.add_seg(pos[u], pos[v], u, v, index)
    return space


def _place_junctions(
    pos: dict[str, Point],
    edges: Sequence[tuple[str, str, str]],
    junctions: Sequence[str],
    ideal: Mapping[str, Point],
    conv: Sequence[str],
) -> None:
    """Put each junction at the place nearest its ideal one that is clear (in order: each
    sees the ones placed before it)."""
    todo = set(junctions)
    space = _space_of({v: p for v, p in pos.items() if v not in todo}, edges, conv)
    for j in junctions:
        ends = [u if v == j else v for u, v, _ in edges if j in (u, v)]
        ends = [e for e in ends if e in pos and e not in todo]
        p = _best_spot(space, pos, _radius(j, conv), ends, ideal[j])
        pos[j] = p
        todo.discard(j)
        space.add_disc(j, p, _radius(j, conv))
        for e in ends:
            space.add_seg(pos[e], p, e, j, j[1:])


def _spread_parallel(pos: dict[str, Point], edges: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Edges of different indices between the same two vertices: bowed apart through bends,
    symmetrically (an odd one out stays straight)."""
    pairs: dict[frozenset[str], list[tuple[str, str, str]]] = {}
    for e in edges:
        if not e[0].startswith("~") and not e[1].startswith("~") and e[0] != e[1]:
            pairs.setdefault(frozenset(e[:2]), []).append(e)
    out = list(edges)
    for group in pairs.values():
        indices = list(dict.fromkeys(e[2] for e in group))
        if len(indices) < 2 or len(group) != len(indices):
            continue  # one index (a diagonal: the drawing bows those), or a mixture left alone
        u, v, _ = group[0]
        (x1, y1), (x2, y2) = pos[u], pos[v]
        length = _dist((x1, y1), (x2, y2)) or 1.0
        nx, ny = -(y2 - y1) / length, (x2 - x1) / length
        gap = max(0.35, 0.2 * length)
        for k, (a, b, index) in enumerate(group):
            off = (k - (len(group) - 1) / 2) * gap
            if abs(off) < 1e-9:
                continue
            bend = f"~{index}:bow"
            pos[bend] = ((x1 + x2) / 2 + nx * off, (y1 + y2) / 2 + ny * off)
            out.remove((a, b, index))
            out += [(a, bend, index), (bend, b, index)]
    return out


def _tight(space: _Space, k: int) -> tuple[str, int] | None:
    """An end of segment ``k`` where a line of another index leaves too close in angle to it:
    (that vertex, that line)."""
    p, q, a, b, index = space.segs[k]  # type: ignore[misc]
    for e, here, there in ((a, p, q), (b, q, p)):
        if e is None or e.startswith("~"):
            continue
        d = (there[0] - here[0], there[1] - here[1])
        for m in space.at.get(e, ()):
            s = space.segs[m]
            if m == k or s is None or s[4] == index:
                continue
            other = s[1] if s[2] == e else s[0]
            if _angle(d, (other[0] - here[0], other[1] - here[1])) < TIGHT_ANGLE - 0.02:
                return e, m
    return None


def _repair(
    pos: dict[str, Point],
    edges: list[tuple[str, str, str]],
    conv: Sequence[str],
    movable: set[str],
) -> list[tuple[str, str, str]]:
    """Lines through circles they do not end at, and lines leaving a vertex almost along one
    another: move a junction at fault (the one passed through, else one at an end) to a clear
    place, else bend the line."""
    space = _space_of(pos, edges, conv)
    bends = 0
    for _ in range(3):
        changed = False
        for k in range(len(space.segs)):
            seg = space.segs[k]
            if seg is None or space.budget <= 0:
                continue
            p, q, a, b, index = seg
            assert b is not None
            w = space.segment_blocked(p, q, (a, b), clear=0.05)
            tight = None if w is not None else _tight(space, k)
            if w is None and tight is None:
                continue
            if w is not None:
                fix = w if w in movable else next((e for e in (a, b) if e in movable), None)
            else:
                assert tight is not None
                e, m = tight
                s = space.segs[m]
                assert s is not None
                far = [b if a == e else a, s[3] if s[2] == e else s[2]]
                fix = next((f for f in far if f in movable), None)
            if fix is not None:
                ends = []
                for m in space.at.get(fix, ()):
                    s = space.segs[m]
                    if s is not None:
                        ends.append(s[3] if s[2] == fix else s[2])
                        space.segs[m] = None
                space.remove_disc(fix)
                r = _radius(fix, conv)
                pos[fix] = _best_spot(space, pos, r, ends, pos[fix])
                space.add_disc(fix, pos[fix], r)
                for e in ends:
                    space.add_seg(pos[e], pos[fix], e, fix, fix[1:])
            else:
                dx, dy = q[0] - p[0], q[1] - p[1]
                length = math.sqrt(dx * dx + dy * dy) or 1e-9
                nx, ny = -dy / length, dx / length
                if w is not None:  # around the circle, on the side of the line it is not
                    x, y, r = space.discs[w]
                    t = ((x - p[0]) * dx + (y - p[1]) * dy) / (length * length)
                    side = 1.0 if (x - p[0] - dx * t) * nx + (y - p[1] - dy * t) * ny <= 0 else -1.0
                    ideal = (x + side * nx * (r + 0.45), y + side * ny * (r + 0.45))
                else:  # bowed away from the line it leaves beside
                    assert tight is not None
                    e, m = tight
                    s = space.segs[m]
                    assert s is not None
                    here = pos[e]
                    other = s[1] if s[2] == e else s[0]
                    side = -1.0 if (other[0] - here[0]) * nx + (other[1] - here[1]) * ny > 0 else 1.0
                    bow = max(0.35, 0.25 * length)
                    ideal = ((p[0] + q[0]) / 2 + side * nx * bow, (p[1] + q[1]) / 2 + side * ny * bow)
                bends += 1
                bend = f"~{index}:around{bends}"
                space.segs[k] = None
                pos[bend] = _best_spot(space, pos, 0.0, (a, b), ideal)
                space.add_seg(p, pos[bend], a, bend, index)
                space.add_seg(pos[bend], q, bend, b, index)
                edges.remove((a, b, index) if (a, b, index) in edges else (b, a, index))
                edges += [(a, bend, index), (bend, b, index)]
            changed = True
        if not changed:
            break
    return edges


def _leg_directions(
    legs: Sequence[tuple[str, str, str]],
    pos: Mapping[str, Point],
    adj: Mapping[str, list[str]],
    rule: Mapping[str, Point | str],
    space: _Space,
    conv: Sequence[str] = (),
) -> list[Leg]:
    """Point each vertex's legs by its rule — a fixed direction, ``"outward"`` from a centre
    given as ``rule["centre"]``, or away from its neighbours — fanned out when several. A fan
    turns from its rule where it would run along a line or through a circle (and a free one
    also to cross the fewest lines)."""
    by_vertex: dict[str, list[tuple[str, str]]] = {}
    for v, index, kind in legs:
        by_vertex.setdefault(v, []).append((index, kind))
    result = []
    for v, items in by_vertex.items():
        x, y = pos[v]
        how = rule.get(v, "away")
        centre = rule.get("centre")
        if isinstance(how, tuple):
            base = math.atan2(how[1], how[0])
        elif how == "outward" and isinstance(centre, tuple) and (x, y) != centre:
            base = math.atan2(y - centre[1], x - centre[0])
        else:
            nbrs = [pos[w] for w in adj[v]]
            mx = sum(p[0] for p in nbrs) / len(nbrs) - x if nbrs else 0.0
            my = sum(p[1] for p in nbrs) / len(nbrs) - y if nbrs else 0.0
            if abs(mx) < 1e-9 and abs(my) < 1e-9:
                base = -math.pi / 2
            else:
                base = math.atan2(-my, -mx)
        spread = min(0.55, 2.4 / max(1, len(items)))
        r = _radius(v, conv)
        base = _least_clash(base, v, (x, y), r, items, spread, space, free=how == "away")
        for k, (index, kind) in enumerate(items):
            angle = base + (k - (len(items) - 1) / 2) * spread
            direction = (round(math.cos(angle), 12), round(math.sin(angle), 12))
            result.append(Leg(v, index, kind, direction))
            reach = r + (STUB_LENGTH if kind == "stub" else LEG_LENGTH) + LABEL_ROOM
            space.add_seg((x, y), (x + direction[0] * reach, y + direction[1] * reach), v, None, index)
    return result


def _fan_clash(
    angle: float, v: str, at: Point, r: float, items: Sequence[tuple[str, str]], spread: float, space: _Space
) -> tuple[int, float]:
    """(hard, soft) clashes of a fan of legs at ``angle``: hard where a leg (with its label's
    room) passes through a circle or runs along a line, or leaves ``v`` too close to one of its
    lines; soft for each line crossed (and half for each passing close by)."""
    hard, soft = 0, 0.0
    for k, (_, kind) in enumerate(items):
        a = angle + (k - (len(items) - 1) / 2) * spread
        d = (math.cos(a), math.sin(a))
        length = STUB_LENGTH if kind == "stub" else LEG_LENGTH
        start = (at[0] + d[0] * r, at[1] + d[1] * r)
        end = (at[0] + d[0] * (r + length), at[1] + d[1] * (r + length))
        far = (at[0] + d[0] * (r + length + LABEL_ROOM), at[1] + d[1] * (r + length + LABEL_ROOM))
        if space.segment_blocked(start, far, (v,), clear=0.1) is not None:
            hard += 1
        box = (min(at[0], far[0]) - 0.3, min(at[1], far[1]) - 0.3, max(at[0], far[0]) + 0.3, max(at[1], far[1]) + 0.3)
        segs = space.segs_near(*box)
        space.budget -= len(segs) + 1
        for m in segs:
            p, q, a_name, b_name, _ = space.segs[m]  # type: ignore[misc]
            if v in (a_name, b_name):
                other = q if a_name == v else p
                angle = _angle(d, (other[0] - at[0], other[1] - at[1]))
                if angle < LEG_ANGLE:
                    hard += 1
                elif angle < MIN_ANGLE:
                    soft += 1
            else:
                if _runs_along(start, end, p, q) or _runs_along(p, q, start, end):
                    hard += 1
                elif _crosses(at, far, p, q):
                    soft += 1
            for t in (0.5, 1.0):  # running close beside a line, its own edges included, is nearly as bad
                probe = (start[0] + (far[0] - start[0]) * t, start[1] + (far[1] - start[1]) * t)
                if segment_distance(probe, p, q) < 0.3:
                    soft += 0.5
    return hard, soft


def _least_clash(
    base: float,
    v: str,
    at: Point,
    r: float,
    items: Sequence[tuple[str, str]],
    spread: float,
    space: _Space,
    free: bool,
) -> float:
    """The angle, nearest ``base``, for a fan of legs: one that clashes with nothing hard; a
    fixed fan keeps ``base`` when it can, a free one also looks for the fewest soft clashes."""
    best, best_score = base, None
    for turn in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8, 9, -9, 10, -10, 11, -11, 12):
        angle = base + turn * math.pi / 12
        hard, soft = _fan_clash(angle, v, at, r, items, spread, space)
        if not free:
            soft = 0.0 if hard == 0 else soft
        score = 10 * hard + soft
        if best_score is None or score < best_score:
            best, best_score = angle, score
        if score == 0 or space.budget <= 0:
            break
    return best


def _shape(adj: Mapping[str, list[str]], vertices: list[str], vertical: bool = False):
    """(kind, positions, leg rule) for a connected-or-not set of vertices drawn on its own."""
    sub = {v: [w for w in adj[v] if w in vertices] for v in vertices}
    comps = _components(sub, vertices)
    if len(vertices) == 1:
        return "single", {vertices[0]: (0.0, 0.0)}, {}
    if len(comps) == 1 and (order := _path_order(sub, vertices)) is not None:
        if vertical:
            pos = {v: (0.0, -1.5 * k) for k, v in enumerate(order)}
            return "chain", pos, {v: (1.0, 0.0) for v in vertices}
        pos = {v: (1.6 * k, 0.0) for k, v in enumerate(order)}
        return "chain", pos, {v: (0.0, -1.0) for v in vertices}
    if len(comps) == 1 and (order := _cycle_order(sub, vertices)) is not None:
        radius = 0.9 / math.sin(math.pi / len(order))
        pos = {}
        for k, v in enumerate(order):
            angle = math.pi / 2 - 2 * math.pi * k / len(order)
            pos[v] = (radius * math.cos(angle), radius * math.sin(angle))
        rule: dict[str, Point | str] = {v: "outward" for v in vertices}
        rule["centre"] = (0.0, 0.0)
        return "ring", pos, rule
    if len(comps) == 1 and _is_tree(sub, vertices):
        return "tree", _tree_positions(sub, vertices), {}
    if all(len(c) == 1 for c in comps):
        if vertical:
            return "chain", {v: (0.0, -1.5 * k) for k, v in enumerate(vertices)}, {v: (1.0, 0.0) for v in vertices}
        return "chain", {v: (1.8 * k, 0.0) for k, v in enumerate(vertices)}, {v: (0.0, -1.0) for v in vertices}
    return "force", _force_positions(sub, vertices, {}), {}


def _param_columns(adj, params, inner, holders, inputs):
    """Parameters in columns by graph distance from the inputs (passing a junction costs
    nothing). A tensor joined to three or more of its column-mates (the centre of a star, such
    as a Tucker core) moves one column on, with what lies beyond it. A hub (a hyperedge among
    parameters) sits half a column after its nearest holder, so that a holder it alone reaches
    comes after it. Within a column a tensor sits by the mean height of the neighbours placed
    before it, one linked to two column-mates between them; open legs point right."""
    depth = {v: 0 for v in inputs}
    queue = list(inputs)  # 0-1 breadth-first search: passing a junction costs nothing
    while queue:
        v = queue.pop(0)
        for w in adj[v]:
            d = depth[v] + (0 if w.startswith("#") else 1)
            if d < depth.get(w, 1 << 30):
                depth[w] = d
                if d == depth[v]:
                    queue.insert(0, w)
                else:
                    queue.append(w)
    col: dict[str, float] = {t: max(1, depth.get(t, 1)) for t in params}
    plain = {t: [w for w in adj[t] if w in col] for t in params}
    for _ in range(len(params)):
        star = next((t for t in params if sum(col[w] == col[t] for w in plain[t]) >= 3), None)
        if star is None:
            break
        beyond, frontier = {star}, [star]
        while frontier:
            v = frontier.pop()
            for w in plain[v]:
                if w not in beyond and col[w] == col[v] + 1:
                    beyond.add(w)
                    frontier.append(w)
        for w in beyond:
            col[w] += 1
    for j in inner:
        col[j] = min(col[h] for h in holders[j]) + 0.5
    keys = sorted(set(col.values()))
    pos: dict[str, Point] = {}
    x = 0.0
    for n, key in enumerate(keys):
        if n:  # a hub's half column is nearer its neighbours, unless it ends the picture
            hub, after_hub = key != int(key), keys[n - 1] != int(keys[n - 1])
            x += 2.4 if hub and n == len(keys) - 1 else 1.8 if hub or after_hub else 2.2
        members = [v for v in list(params) + list(inner) if col[v] == key]

        def height(v: str) -> float | None:
            seen = [pos[w][1] for w in (holders[v] if v in inner else _tensor_nbrs(adj, v)) if w in pos]
            return sum(seen) / len(seen) if seen else None

        hubs = [v for v in members if v in inner]
        tensors = [v for v in members if v not in inner]
        if n:
            tensors.sort(key=lambda v: height(v) or 0.0, reverse=True)
        for v in list(tensors):
            mates = [w for w in adj[v] if w in tensors and w != v]  # plain edges only
            if len(mates) >= 2:
                tensors.remove(v)
                tensors.insert(len(tensors) // 2, v)
        known = [h for v in tensors if (h := height(v)) is not None]
        centre = sum(known) / len(known) if known and n else 0.0
        for k, v in enumerate(tensors):
            pos[v] = (x, centre - 1.5 * (k - (len(tensors) - 1) / 2))
        hubs.sort(key=lambda v: height(v) or 0.0, reverse=True)
        last = None
        for v in hubs:
            y = height(v) or 0.0
            y = min(y, last - 1.0) if last is not None else y
            pos[v] = (x, y)
            last = y
    return pos, {t: (1.0, 0.0) for t in params}


def _tensor_nbrs(adj, v):
    """Neighbours of ``v``, looking through junction vertices to the tensors beyond."""
    out = []
    for w in adj[v]:
        if w.startswith("#"):
            out.extend(u for u in adj[w] if u != v and not u.startswith("#"))
        else:
            out.append(w)
    return out


def _layer(adj, vertices, edges, inputs, diagram):
    """Inputs on the left; the parameters' own shape to the right; junctions that touch an
    input between them (several on one pair spread apart), each where it is clear of the
    other circles and lines. Returns positions, leg rules and the edges (a ring's closing edge
    in segments through bends)."""
    tensors = list(diagram.tensor_names)
    params = [t for t in tensors if t not in inputs]
    holders = {v: {a for a, b, _ in edges if b == v} | {b for a, b, _ in edges if a == v} for v in vertices}
    inner = [v for v in vertices if v.startswith("#") and holders[v] <= set(params)]
    block = params + inner
    kind, pos, rule = _shape(adj, block, vertical=True)
    bends: dict[tuple[str, str, str], tuple[Point, ...]] = {}
    placed = []  # junctions placed by a rule of thumb, to be put where it is clear
    if kind == "ring":
        # A ring of parameters (tensor ring): the cores in a column, the closing edge bent
        # around to the right so that it passes no core.
        order = _cycle_order({v: [w for w in adj[v] if w in block] for v in block}, block)
        assert order is not None
        first, last = order[0], order[-1]
        pos = {v: (0.0, -1.5 * k) for k, v in enumerate(order)}
        rule = {v: (1.0, 0.0) for v in block}
        for u, v, index in edges:
            if {u, v} == {first, last}:
                top, bottom = pos[first], pos[last]
                bends[(first, last, index)] = ((2.2, top[1]), (2.2, bottom[1]))
                rule[first], rule[last] = (0.6, 0.8), (0.6, -0.8)
    elif kind not in ("chain", "single"):
        pos, rule = _param_columns(adj, params, inner, holders, inputs)
        placed += inner
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    shift_x = 2.6 - min(xs)
    mid_y = (min(ys) + max(ys)) / 2
    pos = {v: (p[0] + shift_x, p[1] - mid_y) for v, p in pos.items()}
    bends = {e: tuple((p[0] + shift_x, p[1] - mid_y) for p in ps) for e, ps in bends.items()}
    for (u, v, index), points in bends.items():  # an edge drawn in segments via bends
        names = [f"~{index}:{k}" for k in range(len(points))]
        pos.update(zip(names, points))
        chain = [u, *names, v]
        edges = [e for e in edges if e[2] != index] + [(a, b, index) for a, b in zip(chain, chain[1:])]
    for k, name in enumerate(inputs):
        pos[name] = (0.0, -1.6 * (k - (len(inputs) - 1) / 2))
    outer = [v for v in vertices if v.startswith("#") and v not in inner]
    groups: dict[tuple[str, ...], list[str]] = {}
    for j in outer:
        groups.setdefault(tuple(sorted(holders[j])), []).append(j)
    for members, js in groups.items():
        cx = sum(pos[m][0] for m in members) / len(members)
        cy = sum(pos[m][1] for m in members) / len(members)
        a, b = pos[members[0]], pos[members[-1]]
        dx, dy = b[0] - a[0], b[1] - a[1]
        norm = _dist(a, b) or 1.0
        nx, ny = -dy / norm, dx / norm
        # A plain edge between the same pair runs through the midpoint: keep junctions off it.
        plain = any(
            {a_, b_} == set(members) for a_, b_, _ in edges if not a_.startswith("#") and not b_.startswith("#")
        )
        offsets = [(k - (len(js) - 1) / 2) * 1.0 for k in range(len(js))]
        if plain and len(js) % 2 == 1:
            offsets = [o + 0.5 for o in offsets]
        for j, off in zip(js, offsets):
            pos[j] = (cx + nx * off, cy + ny * off)
    placed += sorted(outer, key=lambda j: len(holders[j]))  # pairs first: they have least room
    edges = _spread_parallel(pos, edges)
    _place_junctions(pos, edges, placed, dict(pos), diagram.conv)
    for name in inputs:
        rule[name] = (-1.0, 0.0)
    for j in outer:
        rule.pop(j, None)
    return pos, rule, edges


def layout(
    diagram: Diagram,
    pinned: Mapping[str, Point] | None = None,
    inputs: Sequence[str] | None = None,
) -> Layout:
    """Positions for drawing ``diagram``.

    Args:
        diagram: the diagram.
        pinned: ``{vertex: (x, y)}`` to keep; tensors by name, junctions as ``"#index"``.
        inputs: activation tensors (drawn on the left of a layer); by default ``X`` if
            present, else the first tensor when the diagram convolves.

    Returns:
        A :class:`Layout`; ``layout.positions`` are the positions used (pinned included).

    Example:
        >>> layout(Diagram.parse("a i b, b j c, c k d -> a i j k d")).kind
        'chain'
    """
    pinned = dict(pinned or {})
    vertices, edges, legs = drawing_graph(diagram)
    for name, point in pinned.items():
        if name not in vertices:
            raise TnvizError(f"pinned names {name!r}, not a vertex; expected one of {', '.join(vertices)}", token=name)
        ok = isinstance(point, (tuple, list)) and len(point) == 2
        if not ok or not all(isinstance(c, (int, float)) and math.isfinite(c) for c in point):
            raise TnvizError(f"pinned position of {name!r} must be (x, y), got {point!r}", token=name)
    inputs = drawn_inputs(diagram) if inputs is None else tuple(inputs)
    for name in inputs:
        if name not in diagram.tensor_names:
            raise TnvizError(
                f"inputs names {name!r}, not a tensor; expected one of {', '.join(diagram.tensor_names)}", token=name
            )
    adj = _adjacency(vertices, edges)
    if inputs and len(diagram.tensors) > len(inputs) and not pinned:
        kind = "layer"
        pos, rule, edges = _layer(adj, vertices, edges, inputs, diagram)
    else:
        kind, pos, rule = _shape(adj, vertices)
        if pinned:  # a shape's own positions (its bends, its junctions) belong to a picture without pins
            pos = _force_positions(adj, vertices, pinned)
            rule = {}
    pos = {v: (round(p[0], 9) + 0.0, round(p[1], 9) + 0.0) for v, p in pos.items()}
    pos.update({v: (float(p[0]), float(p[1])) for v, p in pinned.items()})
    # Then what would still collide: edges of different indices between one pair bowed apart
    # (a layer has done so), lines through circles cleared (junctions moved, else lines bent around).
    edges = list(edges) if kind == "layer" else _spread_parallel(pos, list(edges))
    movable = {v for v in vertices if v.startswith("#") and v not in pinned}
    edges = _repair(pos, edges, diagram.conv, movable)
    pos = {v: (round(p[0], 9) + 0.0, round(p[1], 9) + 0.0) if v not in pinned else p for v, p in pos.items()}
    # Legs with a fixed rule go first; free ones then turn away from every line drawn so far.
    space = _space_of(pos, edges, diagram.conv)
    fixed = [leg for leg in legs if leg[0] in rule]
    free = [leg for leg in legs if leg[0] not in rule]
    leg_objects = _leg_directions(fixed, pos, adj, rule, space, diagram.conv)
    leg_objects += _leg_directions(free, pos, adj, rule, space, diagram.conv)
    junctions = {v: v[1:] for v in vertices if v.startswith("#")}
    return Layout(kind, pos, edges, leg_objects, junctions)


def drawn_inputs(diagram: Diagram) -> tuple[str, ...]:
    """The tensors drawn as inputs when none are named: the planner's inputs
    (:func:`~tnviz.core.diagram.default_inputs`) for a diagram that looks like a layer (it has
    a tensor ``X`` or convolves), none for a plain tensor network, which is drawn as a network
    of equal tensors."""
    if "X" in diagram.tensor_names or diagram.conv:
        return default_inputs(diagram)
    return ()
