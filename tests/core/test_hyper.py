"""The hyper search: better trees than greedy, never worse than "auto", legal with convolutions,
deterministic, bounded; and "auto" running a short one where it pays."""

import math
import random

import pytest
from opt_einsum.testing import rand_equation

from tnviz import Diagram, Hyper, TnvizError
from tnviz.core.plan.hyper import partition_tree, random_greedy_tree, reconfigure
from tnviz.core.plan.model import Problem
from tnviz.core.plan.search import greedy_tree, tree_cost, tree_mask


def _network(n: int, seed: int, **sizes) -> Diagram:
    """opt_einsum's random regular network (every tensor of degree 3) as a bound Diagram."""
    eq, shapes = rand_equation(n, 3, seed=seed, **sizes)
    return Diagram.parse(eq).bind(shapes={name: s for name, s in zip(_names(eq), shapes)})


def _names(eq: str) -> list[str]:
    return list(Diagram.parse(eq).tensor_names)


def _problem(d: Diagram, objective: str = "flops") -> Problem:
    return Problem(d, d.tensor_names[:1], objective, "contiguous")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hyper_beats_greedy_and_is_never_worse_than_auto(seed):
    d = _network(60, seed)
    greedy = d.plan(optimize="greedy", objective="flops").flops
    auto = d.plan(objective="flops").flops
    hyper = d.plan(optimize=Hyper(trials=16), objective="flops").flops
    assert hyper <= auto <= greedy
    assert hyper < greedy / 4  # on these networks greedy is far from the best (log10: 2–4 orders)


def test_the_same_settings_give_the_same_plan():
    first = _network(40, 5).plan(optimize=Hyper(trials=12, seed=3))
    again = _network(40, 5).plan(optimize=Hyper(trials=12, seed=3))  # fresh diagram: no cache shared
    assert [s.operands for s in first.steps] == [s.operands for s in again.steps]


def test_within_the_exact_budget_hyper_is_the_exact_search():
    d = _network(9, 4)
    assert d.plan(optimize="hyper").flops == d.plan(optimize="optimal").flops


def test_auto_runs_a_short_hyper_search_where_the_network_pays_for_it():
    d = _network(100, 1)  # the case: greedy 10^16 FLOPs
    auto = d.plan(objective="flops").flops
    greedy = d.plan(optimize="greedy", objective="flops").flops
    assert math.log10(auto) < math.log10(greedy) - 2
    chain = Diagram.parse(",".join(f"{a}{b}" for a, b in zip("abcdefghijklmnop", "bcdefghijklmnopq")) + "->aq")
    cheap = chain.bind(shapes={name: (3, 3) for name in chain.tensor_names})  # 16 tensors, 400 FLOPs: no search
    assert cheap.plan().flops == cheap.plan(optimize="greedy").flops


def test_hyper_plans_convolutions_legally_and_computes_the_same_result():
    import torch

    import tnviz

    cores = 11  # 13 tensors: beyond the exact search
    s = " ".join(f"s{k}" for k in range(1, cores + 1))
    t = " ".join(f"t{k}" for k in range(1, cores + 1))
    ops = ["T1: s1 t1 r1"] + [f"T{k}: r{k - 1} s{k} t{k} r{k}" for k in range(2, cores + 1)]
    spec = f"X: b ({s}) x, " + ", ".join(ops) + f", C: r{cores} x -> b ({t}) x | x"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2**cores, 6, generator=g, dtype=torch.float64)
    factors = [torch.randn(2, 2, 2, generator=g, dtype=torch.float64)]
    factors += [torch.randn(2, 2, 2, 2, generator=g, dtype=torch.float64) * 0.5 for _ in range(cores - 1)]
    kernel = torch.randn(2, 3, generator=g, dtype=torch.float64)
    d = Diagram.parse(spec, padding=1)
    hyper = tnviz.einsum(d, x, *factors, kernel, optimize=Hyper(trials=8))
    torch.testing.assert_close(hyper, tnviz.einsum(d, x, *factors, kernel, optimize="left-to-right"))
    shapes = {"X": tuple(x.shape), "C": tuple(kernel.shape)}
    shapes.update({f"T{k}": tuple(f.shape) for k, f in enumerate(factors, 1)})
    bound = d.bind(shapes=shapes)
    # both minimise the "time" objective, not FLOPs (Hyper's plan may do a few more FLOPs: 128 more here)
    assert bound.plan(optimize=Hyper(trials=8)).cost <= bound.plan().cost


def test_reconfiguration_never_makes_a_tree_worse():
    problem = _problem(_network(50, 7))
    rng = random.Random(0)
    for _ in range(4):
        tree = random_greedy_tree(problem, problem.full, rng, rng.uniform(0.1, 4), 0.1)
        better = reconfigure(problem, tree)
        assert tree_mask(better) == problem.full
        assert tree_cost(problem, better) <= tree_cost(problem, tree)
    start = greedy_tree(problem, problem.full)
    assert tree_cost(problem, reconfigure(problem, start, subtree=8)) < tree_cost(problem, start)


def test_partition_trees_cover_every_operand_once():
    problem = _problem(_network(80, 2))
    rng = random.Random(1)
    for imbalance, leaf in [(0.05, 4), (0.3, 8), (0.6, 10)]:
        tree = partition_tree(problem, problem.full, rng, imbalance, leaf)
        leaves = sorted(_leaves(tree))
        assert leaves == list(range(80))


def _leaves(tree):
    return [tree] if isinstance(tree, int) else _leaves(tree[0]) + _leaves(tree[1])


def test_a_time_cap_bounds_the_search():
    d = _network(60, 3)
    # a million trials would take hours: the cap is what ends this one
    plan = d.plan(optimize=Hyper(trials=10**6, seconds=0.5), objective="flops")
    assert plan.flops <= d.plan(optimize="greedy", objective="flops").flops


@pytest.mark.parametrize(
    "settings,token",
    [
        (dict(trials=0), "trials=0"),
        (dict(trials=True), "trials=True"),
        (dict(seed=-1), "seed=-1"),
        (dict(subtree=9), "subtree=9"),
        (dict(subtree=2.5), "subtree=2.5"),
        (dict(seconds=0), "seconds=0"),
        (dict(seconds="soon"), "seconds='soon'"),
    ],
)
def test_bad_settings_are_refused(settings, token):
    with pytest.raises(TnvizError, match=token):
        Hyper(**settings)


def test_an_unknown_search_names_hyper_among_the_choices():
    with pytest.raises(TnvizError, match="hyper.*a Hyper"):
        Diagram.parse("ab,bc->ac").plan({"a": 2, "b": 2, "c": 2}, optimize="best")


def test_a_plan_s_path_is_the_order_opt_einsum_follows():
    import opt_einsum

    eq, shapes = rand_equation(30, 3, seed=2)
    d = Diagram.parse(eq).bind(shapes=dict(zip(_names(eq), shapes)))
    plan = d.plan(optimize=Hyper(trials=4), objective="flops")
    info = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=plan.path)[1]
    assert int(info.opt_cost) == plan.flops


def test_hyper_starts_from_every_tree_auto_weighs():
    # greedy is stuck on this convolution network (only illegal steps left) while reconstruct-first
    # is legal: hyper starts from it too, so it is never worse than auto
    spec = (
        "T0: e0 e2 x, T1: e0 e1 e3 e5 e9 e12, T2: e1 e4 e14, T3: e2 o0, T4: e3 e6 x y, T5: e4 e7 e14 y, "
        "T6: e5 e10 e11 z, T7: e6 e8 e13, T8: e7 e10 e11 y, T9: e8 e13, T10: e9 e12 x z -> o0 x y z | x y z"
    )
    sizes = {"x": (5, 1, 2), "y": (5, 1, 1), "z": (6, 1), "e0": 2, "e1": 3, "e2": 2, "e3": 2, "e4": 3, "e5": 1}
    sizes.update({"e6": 2, "e7": 2, "e8": 1, "e9": 3, "e10": 1, "e11": 1, "e12": 3, "e13": 2, "e14": 2, "o0": 2})
    d = Diagram.parse(spec, sizes=sizes)
    auto = d.plan()
    for seed in (39, 1, 2):
        assert d.plan(optimize=Hyper(trials=12, seed=seed)).cost <= auto.cost


def test_one_operand_s_path_is_opt_einsum_s_single_contraction():
    import opt_einsum

    d = Diagram.parse("A: i j -> i", sizes={"i": 2, "j": 3})
    assert d.plan().path == [(0,)]
    assert opt_einsum.contract_path("ab->a", (2, 3), shapes=True, optimize=d.plan().path)[0] == [(0,)]
