"""tnviz.einsum against F.conv*d, torch.einsum and reconstruct-the-kernel, in float64."""

import pytest
import torch
import torch.nn.functional as F
from oracle import reference

import tnviz

D = torch.float64


def _rand(*shape):
    return torch.randn(*shape, dtype=D)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"padding": 1},
        {"padding": 2, "stride": 2},
        {"padding": 1, "dilation": 2},
        {"padding": 3, "stride": 3, "dilation": 2},
        {"padding": "same"},
        {"padding": "same", "dilation": 2},
        {"padding": "valid"},
        {"padding": (1, 2), "stride": (2, 1)},
    ],
)
@pytest.mark.parametrize("optimize", ["auto", "left-to-right", "reconstruct"])
def test_conv2d_equals_F_conv2d(options, optimize):
    X, K = _rand(2, 3, 11, 10), _rand(4, 3, 3, 2)
    got = tnviz.einsum("bsxy,tsxy->btxy|xy", X, K, optimize=optimize, **options)
    assert torch.allclose(got, F.conv2d(X, K, **options), atol=1e-10)


def test_same_padding_even_kernel():
    X, K = _rand(2, 3, 9, 8), _rand(4, 3, 4, 2)
    got = tnviz.einsum("bsxy,tsxy->btxy|xy", X, K, padding="same")
    assert torch.allclose(got, F.conv2d(X, K, padding="same"), atol=1e-10)


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_padding_modes_equal_nn_conv2d(mode):
    conv = torch.nn.Conv2d(3, 4, 3, padding=2, padding_mode=mode, bias=False, dtype=D)
    X = _rand(2, 3, 8, 9)
    got = tnviz.einsum("bsxy,tsxy->btxy|xy", X, conv.weight, padding=2, padding_mode=mode)
    assert torch.allclose(got, conv(X), atol=1e-10)


def test_circular_same_equals_nn_conv2d():
    conv = torch.nn.Conv2d(3, 4, 3, padding="same", padding_mode="circular", bias=False, dtype=D)
    X = _rand(2, 3, 8, 9)
    got = tnviz.einsum(
        "X: b s x y, K: t s x y -> b t x y | x y", X, conv.weight, padding="same", padding_mode="circular"
    )
    assert torch.allclose(got, conv(X), atol=1e-10)


@pytest.mark.parametrize("g", [1, 2, 4])
def test_grouped_conv_equals_F_conv2d_groups(g):
    s, t = 3, 2
    X, K = _rand(2, g * s, 7, 7), _rand(g, t, s, 3, 3)
    got = tnviz.einsum("b (g s) x y, g t s x y -> b (g t) x y | x y", X, K, padding=1, stride=2)
    want = F.conv2d(X, K.reshape(g * t, s, 3, 3), padding=1, stride=2, groups=g)
    assert torch.allclose(got, want, atol=1e-10)


def test_depthwise_is_partial_outer_product():
    X, K = _rand(2, 5, 9, 9), _rand(5, 3, 3)
    got = tnviz.einsum("bcxy,cxy->bcxy|xy", X, K, padding=1)
    assert torch.allclose(got, F.conv2d(X, K[:, None], padding=1, groups=5), atol=1e-10)


@pytest.mark.parametrize("options", [{}, {"padding": 2, "stride": 2, "dilation": 2}, {"padding": "same"}])
def test_conv1d_and_conv3d(options):
    X, K = _rand(2, 3, 13), _rand(4, 3, 3)
    assert torch.allclose(tnviz.einsum("bsx,tsx->btx|x", X, K, **options), F.conv1d(X, K, **options), atol=1e-10)
    X, K = _rand(2, 3, 7, 6, 5), _rand(4, 3, 3, 2, 3)
    got = tnviz.einsum("b s x y z, t s x y z -> b t x y z | x y z", X, K, **options)
    assert torch.allclose(got, F.conv3d(X, K, **options), atol=1e-10)


def test_grouped_conv1d_and_conv3d():
    X, K = _rand(2, 6, 11), _rand(3, 2, 2, 3)
    want = F.conv1d(X, K.reshape(6, 2, 3), groups=3, padding=1)
    assert torch.allclose(tnviz.einsum("b (g s) x, g t s x -> b (g t) x | x", X, K, padding=1), want, atol=1e-10)
    X, K = _rand(1, 4, 5, 5, 5), _rand(2, 3, 2, 3, 3, 3)
    want = F.conv3d(X, K.reshape(6, 2, 3, 3, 3), groups=2, stride=2)
    got = tnviz.einsum("b (g s) x y z, g t s x y z -> b (g t) x y z | x y z", X, K, stride=2)
    assert torch.allclose(got, want, atol=1e-10)


@pytest.mark.parametrize(
    "spec,shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
        ("ijk,jl,kl->il", [(2, 3, 4), (3, 5), (4, 5)]),
        ("ij,ij->ij", [(3, 4), (3, 4)]),
        ("ij,ij->", [(3, 4), (3, 4)]),
        ("ij->ji", [(3, 4)]),
        ("ijk->j", [(3, 4, 2)]),
        ("i,j->ij", [(3,), (4,)]),
        ("ir,jr,kr->ijk", [(3, 2), (4, 2), (5, 2)]),
        ("ab,bc,cd,de,ef,fa->", [(2, 3), (3, 4), (4, 2), (2, 3), (3, 2), (2, 2)]),
        ("ij,jk", [(3, 4), (4, 5)]),
    ],
)
def test_pure_contractions_equal_torch_einsum(spec, shapes):
    tensors = [_rand(*s) for s in shapes]
    assert torch.allclose(tnviz.einsum(spec, *tensors), torch.einsum(spec, *tensors), atol=1e-10)


def test_many_operand_contraction_uses_opt_einsum_path():
    # 10 operands: beyond the exhaustive search, opt_einsum supplies the path.
    spec = "ab,bc,cd,de,ef,fg,gh,hi,ij,ja->"
    tensors = [_rand(3, 3) for _ in range(10)]
    assert torch.allclose(tnviz.einsum(spec, *tensors), torch.einsum(spec, *tensors), atol=1e-9)


MCP = "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y"
MTT = "X: b (s1 s2) x y, T1: s1 t1 r1, T2: r1 s2 t2 r2, C: r2 x y -> b (t1 t2) x y | x y"
MTR = "X: b (s1 s2) x y, T1: r0 s1 t1 r1, T2: r1 s2 t2 r2, C: r2 x y r0 -> b (t1 t2) x y | x y"


@pytest.mark.parametrize("optimize", ["auto", "left-to-right", "reconstruct", "greedy"])
def test_reshaped_layers_equal_reconstruct_then_conv2d(optimize):
    X = _rand(2, 2 * 3 * 2, 8, 8)
    A1, A2, A3, C = _rand(4, 2, 3), _rand(4, 3, 2), _rand(4, 2, 2), _rand(4, 3, 3)
    kernel = torch.einsum("rad,rbe,rcf,rxy->defabcxy", A1, A2, A3, C).reshape(12, 12, 3, 3)
    got = tnviz.einsum(MCP, X, A1, A2, A3, C, padding=1, optimize=optimize)
    assert torch.allclose(got, F.conv2d(X, kernel, padding=1), atol=1e-9)

    X = _rand(2, 6, 8, 8)
    T1, T2, C = _rand(2, 3, 4), _rand(4, 3, 2, 5), _rand(5, 3, 3)
    kernel = torch.einsum("acp,pbdq,qxy->cdabxy", T1, T2, C).reshape(6, 6, 3, 3)
    got = tnviz.einsum(MTT, X, T1, T2, C, stride=2, padding=1, optimize=optimize)
    assert torch.allclose(got, F.conv2d(X, kernel, stride=2, padding=1), atol=1e-9)

    T1, T2, C = _rand(3, 2, 3, 4), _rand(4, 3, 2, 5), _rand(5, 3, 3, 3)
    kernel = torch.einsum("oacp,pbdq,qxyo->cdabxy", T1, T2, C).reshape(6, 6, 3, 3)
    got = tnviz.einsum(MTR, X, T1, T2, C, padding="same", optimize=optimize)
    assert torch.allclose(got, F.conv2d(X, kernel, padding="same"), atol=1e-9)


def test_multi_kernel_convolution_is_correlation_with_full_convolution():
    # Two kernels on x: the result equals correlating with their true (full) convolution.
    X, K1, K2 = _rand(2, 3, 12), _rand(4, 3, 3), _rand(4, 2)
    got = tnviz.einsum("X: b s x, K1: t s x, K2: t x -> b t x | x", X, K1, K2, padding=2, stride=2)
    full = torch.stack(
        [
            torch.from_numpy(__import__("numpy").convolve(K1[t, s].numpy(), K2[t].numpy()))
            for t in range(4)
            for s in range(3)
        ]
    ).reshape(4, 3, 4)
    assert torch.allclose(got, F.conv1d(X, full, padding=2, stride=2), atol=1e-10)
    for optimize in ("left-to-right", "reconstruct", "optimal"):
        again = tnviz.einsum(
            "X: b s x, K1: t s x, K2: t x -> b t x | x", X, K1, K2, padding=2, stride=2, optimize=optimize
        )
        assert torch.allclose(again, got, atol=1e-10)


def test_separable_and_dropped_convolution_index_match_reference():
    X, A, B = _rand(2, 3, 9, 8), _rand(3, 3), _rand(3, 2)
    spec = "X: b c x y, A: c x, B: c y -> b c x | x y"  # y convolved, then summed
    assert torch.allclose(tnviz.einsum(spec, X, A, B, padding=1), reference(spec, X, A, B, padding=1), atol=1e-10)


def test_float32_and_dtype_preserved():
    X, K = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    got = tnviz.einsum("bsxy,tsxy->btxy|xy", X, K, padding=1)
    assert got.dtype == torch.float32
    assert torch.allclose(got, F.conv2d(X, K, padding=1), atol=1e-4)


def test_diagram_and_string_give_same_result():
    d = tnviz.Diagram.parse("bsxy,tsxy->btxy|xy", padding=1)
    X, K = _rand(1, 2, 5, 5), _rand(3, 2, 3, 3)
    assert torch.allclose(tnviz.einsum(d, X, K), tnviz.einsum("bsxy,tsxy->btxy|xy", X, K, padding=1))
    # a keyword overrides the diagram's own option
    assert torch.allclose(tnviz.einsum(d, X, K, padding=0), F.conv2d(X, K))


def test_integer_contractions_take_the_einsum_path():
    a = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    b = torch.arange(6 * 3).reshape(6, 3)
    assert torch.equal(tnviz.einsum("bsxy,ts->btxy", a, b), torch.einsum("bsxy,ts->btxy", a, b))


def test_channel_block_contraction_matches_einsum_in_any_layout():
    # (outer, channels, inner) layouts run as F.conv1d; others through torch.einsum.
    X = _rand(2, 3, 4, 5, 6)
    A = _rand(7, 3, 4)
    for spec in ("bcdxy,tcd->btxy", "bcdxy,tcd->bxyt", "bcdxy,dct->btxy", "bxycd,tcd->bxyt"):
        operands = (
            X if spec.startswith("bcd") else X.permute(0, 3, 4, 1, 2).contiguous(),
            A if ",tcd" in spec else A.permute(2, 1, 0).contiguous(),
        )
        assert torch.allclose(tnviz.einsum(spec, *operands), torch.einsum(spec, *operands), atol=1e-10)
