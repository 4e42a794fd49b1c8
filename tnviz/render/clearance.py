"""What keeps a drawing legible: the sizes drawn (what must stay clear), junctions moved to the
nearest place clear of circles and lines, edges of different indices between one pair bowed
apart, a line still through a circle moved or bent around, and the room a leg needs. The work
is bounded (``WORK_BUDGET``), so that hundreds of tensors lay out in well under a second;
:mod:`tnviz.render.collisions` counts what is left."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from tnviz.render.geometry import Grid, Point, close_samples, nearly_parallel, segment_distance

LEG_LENGTH = 0.6


TENSOR_RADIUS = 0.3  # the drawn sizes (tnviz.render.scene draws these), and so what must stay clear


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


def radius(v: str, conv: Sequence[str]) -> float:
    if v.startswith("~"):
        return 0.0
    if v.startswith("#"):
        return CONV_RADIUS if v[1:] in conv else DOT_RADIUS
    return TENSOR_RADIUS


def dist(p: Point, q: Point) -> float:
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


class Space:
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
    space: Space,
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
    cost = dist(p, ideal)
    x, y = p
    reach = r + TENSOR_RADIUS + 0.45
    near = space.discs_near(x - reach, y - reach, x + reach, y + reach)
    space.budget -= len(near) + 1
    for w in near:
        wx, wy, rw = space.discs[w]
        if dist(p, (wx, wy)) < r + rw + 0.45:
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
    if len(ends) == 2 and dist(ends[0], ends[1]) > 1e-9:
        (ax, ay), (bx, by) = ends
        length = dist(ends[0], ends[1])
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
    points.sort(key=lambda q: dist(q, ideal))
    return points


def _best_spot(space: Space, pos: Mapping[str, Point], r: float, ends: Sequence[str], ideal: Point) -> Point:
    """The best of :func:`_spots` by :func:`_spot_cost` (the ideal place itself when clear),
    within what is left of the space's budget of tries."""
    best, best_cost = ideal, _spot_cost(space, pos, ideal, r, ends, ideal)
    if best_cost < 1.0:
        return best
    for p in _spots(ideal, [pos[e] for e in dict.fromkeys(ends)]):
        if dist(p, ideal) >= best_cost or space.budget <= 0:
            break  # the rest are further off than the best one is bad, or no time is left
        cost = _spot_cost(space, pos, p, r, ends, ideal, best_cost)
        if cost < best_cost - 1e-9:
            best, best_cost = p, cost
    return best


def space_of(pos: Mapping[str, Point], edges: Sequence[tuple[str, str, str]], conv: Sequence[str]) -> Space:
    space = Space()
    for v, p in pos.items():
        space.add_disc(v, p, radius(v, conv))
    for u, v, index in edges:
        if u in pos and v in pos:
            space.add_seg(pos[u], pos[v], u, v, index)
    return space


def place_junctions(
    pos: dict[str, Point],
    edges: Sequence[tuple[str, str, str]],
    junctions: Sequence[str],
    ideal: Mapping[str, Point],
    conv: Sequence[str],
) -> None:
    """Put each junction at the place nearest its ideal one that is clear (in order: each
    sees the ones placed before it)."""
    todo = set(junctions)
    space = space_of({v: p for v, p in pos.items() if v not in todo}, edges, conv)
    for j in junctions:
        ends = [u if v == j else v for u, v, _ in edges if j in (u, v)]
        ends = [e for e in ends if e in pos and e not in todo]
        p = _best_spot(space, pos, radius(j, conv), ends, ideal[j])
        pos[j] = p
        todo.discard(j)
        space.add_disc(j, p, radius(j, conv))
        for e in ends:
            space.add_seg(pos[e], p, e, j, j[1:])


def spread_parallel(pos: dict[str, Point], edges: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
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
        length = dist((x1, y1), (x2, y2)) or 1.0
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


def _tight(space: Space, k: int) -> tuple[str, int] | None:
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


def repair(
    pos: dict[str, Point],
    edges: list[tuple[str, str, str]],
    conv: Sequence[str],
    movable: set[str],
) -> list[tuple[str, str, str]]:
    """Lines through circles they do not end at, and lines leaving a vertex almost along one
    another: move a junction at fault (the one passed through, else one at an end) to a clear
    place, else bend the line."""
    space = space_of(pos, edges, conv)
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
                r = radius(fix, conv)
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


def _fan_clash(
    angle: float, v: str, at: Point, r: float, items: Sequence[tuple[str, str]], spread: float, space: Space
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


def least_clash(
    base: float,
    v: str,
    at: Point,
    r: float,
    items: Sequence[tuple[str, str]],
    spread: float,
    space: Space,
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
