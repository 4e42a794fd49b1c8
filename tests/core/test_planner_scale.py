"""The planner at any scale: bounded work, opt_einsum-grade paths, one policy everywhere."""

import warnings

import opt_einsum
import pytest
from opt_einsum.testing import rand_equation

from tnviz import Diagram, TnvizError
from tnviz.core.inputs import default_inputs
from tnviz.core.plan import Problem
from tnviz.core.plan.search import EXACT_BUDGET, GREEDY_BUDGET, exact_work
from tnviz.render.layout import drawn_inputs


def network(n: int, seed: int = 12) -> tuple[Diagram, str, list]:
    """A random regular network (regularity 3, sizes 2-3) as a named spec with indices i0, i1, ..."""
    eq, shapes = rand_equation(n, 3, seed=seed, d_min=2, d_max=3, n_out=2)
    inputs, output = eq.split("->")
    names: dict[str, str] = {}
    idx = lambda c: names.setdefault(c, f"i{len(names)}")  # noqa: E731
    spec = ", ".join(f"T{k}: " + " ".join(idx(c) for c in t) for k, t in enumerate(inputs.split(",")))
    spec += " -> " + " ".join(idx(c) for c in output)
    d = Diagram.parse(spec)
    return d.bind(dict(zip(d.tensor_names, shapes))), eq, shapes


def opt_einsum_flops(eq: str, shapes: list, path) -> int:
    """opt_einsum's own FLOP count of a path: an independent check of tnviz's step prices."""
    return int(opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=path)[1].opt_cost)


def as_path(plan, n: int) -> list[tuple[int, int]]:
    """The plan's pairwise steps as an opt_einsum path (positions in the shrinking list)."""
    current = list(range(n))
    path = []
    for step in plan.steps:
        if step.kind == "sum":
            current[current.index(step.operands[0])] = step.result
            continue
        x, y = (current.index(o) for o in step.operands)
        path.append((x, y))
        current = [c for k, c in enumerate(current) if k not in (x, y)] + [step.result]
    return path


@pytest.mark.parametrize("n", [16, 100, 1000])
def test_random_networks_plan_within_twice_opt_einsum(n):
    d, eq, shapes = network(n)
    plan = d.plan()
    assert len([s for s in plan.steps if s.kind != "sum"]) == n - 1
    # Our FLOPs are opt_einsum's FLOPs for the same path, and within 2x of its "auto" path.
    assert plan.flops == opt_einsum_flops(eq, shapes, as_path(plan, n))
    reference = opt_einsum_flops(eq, shapes, "auto")
    assert plan.flops <= 2 * reference


def test_tensor_train_inner_product_of_eighty_tensors():
    # Planned exhaustively this ran out of memory (24 GB); now it is a greedy/opt_einsum plan
    # that contracts the two trains site by site.
    cores = 40
    a = [
        f"A{k}: " + " ".join(([f"a{k - 1}"] if k else []) + [f"p{k}"] + ([f"a{k}"] if k < cores - 1 else []))
        for k in range(cores)
    ]
    b = [
        f"B{k}: " + " ".join(([f"b{k - 1}"] if k else []) + [f"p{k}"] + ([f"b{k}"] if k < cores - 1 else []))
        for k in range(cores)
    ]
    sizes = {**{f"a{k}": 16 for k in range(cores - 1)}, **{f"b{k}": 16 for k in range(cores - 1)}}
    sizes.update({f"p{k}": 2 for k in range(cores)})
    d = Diagram.parse(", ".join(a + b) + " ->", sizes=sizes)
    plan = d.plan()
    assert plan.largest_intermediate <= 16 * 16 * 2
    assert plan.flops < 2_000_000 < plan.left_to_right_flops  # the lazy comparison, bounded
    text = str(plan)
    assert "Reconstruct FLOPs" in text and "Left-to-right FLOPs" in text


def test_deep_trees_need_no_recursion():
    # A chain of 1,500 matrices: a 1,500-deep tree, built and lowered without recursion.
    n = 1500
    spec = ", ".join(f"M{k}: i{k} i{k + 1}" for k in range(n)) + f" -> i0 i{n}"
    d = Diagram.parse(spec, sizes={f"i{k}": 2 for k in range(n + 1)})
    plan = d.plan(optimize="left-to-right")
    assert len(plan.steps) == n - 1
    assert d.plan(optimize="greedy").flops <= plan.flops


def test_exact_search_has_a_work_budget():
    assert exact_work(10) <= EXACT_BUDGET < exact_work(11)
    ten, _, _ = network(10, seed=3)
    assert ten.plan().cost == ten.plan(optimize="optimal").cost  # "auto" is exact within the budget
    eleven, _, _ = network(11, seed=3)
    with pytest.raises(TnvizError, match="optimize='auto'") as info:
        eleven.plan(optimize="optimal")
    assert "splits" in str(info.value)
    assert eleven.plan().flops > 0  # "auto" goes greedy instead


def test_greedy_refuses_a_hyperedge_too_large_to_weigh():
    n = 700  # one index held by 700 tensors: 244,650 candidate pairs
    assert n * (n - 1) // 2 > GREEDY_BUDGET
    spec = ", ".join(f"T{k}: h" for k in range(n)) + " -> h"
    d = Diagram.parse(spec, sizes={"h": 2})
    with pytest.raises(TnvizError, match="left-to-right"):
        d.plan()
    assert len(d.plan(optimize="left-to-right").steps) == n - 1


def test_large_layers_with_convolution_use_the_same_policy():
    # 14 operands, beyond the exact search: the convolution-aware greedy search and
    # opt_einsum on the convolution-free cores, never worse than left-to-right.
    cores = 12
    s = " ".join(f"s{k}" for k in range(1, cores + 1))
    t = " ".join(f"t{k}" for k in range(1, cores + 1))
    ops = ["T1: s1 t1 r1"] + [f"T{k}: r{k - 1} s{k} t{k} r{k}" for k in range(2, cores + 1)]
    spec = f"X: b ({s}) x y, " + ", ".join(ops) + f", C: r{cores} x y -> b ({t}) x y | x y"
    sizes = {f"{c}{k}": 2 for c in "st" for k in range(1, cores + 1)}
    sizes.update({f"r{k}": 4 for k in range(1, cores + 1)}, C=(4, 3, 3), X=(8, 2**cores, 8, 8))
    d = Diagram.parse(spec, sizes=sizes, padding=1)
    plan = d.plan()
    assert plan.cost <= d.plan(optimize="left-to-right").cost
    assert plan.cost <= d.plan(optimize="reconstruct").cost


def test_plan_printed_is_the_plan_run():
    import torch

    import tnviz
    from tnviz.execute.einsum import plan_for

    d, eq, shapes = network(16)
    tensors = [torch.randn(s, dtype=torch.float64) for s in shapes]
    shown = d.plan({n: s for n, s in zip(d.tensor_names, shapes)})
    run = plan_for(d, tuple(tuple(s) for s in shapes), itemsize=8)
    assert run.tree == shown.tree and run.steps == shown.steps
    torch.testing.assert_close(tnviz.einsum(d, *tensors), torch.einsum(eq, *tensors))


def test_one_rule_for_inputs():
    import tnviz

    layer = Diagram.parse("X: b s, K: t s -> b t", sizes={"b": 2, "s": 3, "t": 4})
    network_ = Diagram.parse("a i, i j, j b -> a b", sizes={"a": 2, "i": 3, "j": 3, "b": 2})
    for d in (layer, network_):
        assert d.plan().inputs == default_inputs(d) == tnviz.TensorNetwork(d).inputs
    assert default_inputs(layer) == ("X",) and default_inputs(network_) == ("A",)
    # Drawings show a plain network as equal tensors, a layer with its input.
    assert drawn_inputs(layer) == ("X",) and drawn_inputs(network_) == ()


def test_a_plans_bytes_are_its_elements_times_the_itemsize():
    d, _, _ = network(16)
    plan = d.plan()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plan.peak_bytes == plan.peak_elements * plan.itemsize


def test_problem_subsets_agree_with_a_plain_recount():
    # The incremental kept-index rule (shared indices only) equals the definition.
    d, _, _ = network(12, seed=5)
    p = Problem(d, default_inputs(d))
    for a, b in [(0b1, 0b10), (0b11, 0b1100), (0b101010, 0b10101), (0b111000000, 0b111)]:
        fast = p.subset(a | b, (a, b))[0]
        slow = Problem(d, default_inputs(d)).subset(a | b)[0]
        assert fast == slow
