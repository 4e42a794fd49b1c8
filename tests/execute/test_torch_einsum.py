"""tnviz.einsum is a superset of torch.einsum: every equation torch accepts gives its result,
forward and backward (scalars, traces and diagonals, ellipsis broadcasting, size-1
broadcasting, implicit output, upper- and lower-case letters)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from opt_einsum.testing import build_views
from opt_einsum.tests.test_contract import tests as OPT_EINSUM_EQUATIONS

import tnviz
from tnviz import TnvizError


def _compare(eq: str, tensors: list[torch.Tensor]) -> None:
    """tnviz.einsum and torch.einsum agree on the value and on every input's gradient."""
    ours_in = [t.detach().clone().requires_grad_() for t in tensors]
    ref_in = [t.detach().clone().requires_grad_() for t in tensors]
    ref = torch.einsum(eq, *ref_in)
    ours = tnviz.einsum(eq, *ours_in)
    assert ours.shape == ref.shape, (eq, ours.shape, ref.shape)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    upstream = torch.randn(ref.shape, dtype=ref.dtype)
    (ref * upstream).sum().backward()
    (ours * upstream).sum().backward()
    for a, b in zip(ours_in, ref_in):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


def test_opt_einsum_has_seventy_test_equations():
    assert len(OPT_EINSUM_EQUATIONS) == 70


@pytest.mark.parametrize("eq", OPT_EINSUM_EQUATIONS)
def test_opt_einsum_equations_agree_with_torch(eq):
    _compare(eq, [torch.as_tensor(np.asarray(v), dtype=torch.float64) for v in build_views(eq)])


CASES = [
    ("i,i->i", [(1,), (3,)]),  # size-1 broadcasting of a named index
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("i,i->", [(1,), (4,)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij->ij", [(2, 3, 4)]),  # ellipsis not in the output: summed
    ("a...a->...", [(2, 3, 2)]),
    ("...,...->...", [(3, 1), (4,)]),
    ("Ba", [(2, 3)]),  # implicit output, ASCII order: B before a
    ("aB", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),  # a trace
    ("iij->ji", [(2, 2, 3)]),
    (",->", [(), ()]),
    ("", [()]),  # one scalar operand, as numpy and torch read the empty equation
    ("... ij -> ...", [(5, 2, 3)]),  # spaces mean nothing without names, as in torch
    ("b ij,b jk->b ik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),  # empty tensors
    ("ij,jk->ik", [(2, 0), (0, 4)]),
    ("ii->i", [(0, 0)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 0), (0, 5)]),
]


@pytest.mark.parametrize("eq,shapes", CASES)
def test_torch_einsum_features(eq, shapes):
    _compare(eq, [torch.randn(s, dtype=torch.float64) for s in shapes])


def test_modules_keep_strict_sizes():
    # Broadcasting is tnviz.einsum's (as torch.einsum's); a module's bound sizes are checked.
    net = tnviz.TensorNetwork(tnviz.Diagram.parse("X: b i, W: i j -> b j", sizes={"i": 3, "j": 4}))
    with pytest.raises(TnvizError, match="sizes disagree for index 'i'"):
        net(torch.randn(2, 1))
    d = tnviz.Diagram.parse("ij,ij->ij", sizes={"i": 5, "j": 3})
    with pytest.raises(TnvizError, match="sizes disagree for index 'i'"):
        tnviz.einsum(d, torch.randn(1, 3), torch.randn(2, 3))


def test_named_form_repeats_an_index():
    A = torch.randn(4, 4, dtype=torch.float64)
    torch.testing.assert_close(tnviz.einsum("A: i i -> i", A), torch.diagonal(A))
    torch.testing.assert_close(tnviz.einsum("A: i i ->", A), torch.trace(A))


def test_ellipsis_diagram_binds_from_shapes_and_plans():
    d = tnviz.Diagram.parse("...ij,...jk->...ik")
    with pytest.raises(TnvizError, match="ellipsis"):
        d.plan()
    with pytest.raises(TnvizError, match="shape of 'B'"):
        d.bind({"A": (2, 3, 4)})
    plan = d.plan({"A": (5, 2, 3), "B": (5, 3, 4)})
    assert plan.output_shape == (5, 2, 4)


def test_trace_is_priced_as_a_unary_step():
    d = tnviz.Diagram.parse("iij,jk->k", sizes={"i": 5, "j": 3, "k": 2})
    plan = d.plan(objective="flops")
    first = plan.steps[0]
    assert first.kind == "sum" and first.summed == ("i",) and first.flops == 5 * 3
    assert "trace i" in str(plan)


@st.composite
def equations(draw):
    """A random equation torch.einsum accepts, with its operands' shapes."""
    letters = draw(st.lists(st.sampled_from("abcdAB"), min_size=1, max_size=5, unique=True))
    size = {c: draw(st.integers(1, 3)) for c in letters}
    batch = draw(st.lists(st.integers(1, 3), max_size=2))  # the broadcast ellipsis shape
    terms, shapes = [], []
    any_ellipsis = False
    for _ in range(draw(st.integers(1, 4))):
        held = draw(st.lists(st.sampled_from(letters), max_size=3))  # repeats: traces, diagonals
        shape = []
        for c in held:
            # A single occurrence may broadcast from size 1; a repeated index keeps its size.
            one = held.count(c) == 1 and draw(st.booleans()) and draw(st.booleans())
            shape.append(1 if one else size[c])
        term = "".join(held)
        if draw(st.booleans()):
            any_ellipsis = True
            k = draw(st.integers(0, len(batch)))
            dims = [1 if draw(st.booleans()) and draw(st.booleans()) else n for n in batch[len(batch) - k :]]
            at = draw(st.integers(0, len(held)))
            term = term[:at] + "..." + term[at:]
            shape = shape[:at] + dims + shape[at:]
        terms.append(term)
        shapes.append(tuple(shape))
    eq = ",".join(terms)
    if draw(st.booleans()):  # explicit output
        used = sorted({c for t in terms for c in t if c != "."})
        out = "".join(draw(st.permutations(draw(st.lists(st.sampled_from(used), unique=True))))) if used else ""
        if any_ellipsis and draw(st.booleans()):
            at = draw(st.integers(0, len(out)))
            out = out[:at] + "..." + out[at:]
        eq += "->" + out
    return eq, shapes


@given(equations(), st.integers(0, 2**31 - 1))
@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_random_equations_agree_with_torch(problem, seed):
    eq, shapes = problem
    generator = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(s, dtype=torch.float64, generator=generator) for s in shapes]
    try:
        torch.einsum(eq, *tensors)
    except RuntimeError:
        # torch refuses it (sizes that do not broadcast, ...): tnviz refuses it too, clearly.
        with pytest.raises(TnvizError):
            tnviz.einsum(eq, *tensors)
        return
    _compare(eq, tensors)
