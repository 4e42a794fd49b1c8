"""Diagonal (``-> i i``) and broadcast (``-> i j``, ``j`` held by no tensor) outputs: the named
form writes them, the compact form raises where ``torch.einsum`` raises, and ``Diagram.grad``
uses them for traces, diagonals and indices only the target sums."""

import pytest
import torch
from oracle import against_autograd

import tnviz
from tnviz.core.spec import format_spec
from tnviz.core.spec_parser import parse_spec
from tnviz.errors import TnvizError


@pytest.mark.parametrize(
    "text, sizes",
    [
        ("A: i -> i i", {"i": 3}),
        ("A: i -> i j", {"i": 2, "j": 3}),
        ("A: i, B: i -> Y: j i i", {"i": 2, "j": 3}),
        ("A: i -> (i j)", {"i": 2, "j": 3}),
    ],
)
def test_round_trip(text, sizes):
    spec = parse_spec(text)
    assert format_spec(spec) == text
    assert parse_spec(format_spec(spec)) == spec
    d = tnviz.Diagram.parse(text, sizes=sizes)
    assert d.to_spec() == text
    assert tnviz.Diagram.parse(d.to_spec(), sizes=sizes) == d
    assert tnviz.Diagram.from_json(d.to_json()) == d


def test_structure_of_a_broadcast_index():
    d = tnviz.Diagram.parse("A: i -> i j")
    assert d.index_names == ("i", "j")
    assert d.holders("j") == ()
    assert d.roles == {"i": "free", "j": "free"}
    assert not d.bind({"i": 2}).is_bound
    bound = d.bind({"i": 2, "j": 3})
    assert bound.is_bound and bound.output_shape == (2, 3)
    with pytest.raises(TnvizError, match="sizes unknown"):
        d.bind({"i": 2}).plan()


def test_diagonal_value_and_gradient():
    a = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = tnviz.einsum("A: i -> i i", a)
    torch.testing.assert_close(y, torch.diag_embed(a))
    w = torch.randn(4, 4, dtype=torch.float64)
    (y * w).sum().backward()
    torch.testing.assert_close(a.grad, torch.diagonal(w))


def test_broadcast_value_and_gradient():
    a = torch.randn(2, dtype=torch.float64, requires_grad=True)
    d = tnviz.Diagram.parse("A: i -> j i", sizes={"j": 3})
    y = tnviz.einsum(d, a)
    torch.testing.assert_close(y, a.expand(3, 2))
    w = torch.randn(3, 2, dtype=torch.float64)
    (y * w).sum().backward()
    torch.testing.assert_close(a.grad, w.sum(0))


def test_contraction_then_diagonal_and_broadcast():
    a = torch.randn(2, 3, dtype=torch.float64)
    b = torch.randn(3, 2, dtype=torch.float64)
    d = tnviz.Diagram.parse("A: i j, B: j i -> Y: k i i (l m)", sizes={"k": 2, "l": 2, "m": 3})
    y = tnviz.einsum(d, a, b)
    core = torch.einsum("ij,ji->i", a, b)
    ref = torch.diag_embed(core)[None, :, :, None].expand(2, 2, 2, 6)
    torch.testing.assert_close(y, ref)


def test_scalar_broadcast():
    y = tnviz.einsum(tnviz.Diagram.parse("c: -> j", sizes={"j": 3}), torch.tensor(2.0))
    torch.testing.assert_close(y, torch.full((3,), 2.0))


@pytest.mark.parametrize("eq, operands", [("i->ii", [(3,)]), ("i->ij", [(3,)]), ("ij,jk->iz", [(2, 3), (3, 4)])])
def test_compact_form_still_raises_like_torch(eq, operands):
    tensors = [torch.randn(s) for s in operands]
    with pytest.raises(RuntimeError):
        torch.einsum(eq, *tensors)
    with pytest.raises(TnvizError):
        tnviz.einsum(eq, *tensors)


def test_named_output_refusals():
    with pytest.raises(TnvizError, match="repeats in the output and sits in a group"):
        parse_spec("A: i j -> (i j) i")
    with pytest.raises(TnvizError, match="convolution index 'x' appears twice in the output"):
        parse_spec("A: x, B: x -> x x | x")


def _against_autograd(spec, sizes, name, seed=0):
    return against_autograd(tnviz.Diagram.parse(spec, sizes=sizes), name, seed)


@pytest.mark.parametrize(
    "spec, sizes, name, expected",
    [
        ("A: i i, B: i -> ", {"i": 3}, "A", "B: i, G: -> dA: i i"),
        ("A: i i -> ", {"i": 3}, "A", "G: -> dA: i i"),
        ("A: i i j, B: j k -> k", {"i": 2, "j": 3, "k": 4}, "A", "B: j k, G: k -> dA: i i j"),
        ("A: i j, B: j -> ", {"i": 2, "j": 3}, "A", "B: j, G: -> dA: i j"),
        ("A: (i j) k, B: k -> j", {"i": 2, "j": 3, "k": 2}, "A", "B: k, G: j -> dA: (i j) k"),
        ("A: i i j, B: k -> k", {"i": 2, "j": 3, "k": 2}, "A", "B: k, G: k -> dA: i i j"),
        ("A: i, B: i -> i i", {"i": 3}, "A", "B: i, G: i i -> dA: i"),
        ("A: i -> i j", {"i": 2, "j": 3}, "A", "G: i j -> dA: i"),
    ],
)
def test_grad_traces_diagonals_and_lone_sums(spec, sizes, name, expected):
    g = _against_autograd(spec, sizes, name)
    assert g.to_spec() == expected
    for other in tnviz.Diagram.parse(spec).tensor_names:
        _against_autograd(spec, sizes, other, seed=1)


def test_backward_plan_no_longer_refuses_traces():
    d = tnviz.Diagram.parse("A: i i j, B: j -> ", sizes={"i": 3, "j": 2})
    assert not d.backward_plan().refused
