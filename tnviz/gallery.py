"""The figures of *Tensorial Neural Networks* (Su et al., 2022) as Diagrams.

Each function returns a Diagram with sizes bound, ready to draw, plan or run;
:data:`FIGURES` lists them all by name. ``python -m tnviz.gallery docs/gallery`` renders
every one to PNG and SVG.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tnviz.core.diagram import Diagram

_FIGURE_NAMES = (
    "fig2_scalar",
    "fig2_vector",
    "fig2_matrix",
    "fig2_tensor",
    "fig3_contraction",
    "fig3_partial_outer_product",
    "fig3_convolution",
    "fig3_contraction_grad_a",
    "fig3_contraction_grad_b",
    "fig3_partial_outer_product_grad_a",
    "fig3_partial_outer_product_grad_b",
    "fig3_convolution_grad_a",
    "fig3_convolution_grad_b",
    "fig3_strided_convolution",
    "fig3_strided_convolution_grad_c",
    "fig4_conv1d_layer",
    "fig4_cp",
    "fig4_tensor_ring",
    "fig5_standard",
    "fig5_mcp",
    "fig5_mtk",
    "fig5_mtt",
    "fig5_mtr",
    "fig7a_interleaved_group_module",
    "fig7b_interleaved_group",
    "fig8_bottleneck",
)
__all__ = ["FIGURES", *_FIGURE_NAMES]


def fig2_scalar() -> Diagram:
    """Fig. 2a: a scalar — a tensor with no legs."""
    return Diagram.parse("a: -> ")


def fig2_vector() -> Diagram:
    """Fig. 2b: a vector — one leg."""
    return Diagram.parse("v: i -> i", sizes={"i": 4})


def fig2_matrix() -> Diagram:
    """Fig. 2c: a matrix — two legs."""
    return Diagram.parse("M: i j -> i j", sizes={"i": 4, "j": 3})


def fig2_tensor() -> Diagram:
    """Fig. 2d: a third-order tensor — three legs."""
    return Diagram.parse("T: i j k -> i j k", sizes={"i": 4, "j": 3, "k": 2})


def fig3_contraction() -> Diagram:
    """Fig. 3a: mode-(k, k) contraction of a 3rd-order and a 2nd-order tensor."""
    return Diagram.parse("A: i j k, B: k l -> i j l", sizes={"i": 4, "j": 3, "k": 5, "l": 2})


def fig3_partial_outer_product() -> Diagram:
    """Fig. 3b: partial outer product along k (a black dot with an open leg)."""
    return Diagram.parse("A: i j k, B: k l -> i j k l", sizes={"i": 4, "j": 3, "k": 5, "l": 2})


def fig3_convolution() -> Diagram:
    """Fig. 3c: convolution of two tensors along k (an edge marked ∗)."""
    return Diagram.parse("A: i j k, B: k l -> i j k l | k", sizes={"i": 4, "j": 3, "l": 2, "k": (8, 3)})


def fig3_contraction_grad_a() -> Diagram:
    """Fig. 3a, ∂L/∂A: the gradient of the contraction — B contracted with the upstream gradient G."""
    return fig3_contraction().grad("A")


def fig3_contraction_grad_b() -> Diagram:
    """Fig. 3a, ∂L/∂B: the gradient of the contraction — A contracted with G over i and j."""
    return fig3_contraction().grad("B")


def fig3_partial_outer_product_grad_a() -> Diagram:
    """Fig. 3b, ∂L/∂A: the gradient of the partial outer product — k stays shared with G."""
    return fig3_partial_outer_product().grad("A")


def fig3_partial_outer_product_grad_b() -> Diagram:
    """Fig. 3b, ∂L/∂B: the gradient of the partial outer product — A and G share k and sum i, j."""
    return fig3_partial_outer_product().grad("B")


def fig3_convolution_grad_a() -> Diagram:
    """Fig. 3c, ∂L/∂A: the gradient of the convolution — G correlated with the flipped kernel B (⊛)."""
    return fig3_convolution().grad("A")


def fig3_convolution_grad_b() -> Diagram:
    """Fig. 3c, ∂L/∂B: the gradient of the convolution — the signal A correlated with G as the kernel."""
    return fig3_convolution().grad("B")


def fig3_strided_convolution() -> Diagram:
    """Fig. 3c with stride 2 (beyond the paper): a kernel B on k, a factor C off it."""
    return Diagram.parse(
        "A: i k, B: k r, C: r j -> i j k | k", sizes={"i": 3, "r": 2, "j": 2, "k": (9, 3)}, stride=2, padding=1
    )


def fig3_strided_convolution_grad_c() -> Diagram:
    """Fig. 3c with stride 2, ∂L/∂C: G joins the kernels with its taps 2 apart (``dil 2``)."""
    return fig3_strided_convolution().grad("C")


def fig4_conv1d_layer() -> Diagram:
    """Fig. 4a: a 1-D convolutional layer, ``Y[b,t,x] = Σ_s X[b,s,x] ∗ K[t,s,x]``."""
    return Diagram.parse("X: b s x, K: t s x -> b t x | x", sizes={"b": 8, "s": 16, "t": 32, "x": (64, 3)}, padding=1)


def fig4_cp() -> Diagram:
    """Fig. 4b: a CP decomposition of a 3rd-order tensor (a hyperedge r)."""
    return Diagram.parse("A: i r, B: j r, C: k r -> i j k", sizes={"i": 8, "j": 6, "k": 4, "r": 3})


def fig4_tensor_ring() -> Diagram:
    """Fig. 4c: a tensor-ring decomposition of a 4th-order tensor."""
    return Diagram.parse(
        "G1: r0 i r1, G2: r1 j r2, G3: r2 k r3, G4: r3 l r0 -> i j k l",
        sizes={"i": 4, "j": 4, "k": 4, "l": 4, "r0": 3, "r1": 3, "r2": 3, "r3": 3},
    )


_LAYER = {"b": 32, "x": (32, 3), "y": (32, 3)}


def _fig5(name: str) -> Diagram:
    """A layer of Fig. 5 from the format registry: 64 → 64 channels, 3×3, a batch of 32
    32×32 images."""
    from tnviz.core.formats import paper_layer

    built = paper_layer(name)
    return Diagram.from_spec(built.structure, sizes={**built.sizes, **_LAYER}, padding=1)


def fig5_standard() -> Diagram:
    """Fig. 5a: the standard 2-D convolutional layer, 64 → 64 channels, 3×3."""
    return _fig5("dense")


def fig5_mcp() -> Diagram:
    """Fig. 5b: the reshaped-CP (mCP) layer, channels 64 = 4·4·4, rank 64."""
    return _fig5("mcp")


def fig5_mtk() -> Diagram:
    """Fig. 5c: the reshaped-Tucker (mTK) layer, channels 64 = 8·8, ranks 4."""
    return _fig5("mtk")


def fig5_mtt() -> Diagram:
    """Fig. 5d: the reshaped tensor-train (mTT) layer, the spatial core last."""
    return _fig5("mtt")


def fig5_mtr() -> Diagram:
    """Fig. 5e: the reshaped tensor-ring (mTR) layer: the mTT cores closed into a ring."""
    return _fig5("mtr")


def fig7a_interleaved_group_module() -> Diagram:
    """Fig. 7A: the interleaved group convolution module (Zhang et al.'s IGC) as it is built.

    Two successive group convolutions with a channel permutation between them, each tensor in
    its PyTorch layout: the input's L·M channels in L groups of M, ``(l m)``; the primary
    group convolution ``P`` (the weight of ``nn.Conv2d(L*M, L*N, 3, groups=L)``: L groups of
    M → N channels, convolved in x and y); the permutation ``Pi``, the 0/1 matrix that sends
    primary output channel ``(l n)`` to secondary input channel ``(n2 l2)`` (a channel
    shuffle); the secondary group convolution ``S`` (the weight of the 1×1
    ``nn.Conv2d(N*L, N*K, 1, groups=N)``: N groups of L → K channels). Here N = M and K = L,
    as in Zhang et al.: M groups of L channels in the second stage.

    Contracting ``Pi`` (l2 = l, n2 = n) leaves Fig. 7B; tests/render/test_gallery_fig7.py
    checks that the two and the stacked ``F.conv2d`` calls compute the same function.
    """
    return Diagram.parse(
        "X: b (l m) x y, P: (l n) m x y, Pi: (l n) (n2 l2), S: (n2 k) l2 -> b (n2 k) x y | x y",
        sizes={**_LAYER, "l": 4, "m": 16, "n": 16, "k": 4, "l2": 4, "n2": 16},
        padding=1,
    )


def fig7b_interleaved_group() -> Diagram:
    """Fig. 7B: an interleaved group convolution as one tensorial layer.

    Input channels split into L groups of M; the primary kernel P convolves within each
    group (the group index l joins X, P and S at one black dot), the secondary S mixes across
    groups for each primary output channel n (n is a partial outer product of P and S: a
    black dot with an open leg). It is Fig. 7A's module with the permutation contracted away.
    """
    return Diagram.parse(
        "X: b (l m) x y, P: l n m x y, S: n k l -> b (n k) x y | x y",
        sizes={**_LAYER, "l": 4, "m": 16, "n": 16, "k": 4},
        padding=1,
    )


def fig8_bottleneck() -> Diagram:
    """Fig. 8: a bottleneck module (1×1 reduce, 3×3, 1×1 expand) is a Tucker-2 layer."""
    return Diagram.parse(
        "X: b s x y, U: s p, G: p q x y, V: q t -> b t x y | x y",
        sizes={**_LAYER, "s": 256, "t": 256, "p": 64, "q": 64},
        padding=1,
    )


FIGURES: dict[str, Callable[[], Diagram]] = {name: globals()[name] for name in _FIGURE_NAMES}


def render_gallery(folder: str) -> list[str]:
    """Render every figure to ``folder/NAME.png`` and ``.svg`` (graphviz when present)."""
    import os

    os.makedirs(folder, exist_ok=True)
    written = []
    for name, make in FIGURES.items():
        diagram = make()
        title = (make.__doc__ or name).split(":")[0].strip()
        # a gradient diagram: its upstream gradient G in green
        style = {"highlight": ("G",)} if "_grad_" in name else {}
        for ext in ("svg", "png"):
            path = os.path.join(folder, f"{name}.{ext}")
            diagram.save(path, title=title, **style)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in render_gallery(sys.argv[1] if len(sys.argv) > 1 else "docs/gallery"):
        print(path)
