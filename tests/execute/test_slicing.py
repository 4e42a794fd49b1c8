"""Slicing: a plan whose intermediates exceed the memory budget runs in pieces instead of being
refused, with the same result and gradients; what cannot fit is still refused with an estimate."""

import pytest
import torch

import tnviz
from tests.oracle import reference
from tnviz import Diagram, TnvizError
from tnviz.core.plan.slicing import SlicedPlan, sliceable
from tnviz.execute.memory import set_memory_budget
from tnviz.execute.runner import program_for


@pytest.fixture(autouse=True)
def _restore_budget():
    yield
    set_memory_budget(None)


def _tensors(shapes, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=grad) for s in shapes]


CASES = [
    # spec, shapes, path, max_memory in elements (8-byte elements below)
    ("ab,bc,cd->ad", [(6, 8), (8, 10), (10, 4)], [(0, 1), (0, 1)], 40),  # output and summed indices cut
    ("ij,jk,k->i", [(12, 3), (3, 12), (12,)], [(0, 1), (0, 1)], 30),
    # a separable convolution: the batch or the rank cut, never x
    ("X: b s x, A: r s, K: r x, C: r t -> b t x | x", [(8, 3, 10), (16, 3), (16, 3), (16, 2)], "left-to-right", 500),
    ("ab,bc,cd,da->", [(4, 6), (6, 4), (4, 6), (6, 4)], [(0, 1), (1, 2), (0, 1)], 20),
]


@pytest.mark.parametrize("spec,shapes,path,limit", CASES, ids=[c[0] for c in CASES])
def test_a_sliced_plan_fits_and_gives_the_same_result_and_gradients(spec, shapes, path, limit):
    d = Diagram.parse(spec, padding=1) if "|" in spec else Diagram.parse(spec)
    bound = d.bind(shapes=dict(zip(d.tensor_names, shapes)))
    optimize = path if path is not None else "auto"
    whole = bound.plan(optimize=optimize, itemsize=8)
    sliced = bound.plan(optimize=optimize, itemsize=8, max_memory=limit * 8)
    assert isinstance(sliced, SlicedPlan) and sliced.slices > 1
    assert sliced.peak_elements - sliced.input_elements <= limit < whole.peak_elements - whole.input_elements
    assert sliced.flops >= whole.flops and sliced.extra_flops == sliced.flops - whole.flops
    assert not set(i for i, _ in sliced.sliced) & set(d.conv)
    tensors = _tensors(shapes, grad=True)
    got = program_for(sliced)(tensors)
    want = reference(spec, *[t.detach() for t in tensors], **({"padding": 1} if "|" in spec else {}))
    torch.testing.assert_close(got, want)
    upstream = torch.randn_like(got)
    grads = torch.autograd.grad(got, tensors, upstream)
    expected = torch.autograd.grad(program_for(whole)(tensors), tensors, upstream)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)


def test_the_sliced_plan_prints_its_pieces_and_extra_flops():
    d = Diagram.parse("ab,bc,cd->ad").bind(shapes={"A": (6, 8), "B": (8, 10), "C": (10, 4)})
    text = str(d.plan(optimize=[(0, 1), (0, 1)], itemsize=8, max_memory=40 * 8))
    assert "Sliced:" in text and "chunks" in text and "FLOPs, all pieces:" in text and "× unsliced" in text
    assert "One piece:" in text and "step  operands" in text


def test_einsum_runs_sliced_past_the_budget_instead_of_refusing():
    a, b, v = _tensors([(4096, 8), (8, 4096), (4096,)])  # A·B first: a 128 MiB intermediate
    path = [(0, 1), (0, 1)]
    want = tnviz.einsum("ij,jk,k->i", a, b, v, optimize=path)
    set_memory_budget("32MiB")
    got = tnviz.einsum("ij,jk,k->i", a, b, v, optimize=path)
    torch.testing.assert_close(got, want)
    expr = tnviz.contract_expression("ij,jk,k->i", (4096, 8), (8, 4096), (4096,), optimize=path)
    torch.testing.assert_close(expr(a, b, v), want)


def test_what_slicing_cannot_fit_is_refused_with_the_estimate():
    x = torch.randn(3000, 3000)
    set_memory_budget("8MiB")
    with pytest.raises(TnvizError, match="slicing cannot fit it either: the output alone has 18,000,000 elements"):
        tnviz.einsum("i j, k -> i j k", x, torch.randn(2))
    d = Diagram.parse("ab,bc->ac").bind(shapes={"A": (100, 4), "B": (4, 100)})
    with pytest.raises(TnvizError, match="the output alone has 10,000 elements"):
        d.plan(max_memory=1000)


def test_a_sliced_plan_answers_as_its_unsliced_plan_and_bad_limits_are_refused():
    d = Diagram.parse("ab,bc,cd->ad").bind(shapes={"A": (6, 8), "B": (8, 10), "C": (10, 4)})
    whole = d.plan(optimize=[(0, 1), (0, 1)], itemsize=8)
    sliced = d.plan(optimize=[(0, 1), (0, 1)], itemsize=8, max_memory=40 * 8)
    assert (sliced.approach, sliced.path, sliced.tree) == (whole.approach, whole.path, whole.tree)
    for bad in ("1GB", True, 0, -5):
        with pytest.raises(TnvizError, match="max_memory=.*expected a positive number of bytes"):
            d.plan(max_memory=bad)


def test_only_plain_modes_are_sliced():
    d = Diagram.parse("X: b (s t) x, K: u s x, L: t v -> b u v x | x")
    d = d.bind({"s": 2, "t": 3, "u": 4, "v": 5, "b": 6, "X": (6, 6, 9), "K": (4, 2, 3)})
    assert set(sliceable(d)) == {"b", "u", "v"}  # not the grouped s, t; not the convolution's x
    trace = Diagram.parse("ii,ij->j").bind(shapes={"A": (4, 4), "B": (4, 5)})
    assert sliceable(trace) == ("j",)
