"""Node positions for drawing a Diagram (standard library only, deterministic).

The drawing graph has a vertex per tensor and a *junction* per index that is not a plain
two-tensor edge: a hyperedge or partial outer product (a black dot) and every convolution
(a ∗ marker between the signal and its kernels). Open legs (free indices, kept junction
indices) and stubs (summed indices) hang off vertices.

Recognised shapes, in this order: a single tensor; a *layer* (the diagram has inputs and
other tensors: inputs on the left, the rest in columns by graph distance, output legs to
the right); a *chain* (a path: tensor-train cores on a line, open legs all below); a
*ring* (a cycle: a regular polygon, legs outward); a *tree* (stars and Tucker-like trees:
the hub in the middle); otherwise a deterministic force-directed layout. Pinned positions
are kept and the positions used are returned, so a picture can be fixed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tnviz.core.diagram import Diagram, default_inputs
from tnviz.errors import TnvizError

__all__ = ["Layout", "Leg", "layout", "drawing_graph", "LEG_LENGTH"]

LEG_LENGTH = 0.6
Point = tuple[float, float]


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
    Deterministic; grids and meshes come out unfolded, unlike a spring layout from a circle."""
    n = len(vertices)
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


def _leg_directions(
    legs: Sequence[tuple[str, str, str]],
    pos: Mapping[str, Point],
    adj: Mapping[str, list[str]],
    rule: Mapping[str, Point | str],
    segments: list[tuple[Point, Point]] | None = None,
) -> list[Leg]:
    """Point each vertex's legs by its rule — a fixed direction, ``"outward"`` from a centre
    given as ``rule["centre"]``, or away from its neighbours — fanned out when several."""
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
        if how == "away" and segments is not None:
            base = _least_crossing(base, (x, y), len(items), spread, segments)
        for k, (index, kind) in enumerate(items):
            angle = base + (k - (len(items) - 1) / 2) * spread
            direction = (round(math.cos(angle), 12), round(math.sin(angle), 12))
            result.append(Leg(v, index, kind, direction))
            if segments is not None:
                reach = LEG_LENGTH + 0.6  # the leg and its label
                segments.append(((x, y), (x + direction[0] * reach, y + direction[1] * reach)))
    return result


def _crosses(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    def orient(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def _distance(point: Point, a: Point, b: Point) -> float:
    """Distance from a point to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy or 1e-12
    t = max(0.0, min(1.0, ((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / length2))
    return math.hypot(point[0] - a[0] - t * dx, point[1] - a[1] - t * dy)


def _least_crossing(base: float, at: Point, count: int, spread: float, segments: list) -> float:
    """Turn a fan of legs (and their labels) to the angle, nearest ``base``, that crosses the
    fewest drawn lines."""
    best, best_score = base, None
    reach = LEG_LENGTH + 0.6
    for turn in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6):
        angle = base + turn * math.pi / 12
        hits = 0
        for k in range(count):
            a = angle + (k - (count - 1) / 2) * spread
            end = (at[0] + math.cos(a) * reach, at[1] + math.sin(a) * reach)
            hits += sum(_crosses(at, end, p, q) for p, q in segments if at not in (p, q))
            for t in (0.5, 1.0):  # running close beside a line, its own edges included, is nearly as bad
                probe = (at[0] + (end[0] - at[0]) * t, at[1] + (end[1] - at[1]) * t)
                hits += 0.5 * sum(_distance(probe, p, q) < 0.3 for p, q in segments)
        if best_score is None or hits < best_score:
            best, best_score = angle, hits
        if hits == 0:
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
    """Parameters in columns by graph distance from the inputs; within a column a tensor
    linked to two column-mates sits between them; hubs (hyperedges among parameters) to
    the right of their holders; open legs point right."""
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
    columns: dict[int, list[str]] = {}
    for t in params:
        columns.setdefault(max(1, depth.get(t, 1)), []).append(t)
    pos: dict[str, Point] = {}
    for col_index, d in enumerate(sorted(columns)):
        col = columns[d]
        if col_index:
            col.sort(key=lambda v: sum(pos[w][1] for w in _tensor_nbrs(adj, v) if w in pos) or 0.0, reverse=True)
        for v in list(col):
            mates = [w for w in adj[v] if w in col and w != v]  # plain edges only
            if len(mates) >= 2:
                col.remove(v)
                col.insert(len(col) // 2, v)
        for k, v in enumerate(col):
            pos[v] = (2.2 * col_index, -1.5 * (k - (len(col) - 1) / 2))
    for k, j in enumerate(inner):
        members = [pos[h] for h in holders[j]]
        pos[j] = (max(p[0] for p in members) + 2.4 + 0.5 * k, sum(p[1] for p in members) / len(members) - 0.4 * k)
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
    input between them (several on one pair spread apart)."""
    tensors = list(diagram.tensor_names)
    params = [t for t in tensors if t not in inputs]
    holders = {v: {a for a, b, _ in edges if b == v} | {b for a, b, _ in edges if a == v} for v in vertices}
    inner = [v for v in vertices if v.startswith("#") and holders[v] <= set(params)]
    block = params + inner
    kind, pos, rule = _shape(adj, block, vertical=True)
    bends: dict[tuple[str, str, str], tuple[Point, ...]] = {}
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
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    shift_x = 2.6 - min(xs)
    mid_y = (min(ys) + max(ys)) / 2
    pos = {v: (p[0] + shift_x, p[1] - mid_y) for v, p in pos.items()}
    bends = {e: tuple((p[0] + shift_x, p[1] - mid_y) for p in ps) for e, ps in bends.items()}
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
        norm = math.hypot(dx, dy) or 1.0
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
    for name in inputs:
        rule[name] = (-1.0, 0.0)
    for j in outer:
        rule.pop(j, None)
    return pos, rule, bends


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
    if inputs and len(diagram.tensors) > len(inputs):
        kind = "layer"
        pos, rule, bends = _layer(adj, vertices, edges, inputs, diagram)
        for (u, v, index), points in bends.items():  # an edge drawn in segments via bends
            names = [f"~{index}:{k}" for k in range(len(points))]
            pos.update(zip(names, points))
            chain = [u, *names, v]
            edges = [e for e in edges if e[2] != index] + [(a, b, index) for a, b in zip(chain, chain[1:])]
    else:
        kind, pos, rule = _shape(adj, vertices)
        if kind == "force" and pinned:
            pos = _force_positions(adj, vertices, pinned)
    pos = {v: (round(p[0], 9) + 0.0, round(p[1], 9) + 0.0) for v, p in pos.items()}
    pos.update({v: (float(p[0]), float(p[1])) for v, p in pinned.items()})
    # Legs with a fixed rule go first; free ones then turn away from every line drawn so far.
    segments = [(pos[u], pos[v]) for u, v, _ in edges]
    fixed = [leg for leg in legs if leg[0] in rule]
    free = [leg for leg in legs if leg[0] not in rule]
    leg_objects = _leg_directions(fixed, pos, adj, rule, segments) + _leg_directions(free, pos, adj, rule, segments)
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
