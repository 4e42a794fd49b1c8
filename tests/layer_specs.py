"""The paper's convolutional layers as specs with sizes, shared by tests, demo-like checks and benchmarks."""

LAYERS = {
    "dense": ("X: b s x y, K: t s x y -> b t x y | x y", {"K": (8, 8, 3, 3)}),
    "cp": (
        "X: b s x y, A: r s, Kx: r x, Ky: r y, C: r t -> b t x y | x y",
        {"r": 6, "s": 8, "t": 8, "x": (None, 3), "y": (None, 3)},
    ),
    "tk": (
        "X: b s x y, U: s p, G: p q x y, V: q t -> b t x y | x y",
        {"p": 4, "q": 4, "s": 8, "t": 8, "G": (4, 4, 3, 3)},
    ),
    "tt": (
        "X: b s x y, G1: s r1, G2: r1 x r2, G3: r2 y r3, G4: r3 t -> b t x y | x y",
        {"s": 8, "t": 8, "r1": 3, "r2": 3, "r3": 3, "G2": (3, 3, 3), "G3": (3, 3, 3)},
    ),
    "tr": (
        "X: b s x y, G1: r0 s r1, G2: r1 x r2, G3: r2 y r3, G4: r3 t r0 -> b t x y | x y",
        {"s": 8, "t": 8, "r0": 2, "r1": 3, "r2": 3, "r3": 3, "G2": (3, 3, 3), "G3": (3, 3, 3)},
    ),
    "mcp": (
        "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y",
        {"r": 5, "s1": 2, "s2": 2, "s3": 2, "t1": 2, "t2": 2, "t3": 2, "C": (5, 3, 3)},
    ),
    "mtk": (
        "X: b (s1 s2) x y, U1: s1 p1, U2: s2 p2, G: p1 p2 q1 q2 x y, V1: q1 t1, V2: q2 t2 -> b (t1 t2) x y | x y",
        {"s1": 2, "s2": 4, "t1": 2, "t2": 4, "p1": 2, "p2": 3, "q1": 2, "q2": 3, "G": (2, 3, 2, 3, 3, 3)},
    ),
    "mtt": (
        "X: b (s1 s2) x y, T1: s1 t1 r1, T2: r1 s2 t2 r2, C: r2 x y -> b (t1 t2) x y | x y",
        {"s1": 2, "s2": 4, "t1": 2, "t2": 4, "r1": 3, "r2": 3, "C": (3, 3, 3)},
    ),
    "mtr": (
        "X: b (s1 s2) x y, T1: r0 s1 t1 r1, T2: r1 s2 t2 r2, C: r2 x y r0 -> b (t1 t2) x y | x y",
        {"s1": 2, "s2": 4, "t1": 2, "t2": 4, "r0": 2, "r1": 3, "r2": 3, "C": (3, 3, 3, 2)},
    ),
}


def bound(name, batch=4, channels=8, length=10, padding=1):
    """The named layer's Diagram bound for a batch of ``channels``-channel ``length``² images."""
    from tnviz import Diagram

    spec, sizes = LAYERS[name]
    fixed = {}
    for key, value in sizes.items():
        if isinstance(value, tuple) and value and value[0] is None:
            fixed[key] = (length, *value[1:])
        else:
            fixed[key] = value
    d = Diagram.parse(spec, padding=padding)
    shape = (batch, channels, length, length)
    return d.bind(fixed, shapes={"X": shape})
