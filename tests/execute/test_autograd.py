"""Autograd end to end: gradcheck on small random diagrams, and gradients equal the oracle's."""

import pytest
import torch
from oracle import reference

import tnviz

CASES = [
    ("bsxy,tsxy->btxy|xy", [(1, 2, 5, 4), (2, 2, 3, 2)], {"padding": 1, "stride": 2}),
    ("X: b s x, K1: t s x, K2: t x -> b t x | x", [(2, 2, 7), (2, 2, 3), (2, 2)], {"padding": 1, "dilation": 2}),
    (
        "X: b (s1 s2) x y, T1: s1 t1 r, T2: r s2 t2, C: r x y -> b (t1 t2) x y | x y",
        [(1, 4, 4, 4), (2, 2, 2), (2, 2, 2), (2, 3, 3)],
        {"padding": "same", "padding_mode": "circular"},
    ),
    ("b (g s) x, g t s x -> b (g t) x | x", [(2, 4, 6), (2, 2, 2, 3)], {"padding": 1, "padding_mode": "reflect"}),
    ("ir,jr,kr->ijk", [(2, 3), (3, 3), (2, 3)], {}),
    ("X: b c x y, A: c x, B: c y -> b c x | x y", [(1, 2, 5, 4), (2, 2), (2, 3)], {"padding": {"y": (1, 0)}}),
]


@pytest.mark.parametrize("spec,shapes,options", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("optimize", ["auto", "left-to-right", "reconstruct"])
def test_gradcheck(spec, shapes, options, optimize):
    tensors = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    assert torch.autograd.gradcheck(lambda *t: tnviz.einsum(spec, *t, optimize=optimize, **options), tensors)


@pytest.mark.parametrize("spec,shapes,options", CASES, ids=[c[0] for c in CASES])
def test_gradients_equal_reference(spec, shapes, options):
    tensors = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    weights = torch.randn_like(tnviz.einsum(spec, *tensors, **options))
    ours = torch.autograd.grad((tnviz.einsum(spec, *tensors, **options) * weights).sum(), tensors)
    theirs = torch.autograd.grad((reference(spec, *tensors, **options) * weights).sum(), tensors)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-9)
