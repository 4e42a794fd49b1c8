"""Node positions for drawing a Diagram (standard library only, deterministic).

The drawing graph has a vertex per tensor and a *junction* per index that is not a plain
two-tensor edge: a hyperedge or partial outer product (a black dot) and every convolution
(a ∗ marker between the signal and its kernels). Open legs (free indices, kept junction
indices) and stubs (summed indices) hang off vertices.

Recognised shapes (:mod:`tnviz.render.shapes`), in this order: a single tensor; a *layer* (the diagram has inputs and
other tensors: inputs on the left, the rest in columns by graph distance, output legs to
the right); a *chain* (a path: tensor-train cores on a line, open legs all below); a
*ring* (a cycle: a regular polygon, legs outward); a *tree* (stars and Tucker-like trees:
the hub in the middle); otherwise a deterministic force-directed layout (stress
majorization; sparse stress for large networks). Pinned positions are kept and the
positions used are returned, so a picture can be fixed.

Then what would collide is cleared (:mod:`tnviz.render.clearance`; :mod:`tnviz.render.collisions` counts what
is left): junctions go to the nearest place clear of circles and lines, with their lines
not passing through circles nor leaving a vertex along another line; edges of different
indices between one pair are bowed apart; a line still through a circle moves a junction
or bends around; legs turn from their rule where they would run along a line or through
a circle. The work is bounded, so that hundreds of tensors lay out in well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tnviz.core.diagram import Diagram
from tnviz.core.inputs import checked_inputs, default_inputs
from tnviz.errors import TnvizError
from tnviz.render.clearance import (
    LABEL_ROOM,
    LEG_LENGTH,
    STUB_LENGTH,
    Space,
    dist,
    least_clash,
    place_junctions,
    radius,
    repair,
    space_of,
    spread_parallel,
)
from tnviz.render.geometry import Point
from tnviz.render.shapes import adjacency, cycle_order, force_positions, shape_positions

__all__ = ["Layout", "Leg", "layout", "drawing_graph", "drawn_inputs"]


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


def _leg_directions(
    legs: Sequence[tuple[str, str, str]],
    pos: Mapping[str, Point],
    adj: Mapping[str, list[str]],
    rule: Mapping[str, Point | str],
    space: Space,
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
        r = radius(v, conv)
        base = least_clash(base, v, (x, y), r, items, spread, space, free=how == "away")
        for k, (index, kind) in enumerate(items):
            angle = base + (k - (len(items) - 1) / 2) * spread
            direction = (round(math.cos(angle), 12), round(math.sin(angle), 12))
            result.append(Leg(v, index, kind, direction))
            reach = r + (STUB_LENGTH if kind == "stub" else LEG_LENGTH) + LABEL_ROOM
            space.add_seg((x, y), (x + direction[0] * reach, y + direction[1] * reach), v, None, index)
    return result


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
    # A broadcast output index (held by no tensor: "A: i -> i j") is a dot with an open leg,
    # drawn after everything else; the other junctions sit among the parameters (inner) or
    # between an input and the parameters (outer).
    lone = [v for v in vertices if v.startswith("#") and not holders[v]]
    inner = [v for v in vertices if v.startswith("#") and holders[v] and holders[v] <= set(params)]
    block = params + inner
    kind, pos, rule = shape_positions(adj, block, vertical=True)
    bends: dict[tuple[str, str, str], tuple[Point, ...]] = {}
    placed = []  # junctions placed by a rule of thumb, to be put where it is clear
    if kind == "ring":
        # A ring of parameters (tensor ring): the cores in a column, the closing edge bent
        # around to the right so that it passes no core.
        order = cycle_order({v: [w for w in adj[v] if w in block] for v in block}, block)
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
    outer = [v for v in vertices if v.startswith("#") and v not in inner and v not in lone]
    groups: dict[tuple[str, ...], list[str]] = {}
    for j in outer:
        groups.setdefault(tuple(sorted(holders[j])), []).append(j)
    for members, js in groups.items():
        cx = sum(pos[m][0] for m in members) / len(members)
        cy = sum(pos[m][1] for m in members) / len(members)
        a, b = pos[members[0]], pos[members[-1]]
        dx, dy = b[0] - a[0], b[1] - a[1]
        norm = dist(a, b) or 1.0
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
    right = max(p[0] for p in pos.values()) + 1.5
    for k, j in enumerate(lone):
        pos[j] = (right, -1.5 * (k - (len(lone) - 1) / 2))
    placed += sorted(outer, key=lambda j: len(holders[j]))  # pairs first: they have least room
    placed += lone
    edges = spread_parallel(pos, edges)
    place_junctions(pos, edges, placed, dict(pos), diagram.conv)
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
        inputs: activation tensors (drawn on the left of a layer), a name or a sequence of
            names; None: ``X`` if present, else the first tensor when the diagram convolves;
            ``()``: none.

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
    inputs = drawn_inputs(diagram, inputs)
    adj = adjacency(vertices, edges)
    if inputs and len(diagram.tensors) > len(inputs) and not pinned:
        kind = "layer"
        pos, rule, edges = _layer(adj, vertices, edges, inputs, diagram)
    else:
        kind, pos, rule = shape_positions(adj, vertices)
        if pinned:  # a shape's own positions (its bends, its junctions) belong to a picture without pins
            pos = force_positions(adj, vertices, pinned)
            rule = {}
    pos = {v: (round(p[0], 9) + 0.0, round(p[1], 9) + 0.0) for v, p in pos.items()}
    pos.update({v: (float(p[0]), float(p[1])) for v, p in pinned.items()})
    # Then what would still collide: edges of different indices between one pair bowed apart
    # (a layer has done so), lines through circles cleared (junctions moved, else lines bent around).
    edges = list(edges) if kind == "layer" else spread_parallel(pos, list(edges))
    movable = {v for v in vertices if v.startswith("#") and v not in pinned}
    edges = repair(pos, edges, diagram.conv, movable)
    pos = {v: (round(p[0], 9) + 0.0, round(p[1], 9) + 0.0) if v not in pinned else p for v, p in pos.items()}
    # Legs with a fixed rule go first; free ones then turn away from every line drawn so far.
    space = space_of(pos, edges, diagram.conv)
    fixed = [leg for leg in legs if leg[0] in rule]
    free = [leg for leg in legs if leg[0] not in rule]
    leg_objects = _leg_directions(fixed, pos, adj, rule, space, diagram.conv)
    leg_objects += _leg_directions(free, pos, adj, rule, space, diagram.conv)
    junctions = {v: v[1:] for v in vertices if v.startswith("#")}
    return Layout(kind, pos, edges, leg_objects, junctions)


def drawn_inputs(diagram: Diagram, inputs: Any = None) -> tuple[str, ...]:
    """The tensors drawn as inputs: ``inputs`` checked (:func:`~tnviz.core.inputs.checked_inputs`;
    ``()``: none) or, when None, the planner's inputs
    (:func:`~tnviz.core.inputs.default_inputs`) for a diagram that looks like a layer (it has
    a tensor ``X`` or convolves), none for a plain tensor network, which is drawn as a network
    of equal tensors."""
    if inputs is not None:
        return checked_inputs(inputs, diagram.tensor_names)
    if "X" in diagram.tensor_names or diagram.conv:
        return default_inputs(diagram)
    return ()
