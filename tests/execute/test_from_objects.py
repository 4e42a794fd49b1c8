"""Code in with values: tensorly's factorized tensors and quimb's networks become TensorNetworks
whose output is the full tensor, their diagrams drawn and planned by tnviz."""

import numpy as np
import pytest
import torch

import tnviz
from tnviz import TnvizError, from_quimb, from_tensorly


@pytest.fixture
def data():
    return np.random.default_rng(0).standard_normal((4, 5, 6))


def _decompositions(x):
    import tensorly as tl
    from tensorly.decomposition import parafac, tensor_ring, tensor_train, tucker

    return {
        "cp": (parafac(x, 3, init="random", random_state=0), tl.cp_to_tensor, "w: r, U1: i1 r, U2: i2 r, U3: i3 r"),
        "tucker": (tucker(x, [2, 3, 4], init="random", random_state=0), tl.tucker_to_tensor, "G: r1 r2 r3, U1: i1 r1"),
        "tt": (tensor_train(x, [1, 2, 3, 1]), tl.tt_to_tensor, "G1: i1 r1, G2: r1 i2 r2, G3: r2 i3 ->"),
        "tr": (tensor_ring(x, [2, 2, 3, 2]), tl.tr_to_tensor, "G1: r0 i1 r1, G2: r1 i2 r2, G3: r2 i3 r0"),
    }


@pytest.mark.parametrize("kind", ["cp", "tucker", "tt", "tr"])
def test_a_tensorly_tensor_becomes_a_network_equal_to_its_reconstruction(kind, data):
    import tensorly as tl

    backend = tl.get_backend()
    factorized, reconstruct, spec_start = _decompositions(data)[kind]
    net = from_tensorly(factorized)
    assert tl.get_backend() == backend  # tensorly's global backend is neither read nor changed
    assert net.diagram.to_spec().startswith(spec_start.rstrip(" ->"))
    assert net.inputs == ()
    y = net()
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, torch.from_numpy(np.asarray(reconstruct(factorized))))
    # the values are parameters: a gradient reaches every factor
    y.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.weights.values())


def test_a_tensorly_tensor_on_torch_values_keeps_them(data):
    from tensorly.cp_tensor import CPTensor

    factors = [torch.randn(n, 2, dtype=torch.float64) for n in (3, 4)]
    net = from_tensorly(CPTensor((torch.ones(2, dtype=torch.float64), factors)))
    torch.testing.assert_close(net(), factors[0] @ factors[1].T)


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_a_quimb_mps_becomes_a_network_with_its_tags_and_indices():
    qtn = pytest.importorskip("quimb.tensor")  # the 'quimb' extra; CI installs it
    mps = qtn.MPS_rand_state(5, bond_dim=3, seed=0)
    net = from_quimb(mps)
    d = net.diagram
    assert d.tensor_names == ("I0", "I1", "I2", "I3", "I4")
    assert d.output.indices == ("k0", "k1", "k2", "k3", "k4")
    expected = mps.contract(output_inds=mps.outer_inds()).data
    torch.testing.assert_close(net(), torch.from_numpy(np.asarray(expected)))


def test_a_quimb_network_with_a_hyperedge_and_chosen_outputs():
    qtn = pytest.importorskip("quimb.tensor")
    rng = np.random.default_rng(1)
    tensors = [
        qtn.Tensor(rng.standard_normal((2, 3)), inds=("a", "_hyper"), tags={"T", "left"}),
        qtn.Tensor(rng.standard_normal((4, 3)), inds=("b", "_hyper"), tags={"T"}),
        qtn.Tensor(rng.standard_normal((5, 3)), inds=("c", "_hyper"), tags={"T"}),
    ]
    tn = qtn.TensorNetwork(tensors)
    net = from_quimb(tn, output_inds=["c", "a", "b"])
    assert net.diagram.to_spec() == "left: a e1, T1: b e1, T2: c e1 -> c a b"
    assert net.diagram.roles["e1"] == "hyperedge"
    expected = tn.contract(output_inds=["c", "a", "b"]).data
    torch.testing.assert_close(net(), torch.from_numpy(np.asarray(expected)))


def test_code_out_to_quimb_reads_back_in():
    pytest.importorskip("quimb")
    d = tnviz.Diagram.parse("A: i j, B: j k, C: k i -> ", sizes={"i": 2, "j": 3, "k": 4})
    namespace: dict = {}
    exec(d.to_quimb_source(), namespace)
    net = from_quimb(namespace["tn"])
    assert net.diagram.to_spec() == d.to_spec()
    torch.testing.assert_close(net(), torch.tensor(namespace["result"], dtype=torch.float64))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: from_tensorly(np.ones((2, 2))), "got ndarray"),
        (lambda: from_quimb([1, 2]), "got list"),
    ],
)
def test_what_is_not_a_factorized_tensor_or_network_is_refused(call, match):
    with pytest.raises(TnvizError, match=match):
        call()


def test_an_unknown_output_index_is_refused():
    qtn = pytest.importorskip("quimb.tensor")
    tn = qtn.TensorNetwork([qtn.Tensor(np.ones((2, 2)), inds=("a", "b"))])
    with pytest.raises(TnvizError, match="'z' is on no tensor"):
        from_quimb(tn, output_inds=["z"])


def test_names_quimb_gives_that_the_spec_cannot_hold_become_usable_ones_never_clashing():
    qtn = pytest.importorskip("quimb.tensor")
    a = qtn.Tensor(np.ones((2, 3), dtype=np.float32), inds=("a", "b"), tags={"T2"})  # a tag like a fresh name
    b = qtn.Tensor(np.ones((3, 4)), inds=("b", "ψ"))  # no tag of its own, a Greek index
    c = qtn.Tensor(np.ones(4, dtype=np.complex64), inds=("ψ",), tags={"Ψ"})  # three dtypes
    net = from_quimb(qtn.TensorNetwork([a, b, c]))
    assert net.diagram.to_spec() == "T2: a b, T1: b e1, T3: e1 -> a"
    assert net().dtype == torch.complex128
    torch.testing.assert_close(net(), torch.full((2,), 12.0, dtype=torch.complex128))
    grid = qtn.PEPS.rand(2, 2, bond_dim=2, seed=0)  # "I0,0" and "k0,0": punctuation cleaned
    assert from_quimb(grid).diagram.tensor_names == ("I0_0", "I0_1", "I1_0", "I1_1")


def test_integer_values_become_float_parameters():
    from tensorly.cp_tensor import CPTensor

    cp = CPTensor((np.ones(2, dtype=np.int64), [np.ones((3, 2), dtype=np.int64), np.ones((4, 2), dtype=np.int64)]))
    net = from_tensorly(cp)
    assert net().dtype == torch.get_default_dtype()
    torch.testing.assert_close(net(), torch.full((3, 4), 2.0))
