"""Where the vertices of a plain graph go, before anything is cleared: the recognised shapes (a
single vertex, a chain, a ring, a tree) and otherwise a deterministic force-directed layout
(stress majorization; sparse stress from ``SPARSE_FROM`` vertices). Standard library only;
:mod:`tnviz.render.layout` draws a Diagram with them."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

from tnviz.render.geometry import Point


def adjacency(vertices: Sequence[str], edges: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
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


def cycle_order(adj: Mapping[str, list[str]], vertices: Sequence[str]) -> list[str] | None:
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
    """Radial tree: its centre (the vertex nearest to every other; of those, the one of highest
    degree) in the middle, subtrees in angular sectors — a binary tree network is drawn around its
    top tensor, a CP or Tucker layer around its hub."""
    depth = {v: max(_bfs(adj, v).values()) for v in vertices}
    root = min(vertices, key=lambda v: (depth[v], -len(adj[v]), vertices.index(v)))
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


def force_positions(
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


def _pivots(adj: Mapping[str, list[str]], vertices: Sequence[str], pivots: int) -> tuple[list[str], list[dict]]:
    """Up to ``pivots`` vertices spread by max-min distance (a peripheral one first), and each
    one's graph distances."""
    order = {v: k for k, v in enumerate(vertices)}
    first = _bfs(adj, vertices[0])
    current = max(vertices, key=lambda v: (first.get(v, -1), -order[v]))  # a peripheral vertex
    centres: list[str] = []
    rows: list[dict[str, int]] = []
    nearest = {v: math.inf for v in vertices}
    for _ in range(min(pivots, len(vertices))):
        row = _bfs(adj, current)
        centres.append(current)
        rows.append(row)
        for v in vertices:
            nearest[v] = min(nearest[v], row.get(v, math.inf))
        current = max(vertices, key=lambda v: (nearest[v], -order[v]))  # the farthest from all so far
        if nearest[current] == 0:
            break
    return centres, rows


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
    centres, rows = _pivots(adj, vertices, pivots)
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


def shape_positions(adj: Mapping[str, list[str]], vertices: list[str], vertical: bool = False):
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
    if len(comps) == 1 and (order := cycle_order(sub, vertices)) is not None:
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
    return "force", force_positions(sub, vertices, {}), {}
