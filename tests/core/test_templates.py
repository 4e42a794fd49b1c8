"""tnviz.templates: each network's structure, sizes and value against a dense computation."""

import pytest
import torch

import tnviz
from tnviz import TnvizError
from tnviz.templates import layer, mera, mpo, mps, norm, peps, ttn


def _values(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(tuple(d.shape(n)), generator=g, dtype=torch.float64) for n in d.tensor_names]


@pytest.mark.parametrize(
    "state",
    [mps(5, bond=3), mps(4, bond=2, phys=3, periodic=True), peps(2, 3, bond=2), ttn(3, bond=3), mera(3, bond=3)],
    ids=["mps", "mps-ring", "peps", "ttn", "mera"],
)
def test_the_norm_is_the_squared_length_of_the_dense_state(state):
    values = _values(state)
    dense = tnviz.einsum(state, *values)  # the state as one tensor over its physical legs
    squared = tnviz.einsum(norm(state), *values, *values)
    torch.testing.assert_close(squared, (dense**2).sum())
    assert dense.dim() == len(state.output.indices) and state.is_bound


def test_the_shapes_follow_the_arguments():
    chain = mps(6, bond=5, phys=3)
    assert chain.shape("A1") == (3, 5) and chain.shape("A3") == (5, 3, 5) and chain.shape("A6") == (5, 3)
    ring = mps(3, bond=4, periodic=True)
    assert ring.shape("A1") == (4, 2, 4)
    op = mpo(3, bond=4, phys=2)
    assert op.shape("W2") == (4, 2, 2, 4) and op.output_shape == (2,) * 6
    grid = peps(3, 4, bond=2, phys=3)
    assert len(grid.tensors) == 12 and grid.shape("A2_2") == (3, 2, 2, 2, 2) and grid.shape("A1_1") == (3, 2, 2)
    tree = ttn(4, bond=3)
    assert len(tree.tensors) == 15 and tree.output_shape == (2,) * 16 and tree.shape("T1_1") == (3, 3)
    ladder = mera(3, bond=3)  # 8 legs: 3 + 1 disentanglers, 4 + 2 isometries, the top
    assert len(ladder.tensors) == 11 and ladder.shape("U1_1") == (2, 2, 2, 2) and ladder.shape("W2_1") == (3, 3, 3)


def test_an_mpo_applied_to_an_mps_contracts_by_index_names():
    state, op = mps(4, bond=3), mpo(4, bond=2)
    x, w = _values(state), _values(op, seed=1)
    dense_state = tnviz.einsum(state, *x)
    dense_op = tnviz.einsum(op, *w)  # (p1..p4, q1..q4)
    applied = torch.einsum("abcd,abcdefgh->efgh", dense_state, dense_op)
    joined = ", ".join(t.to_spec(compact=False).split(" -> ")[0] for t in (state, op))
    spec = joined + " -> q1 q2 q3 q4"
    torch.testing.assert_close(tnviz.einsum(spec, *x, *w), applied)


def test_a_layer_template_is_the_layer_s_diagram():
    from tnviz.nn import TensorialConv2d

    d = layer("tt", 16, 32, 3, rank=4, padding=1)
    conv = TensorialConv2d(16, 32, 3, padding=1, format="tt", rank=4)
    assert d.to_spec() == conv.diagram.to_spec()
    assert {n: d.shape(n) for n in d.tensor_names if n != "X"} == {n: tuple(p.shape) for n, p in conv.weights.items()}


@pytest.mark.parametrize(
    "make,token",
    [
        (lambda: mps(1), "sites=1"),
        (lambda: mps(2, periodic=True), "sites=2"),
        (lambda: mps(4, bond=0), "bond=0"),
        (lambda: peps(1, 1), "1×1"),
        (lambda: ttn(1), "levels=1"),
        (lambda: mera(1), "levels=1"),
        (lambda: mpo(3, phys=2.5), "phys=2.5"),
        (lambda: norm(tnviz.Diagram.parse("A: i j, B: i j ->", sizes={"i": 2, "j": 2})), "no open legs"),
    ],
)
def test_bad_arguments_are_refused(make, token):
    with pytest.raises(TnvizError, match=token):
        make()
