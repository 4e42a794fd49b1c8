"""Layouts: chains, rings, trees, layers; determinism; pinned positions."""

import math

import pytest

from tnviz import Diagram, TnvizError
from tnviz.core.layout import layout

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
