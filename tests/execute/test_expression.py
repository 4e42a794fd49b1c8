"""``tnviz.contract_expression`` and ``Diagram.compile``: planned once, equal to einsum, compilable."""

import pytest
import torch

import tnviz
from tests.oracle import reference
from tnviz import Diagram, TnvizError
from tnviz.execute.memory import set_memory_budget

SPECS = [
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)], {}),
    ("ij,jk,kl,li->", [(3, 4), (4, 5), (5, 6), (6, 3)], {}),
    ("bsxy,tsxy->btxy|xy", [(2, 3, 8, 8), (4, 3, 3, 3)], {"padding": 1}),
    ("X: b s x, A: r s, K: r x, C: r t -> b t x | x", [(2, 4, 9), (3, 4), (3, 3), (3, 5)], {"padding": 1}),
    ("ii,ij->j", [(4, 4), (4, 3)], {}),
]
# beyond the reference's reach (it reads no '...' and broadcasts nothing): torch.einsum is the oracle
TORCH_SPECS = [
    ("...ij,jk->...ik", [(2, 5, 3, 4), (4, 2)]),
    ("ij,j->ij", [(3, 4), (1,)]),  # a size-1 dimension broadcast, as torch.einsum does
]


def _tensors(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]


@pytest.mark.parametrize("spec,shapes,options", SPECS, ids=[s for s, _, _ in SPECS])
def test_an_expression_equals_einsum_and_the_reference(spec, shapes, options):
    expr = tnviz.contract_expression(spec, *shapes, **options)
    for seed in (0, 1):  # the same expression on new values
        tensors = _tensors(shapes, seed)
        got = expr(*tensors)
        torch.testing.assert_close(got, tnviz.einsum(spec, *tensors, **options))
        torch.testing.assert_close(got, reference(spec, *tensors, **options))


@pytest.mark.parametrize("spec,shapes", TORCH_SPECS, ids=[s for s, _ in TORCH_SPECS])
def test_an_expression_equals_torch_einsum_with_ellipsis_and_broadcasting(spec, shapes):
    expr = tnviz.contract_expression(spec, *shapes)
    tensors = _tensors(shapes)
    torch.testing.assert_close(expr(*tensors), torch.einsum(spec, *tensors))


def test_the_plan_it_runs_is_the_plan_einsum_prints():
    spec, shapes = "ab,bc,cd,de->ae", [(8, 64), (64, 2), (2, 64), (64, 8)]
    expr = tnviz.contract_expression(spec, *shapes)
    planned = Diagram.parse(spec).plan(dict(zip("ABCD", shapes)))
    assert [s.operands for s in expr.plan.steps] == [s.operands for s in planned.steps]
    assert expr.plan.flops == planned.flops
    assert expr.shapes == tuple(shapes) and expr.names == ("A", "B", "C", "D")
    assert "ContractExpression('ab,bc,cd,de->ae', A=(8, 64)" in repr(expr) and f"{planned.flops:,} FLOPs" in repr(expr)


def test_constants_are_folded_once_and_copied():
    a, b, c = _tensors([(2, 3), (3, 4), (4, 5)])
    # path: B·C first (both constants), then A: the product of the constants is computed once
    expr = tnviz.contract_expression("ab,bc,cd->ad", (2, 3), b, c, optimize=[(1, 2), (0, 1)])
    assert expr.shapes == ((2, 3),) and expr.names == ("A",)
    frontier = expr._folded.values
    assert len(frontier) == 1 and sorted(frontier[0].shape) == [3, 5]  # B·C (laid out for its call), not B and C
    expected = a @ b @ c
    b.mul_(10.0)  # the caller's tensor edited in place: the expression holds its own copy
    torch.testing.assert_close(expr(a), expected)
    assert "constants: B, C" in repr(expr)


def test_gradients_flow_to_the_variable_operands_only():
    a, b, c = _tensors([(2, 3), (3, 4), (4, 5)])
    c.requires_grad_(True)
    expr = tnviz.contract_expression("ab,bc,cd->ad", (2, 3), (3, 4), c)
    assert torch.autograd.gradcheck(expr, (a.requires_grad_(True), b.requires_grad_(True)))
    expr(a, b).sum().backward()
    assert c.grad is None


def test_torch_compile_runs_it_in_one_graph_without_recompiling():
    shapes = [(2, 3, 8, 8), (4, 3, 3, 3)]
    expr = tnviz.contract_expression("bsxy,tsxy->btxy|xy", *shapes, padding=1)
    counts = []

    def backend(graph, example_inputs):
        counts.append(1)
        return graph

    compiled = torch.compile(lambda x, k: expr(x, k).relu(), fullgraph=True, backend=backend)
    for seed in (0, 1, 2):
        x, k = _tensors(shapes, seed)
        torch.testing.assert_close(compiled(x, k), torch.nn.functional.conv2d(x, k, padding=1).relu())
    assert len(counts) == 1


def test_a_bound_diagram_compiles_to_its_own_shapes():
    sizes = {"X": (2, 3, 8, 8), "K": (4, 3, 3, 3)}
    d = Diagram.parse("X: b s x y, K: t s x y -> b t x y | x y", sizes=sizes, padding=1)
    expr = d.compile()
    assert expr.shapes == ((2, 3, 8, 8), (4, 3, 3, 3))
    x, k = _tensors(expr.shapes)
    torch.testing.assert_close(expr(x, k), torch.nn.functional.conv2d(x, k, padding=1))
    fixed = d.compile((2, 3, 8, 8), k)  # shapes given, one of them a constant
    torch.testing.assert_close(fixed(x), torch.nn.functional.conv2d(x, k, padding=1))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: tnviz.contract_expression("ab,bc->ac", (2, 3)), r"1 shape\(s\) given; the spec has 2 operand"),
        (lambda: tnviz.contract_expression("ab,bc->ac", (2, 3), (4, 5)), "sizes disagree for index 'b'"),
        (lambda: tnviz.contract_expression("ab,bc->ac", (2, 3), "x"), "operand 'B' holds 'x'"),
        (lambda: tnviz.contract_expression("ab,bc->ac", (2, 3), (3, -1)), "operand 'B' holds -1"),
        (lambda: tnviz.contract_expression("ab,bc->ac", (2, 3), 7), "shape of operand 'B' is 7"),
        (lambda: Diagram.parse("A: i j, B: j k -> i k").compile(), "tensor 'A' is not bound"),
    ],
)
def test_bad_shapes_are_refused_when_the_expression_is_made(make, message):
    with pytest.raises(TnvizError, match=message):
        make()


def test_bad_calls_are_refused_naming_the_operand():
    expr = tnviz.contract_expression("ab,bc->ac", (2, 3), (3, 4))
    a, b = _tensors([(2, 3), (3, 4)])
    with pytest.raises(TnvizError, match=r"1 tensor\(s\) given; this expression takes 2 \(A, B\)"):
        expr(a)
    with pytest.raises(TnvizError, match=r"operand 'B' has shape \(4, 3\); this expression was made for \(3, 4\)"):
        expr(a, b.T)
    with pytest.raises(TnvizError, match="operand 'B' is torch.float32 on cpu but 'A' is torch.float64"):
        expr(a, b.float())
    with pytest.raises(TnvizError, match="operand 'B' is a list"):
        expr(a, [[1.0]])
    fixed = tnviz.contract_expression("ab,bc->ac", (2, 3), b)
    with pytest.raises(TnvizError, match="operand 'A' is torch.float32 on cpu but 'B' is torch.float64"):
        fixed(a.float())


def test_the_memory_guard_refuses_before_running():
    expr = tnviz.contract_expression("i j, k l -> i j k l", (64, 64), (64, 64))
    x = torch.randn(64, 64)
    try:
        set_memory_budget("32MiB")
        with pytest.raises(TnvizError, match="memory budget of 32 MiB"):
            expr(x, x)
    finally:
        set_memory_budget(None)
    assert expr(x, x).shape == (64, 64, 64, 64)
