"""Layouts: chains, rings, trees, layers; determinism; pinned positions."""

import math

import pytest

from tnviz import Diagram, TnvizError
from tnviz.render.layout import layout

TT6 = "G1: i1 r1, G2: r1 i2 r2, G3: r2 i3 r3, G4: r3 i4 r4, G5: r4 i5 r5, G6: r5 i6 -> i1 i2 i3 i4 i5 i6"
TR6 = "G1: r0 i1 r1, G2: r1 i2 r2, G3: r2 i3 r3, G4: r3 i4 r4, G5: r4 i5 r5, G6: r5 i6 r0 -> i1 i2 i3 i4 i5 i6"


def test_tensor_train_is_a_line_with_legs_on_one_side():
    lay = layout(Diagram.parse(TT6))
    assert lay.kind == "chain"
    ys = {round(lay.positions[f"G{k}"][1], 9) for k in range(1, 7)}
    assert len(ys) == 1
    xs = [lay.positions[f"G{k}"][0] for k in range(1, 7)]
    assert xs == sorted(xs)
    assert all(leg.direction[1] < 0 for leg in lay.legs)  # every open leg points down
    assert len(lay.legs) == 6


def _convex(points):
    signs = set()
    n = len(points)
    for k in range(n):
        (x1, y1), (x2, y2), (x3, y3) = points[k], points[(k + 1) % n], points[(k + 2) % n]
        cross = (x2 - x1) * (y3 - y2) - (y2 - y1) * (x3 - x2)
        signs.add(cross > 0)
    return len(signs) == 1


def test_tensor_ring_is_a_convex_polygon_with_legs_outward():
    lay = layout(Diagram.parse(TR6))
    assert lay.kind == "ring"
    points = [lay.positions[f"G{k}"] for k in range(1, 7)]
    assert _convex(points)
    cx = sum(p[0] for p in points) / 6
    cy = sum(p[1] for p in points) / 6
    for leg in lay.legs:
        x, y = lay.positions[leg.node]
        assert (x - cx) * leg.direction[0] + (y - cy) * leg.direction[1] > 0


def test_cp_is_a_star_around_its_hyperedge_and_tucker_a_tree_around_its_core():
    cp = layout(Diagram.parse("A: i r, B: j r, C: k r -> i j k"))
    assert cp.kind == "tree" and cp.positions["#r"] == (0.0, 0.0)
    tucker = layout(Diagram.parse("G: a b c, U: i a, V: j b, W: k c -> i j k"))
    assert tucker.kind == "tree" and tucker.positions["G"] == (0.0, 0.0)


def test_layer_puts_the_input_left_and_convolutions_between():
    lay = layout(Diagram.parse("X: b s x y, K: t s x y -> b t x y | x y"))
    assert lay.kind == "layer"
    assert lay.positions["X"][0] < lay.positions["#x"][0] < lay.positions["K"][0]
    (x_leg,) = [leg for leg in lay.legs if leg.node == "X"]
    assert x_leg.direction[0] < 0  # the batch leg points left


def test_same_diagram_same_positions():
    for spec in (
        TT6,
        TR6,
        "ab,bc,ca,cd,de,eb->",
        "X: b (s1 s2) x y, T1: s1 t1 r1, T2: r1 s2 t2 r2, C: r2 x y -> b (t1 t2) x y | x y",
    ):
        assert layout(Diagram.parse(spec)).positions == layout(Diagram.parse(spec)).positions


def test_force_layout_for_other_graphs_keeps_pins():
    spec = "ab,bc,ca,cd,de,eb->"
    free = layout(Diagram.parse(spec))
    assert free.kind == "force"
    pinned = layout(Diagram.parse(spec), pinned={"A": (5.0, 5.0), "D": (-3.0, 1.0)})
    assert pinned.positions["A"] == (5.0, 5.0) and pinned.positions["D"] == (-3.0, 1.0)
    assert pinned.positions["B"] != free.positions["B"]
    chain = layout(Diagram.parse(TT6), pinned={"G3": (1.0, 2.0)})
    assert chain.positions["G3"] == (1.0, 2.0)


def test_positions_are_spread_apart():
    lay = layout(Diagram.parse("ab,bc,ca,cd,de,eb->"))
    pts = list(lay.positions.values())
    assert min(math.dist(p, q) for k, p in enumerate(pts) for q in pts[k + 1 :]) > 0.5


def test_bad_pins_are_refused():
    with pytest.raises(TnvizError, match="pinned names 'Q'"):
        layout(Diagram.parse(TT6), pinned={"Q": (0, 0)})
    with pytest.raises(TnvizError, match="must be"):
        layout(Diagram.parse(TT6), pinned={"G1": (0, float("nan"))})


def test_a_tucker_core_gets_its_own_column_and_a_cp_hub_sits_between_its_factors():
    # mTK: the core G joins three column-mates U1..U3; it moves a column on, V1..V3 after it.
    mtk = layout(
        Diagram.parse(
            "X: b (s1 s2 s3) x y, U1: s1 p1, U2: s2 p2, U3: s3 p3, G: p1 p2 p3 q1 q2 q3 x y, "
            "V1: q1 t1, V2: q2 t2, V3: q3 t3 -> b (t1 t2 t3) x y | x y"
        )
    ).positions
    assert mtk["X"][0] < mtk["U1"][0] == mtk["U2"][0] == mtk["U3"][0] < mtk["G"][0] < mtk["V1"][0] == mtk["V3"][0]
    # A CP layer: the factors that meet X, then the hub, then the output factor C.
    cp = layout(Diagram.parse("X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y")).positions
    assert cp["X"][0] < cp["A"][0] == cp["Kx"][0] == cp["Ky"][0] < cp["#r"][0] < cp["C"][0]


def _through(lay, radius=0.3):
    """Pairs (edge, vertex) where an edge's segment passes within ``radius`` of a tensor it does
    not end at."""
    hits = []
    for u, v, index in lay.edges:
        (x1, y1), (x2, y2) = lay.positions[u], lay.positions[v]
        for w, (x, y) in lay.positions.items():
            if w in (u, v) or w.startswith(("~", "#")):
                continue
            dx, dy = x2 - x1, y2 - y1
            t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
            if math.dist((x, y), (x1 + t * dx, y1 + t * dy)) < radius:
                hits.append((index, w))
    return hits


def test_edges_between_one_pair_are_bowed_apart_and_edges_bend_around_tensors():
    ring2 = layout(Diagram.parse("X: b s, G0: r0 s r1, G1: r1 t r0 -> b t"))
    bows = [v for v in ring2.positions if v.startswith("~")]
    assert len(bows) == 2  # r0 and r1 each through a bend, on either side of the straight line
    (xa, ya), (xb, yb) = ring2.positions["G0"], ring2.positions["G1"]
    sides = [(xb - xa) * (p[1] - ya) - (yb - ya) * (p[0] - xa) for p in (ring2.positions[b] for b in bows)]
    assert sides[0] * sides[1] < 0
    # An edge A-B with C pinned on it: drawn around C.
    pinned = layout(Diagram.parse("A: i, B: i j, C: j -> "), pinned={"A": (0, 0), "B": (3, 0), "C": (1.5, 0)})
    assert pinned.positions["C"] == (1.5, 0.0)
    assert any(v.startswith("~i:") for v in pinned.positions) and _through(pinned) == []


def test_a_large_network_lays_out_with_bounded_work(monkeypatch):
    # 200 tensors: sparse stress (a few BFS pivots, not one BFS per vertex) and a bounded budget
    # for clearing collisions, so that it stays well under a second (timed in benchmarks).
    import random

    import tnviz.render.clearance as clearance_module
    import tnviz.render.shapes as shapes_module

    rng = random.Random(0)
    names = [f"T{k}" for k in range(200)]
    held = {t: [f"o{k}"] for k, t in enumerate(names)}
    for k in range(1, 240):  # a random tree, and 40 edges more: a force layout
        a, b = (names[k], names[rng.randrange(k)]) if k < 200 else rng.sample(names, 2)
        held[a].append(f"e{k}")
        held[b].append(f"e{k}")
    spec = ", ".join(f"{t}: {' '.join(ix)}" for t, ix in held.items()) + " -> " + " ".join(f"o{k}" for k in range(200))
    calls = {"bfs": 0, "spots": 0}
    bfs, spot = shapes_module._bfs, clearance_module._spot_cost

    def counted_bfs(*args):
        calls["bfs"] += 1
        return bfs(*args)

    def counted_spot(*args, **kwargs):
        calls["spots"] += 1
        return spot(*args, **kwargs)

    monkeypatch.setattr(shapes_module, "_bfs", counted_bfs)
    monkeypatch.setattr(clearance_module, "_spot_cost", counted_spot)
    lay = layout(Diagram.parse(spec))
    assert lay.kind == "force" and calls["bfs"] <= 20
    assert calls["spots"] <= 3 * clearance_module.WORK_BUDGET
    assert len(lay.legs) == 200
