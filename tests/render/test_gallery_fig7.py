"""Fig. 7A (the interleaved group convolution module: primary group conv, permutation,
secondary group conv) and Fig. 7B (the one tensorial layer) compute the same function, and
both equal the stacked ``F.conv2d`` calls of Zhang et al.'s IGC module (issue 15)."""

import pytest
import torch
import torch.nn.functional as F

import tnviz
from tnviz import Diagram, gallery
from tnviz.render import collisions

# The two stages of Fig. 7A, each a diagram of its own.
PRIMARY = "X: b (l m) x y, P: (l n) m x y -> b (l n) x y | x y"
SECONDARY = "Z: b (l n) x y, Pi: (l n) (n2 l2), S: (n2 k) l2 -> b (n2 k) x y"


def permutation(L: int, N: int) -> torch.Tensor:
    """The channel shuffle as a matrix: primary channel (l n) → secondary channel (n l)."""
    pi = torch.zeros(L * N, N * L, dtype=torch.float64)
    for l in range(L):  # noqa: E741
        for n in range(N):
            pi[l * N + n, n * L + l] = 1.0
    return pi


def igc_reference(X, P, S, L, N):
    """Zhang et al.'s module with torch calls: grouped 3×3 conv, channel shuffle, grouped 1×1 conv."""
    b, _, h, w = X.shape
    primary = F.conv2d(X, P, padding=1, groups=L)  # channels (l n)
    shuffled = primary.reshape(b, L, N, h, w).transpose(1, 2).reshape(b, N * L, h, w)  # channels (n l)
    return F.conv2d(shuffled, S[:, :, None, None], groups=N)


@pytest.mark.parametrize("L, M, K", [(2, 3, 2), (4, 2, 4), (3, 3, 1)])
def test_fig7a_module_equals_fig7b_and_the_torch_module(L, M, K):
    g = torch.Generator().manual_seed(L * 100 + M * 10 + K)
    N = M  # the primary group convolution keeps M channels per group, as in Zhang et al.
    X = torch.randn(2, L * M, 6, 5, dtype=torch.float64, generator=g)
    P = torch.randn(L * N, M, 3, 3, dtype=torch.float64, generator=g)  # nn.Conv2d(L*M, L*N, 3, groups=L).weight
    S = torch.randn(N * K, L, dtype=torch.float64, generator=g)  # nn.Conv2d(N*L, N*K, 1, groups=N).weight
    Pi = permutation(L, N)

    fig7a = Diagram.parse(gallery.fig7a_interleaved_group_module().to_spec(), padding=1)
    fig7b = Diagram.parse(gallery.fig7b_interleaved_group().to_spec(), padding=1)
    module = tnviz.einsum(fig7a, X, P, Pi, S)
    # 7A's two stages, composed
    primary = tnviz.einsum(Diagram.parse(PRIMARY, padding=1), X, P)
    staged = tnviz.einsum(Diagram.parse(SECONDARY, sizes={"l": L, "n": N, "l2": L, "n2": N}), primary, Pi, S)
    # 7B with the same weights in its layout: P[l, n, m, x, y], S[n, k, l]
    layer = tnviz.einsum(fig7b, X, P.reshape(L, N, M, 3, 3), S.reshape(N, K, L))
    want = igc_reference(X, P, S, L, N)

    assert module.shape == (2, N * K, 6, 5)
    torch.testing.assert_close(staged, module)
    torch.testing.assert_close(module, want)
    torch.testing.assert_close(layer, want)


def test_fig7_figures_share_their_sizes():
    a, b = gallery.fig7a_interleaved_group_module(), gallery.fig7b_interleaved_group()
    assert a.shape("X") == b.shape("X") and a.output_shape == b.output_shape
    assert a.shape("Pi") == (a.size("l") * a.size("n"), a.size("n2") * a.size("l2"))
    assert (a.size("l"), a.size("n")) == (a.size("l2"), a.size("n2"))
    assert not hasattr(gallery, "fig7_interleaved_group")  # one name per figure
    assert {"fig7a_interleaved_group_module", "fig7b_interleaved_group"} <= set(gallery.FIGURES)
    assert collisions(a).total == 0 and collisions(b).total == 0


def test_fig7_titles_name_the_panels():
    for name, panel in (("fig7a_interleaved_group_module", "Fig. 7A"), ("fig7b_interleaved_group", "Fig. 7B")):
        assert gallery.FIGURES[name].__doc__.split(":")[0].strip() == panel
