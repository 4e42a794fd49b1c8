"""The paper's convolutional layers (Su et al. 2022, Fig. 5 and the NN-CP/TK/TT/TR baselines)
as specs with ranks near 10 % of a dense 3×3 layer's parameters, for the demo and benchmarks.

Each entry maps a name to ``(spec, sizes)``; ``sizes`` binds every parameter tensor for a
64 → 64 channel 3×3 layer. The format builders with rank selection come with the layers
work (``tnviz.core.formats``); these are fixed examples.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER_LAYERS", "kernel_spec"]

_K = 3  # kernel length along x and y

PAPER_LAYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "standard": ("X: b s x y, K: t s x y -> b t x y | x y", {"s": 64, "t": 64, "K": (64, 64, _K, _K)}),
    "cp": (
        "X: b s x y, A: r s, Bx: r x, By: r y, C: r t -> b t x y | x y",
        {"s": 64, "t": 64, "r": 27, "Bx": (27, _K), "By": (27, _K)},
    ),
    "tk": (
        "X: b s x y, U: s p, G: p q x y, V: q t -> b t x y | x y",
        {"s": 64, "t": 64, "p": 14, "q": 14, "G": (14, 14, _K, _K)},
    ),
    "tt": (
        "X: b s x y, G1: s r1, G2: r1 x r2, G3: r2 y r3, G4: r3 t -> b t x y | x y",
        {"s": 64, "t": 64, "r1": 16, "r2": 16, "r3": 16, "G2": (16, _K, 16), "G3": (16, _K, 16)},
    ),
    "tr": (
        "X: b s x y, G1: r0 s r1, G2: r1 x r2, G3: r2 y r3, G4: r3 t r0 -> b t x y | x y",
        {"s": 64, "t": 64, "r0": 5, "r1": 5, "r2": 5, "r3": 5, "G2": (5, _K, 5), "G3": (5, _K, 5)},
    ),
    "mcp": (
        "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y",
        {"r": 64, "s1": 4, "s2": 4, "s3": 4, "t1": 4, "t2": 4, "t3": 4, "C": (64, _K, _K)},
    ),
    "mtk": (
        "X: b (s1 s2) x y, U1: s1 p1, U2: s2 p2, G: p1 p2 q1 q2 x y, V1: q1 t1, V2: q2 t2 -> b (t1 t2) x y | x y",
        {"s1": 8, "s2": 8, "t1": 8, "t2": 8, "p1": 4, "p2": 4, "q1": 4, "q2": 4, "G": (4, 4, 4, 4, _K, _K)},
    ),
    "mtt": (
        "X: b (s1 s2 s3) x y, T1: s1 t1 r1, T2: r1 s2 t2 r2, T3: r2 s3 t3 r3, C: r3 x y -> b (t1 t2 t3) x y | x y",
        {"s1": 4, "s2": 4, "s3": 4, "t1": 4, "t2": 4, "t3": 4, "r1": 10, "r2": 10, "r3": 10, "C": (10, _K, _K)},
    ),
    "mtr": (
        "X: b (s1 s2 s3) x y, T1: r0 s1 t1 r1, T2: r1 s2 t2 r2, T3: r2 s3 t3 r3, C: r3 x y r0 "
        "-> b (t1 t2 t3) x y | x y",
        {"s1": 4, "s2": 4, "s3": 4, "t1": 4, "t2": 4, "t3": 4, "r0": 8, "r1": 8, "r2": 8, "r3": 8, "C": (8, _K, _K, 8)},
    ),
}


def kernel_spec(spec: str) -> str:
    """The spec that reconstructs a layer's dense kernel ``t s x y`` from its parameters.

    Drops the input ``X`` and asks for the output channels, the input channels (X's
    non-batch, non-convolution modes) and the convolution indices, so that
    ``torch.einsum``-style evaluation gives the ``F.conv2d`` weight.

    Example:
        >>> kernel_spec("X: b s x y, A: r s, B: r t x y -> b t x y | x y")
        'A: r s, B: r t x y -> (t) (s) x y'
    """
    from tnviz.core.spec import format_spec, parse_spec

    parsed = parse_spec(spec)
    x, params = parsed.operands[0], parsed.operands[1:]
    conv = set(parsed.conv)
    batch = set(x.modes[0])
    t_indices = [i for i in parsed.output.indices if i not in batch | conv]
    # A group index (in X and the output channels) indexes the output channels only: the
    # weight of a grouped F.conv2d is (out_channels, in_channels / groups, kernel...).
    s_indices = [i for i in x.indices if i not in batch | conv | set(t_indices)]
    inputs = format_spec(parsed.__class__(params, parsed.output, ()), compact=False).split(" ->")[0]
    return f"{inputs} -> ({' '.join(t_indices)}) ({' '.join(s_indices)}) {' '.join(parsed.conv)}".rstrip()
