"""The planner: exhaustive optimality, caching, speed, strategies, and the printed table."""

import math
from collections import Counter

import opt_einsum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_specs import LAYERS, bound

from tnviz import Diagram, TnvizError
from tnviz.core.plan import Problem
from tnviz.core.plan.search import exact_work


def brute_force_optimum(diagram: Diagram, objective: str = "flops") -> float:
    """Minimum FLOPs (or estimated time) over every pairwise evaluation order, by plain enumeration."""
    problem = Problem(diagram, diagram.tensor_names[:1], objective)
    memo = {}

    def best(nodes: frozenset) -> float:
        if len(nodes) == 1:
            return 0
        if nodes in memo:
            return memo[nodes]
        result = float("inf")
        items = sorted(nodes)
        for x in range(len(items)):
            for y in range(x + 1, len(items)):
                a, b = items[x], items[y]
                cost = problem.step_cost(a, b)[0 if objective == "flops" else 1]
                if cost == float("inf"):
                    continue
                rest = (nodes - {a, b}) | {a | b}
                result = min(result, cost + best(frozenset(rest)))
        memo[nodes] = result
        return result

    sums = sum(s.flops for s in diagram.plan(objective=objective).steps if s.kind == "sum")
    return best(frozenset(1 << k for k in range(problem.n))) + sums


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("batch", [1, 64])
def test_layer_plans_are_exhaustively_optimal(name, batch):
    d = bound(name, batch=batch)
    assert d.plan(objective="flops").flops == brute_force_optimum(d)
    # The default objective (estimated time) is optimal for its own cost too.
    assert d.plan().cost == pytest.approx(brute_force_optimum(d, "time"), rel=1e-12)


CONTRACTIONS = [
    ("ab,bc,cd,de,ef,fg,gh,ha->", {c: n for c, n in zip("abcdefgh", [2, 3, 4, 5, 2, 3, 4, 5])}),
    ("ab,ac,ad,ae,af,ag,ah,ai->a", {c: n for c, n in zip("abcdefghi", [3, 2, 4, 8, 2, 5, 3, 2, 6])}),
    ("abc,cde,efg,gha,bdfh->", {c: n for c, n in zip("abcdefgh", [2, 3, 4, 2, 3, 4, 2, 3])}),
    ("ij,jk,kl,lm,mn,no,op->ip", {c: n for c, n in zip("ijklmnop", [10, 2, 30, 4, 50, 6, 70, 8])}),
]


@pytest.mark.parametrize("spec,sizes", CONTRACTIONS)
def test_contraction_plans_are_exhaustively_optimal(spec, sizes):
    d = Diagram.parse(spec, sizes=sizes)
    assert d.plan(objective="flops").flops == brute_force_optimum(d)
    assert d.plan().cost == pytest.approx(brute_force_optimum(d, "time"), rel=1e-12)


@st.composite
def small_networks(draw, min_size=1, max_holders=None):
    """A random pure contraction of 2 to 6 operands; with ``max_holders=2`` no index is held by
    more than two operands (no hyperedges)."""
    n = draw(st.integers(2, 6))
    letters = "abcdefghijkl"
    specs, sizes = [], {}
    for _ in range(n):
        pool = letters[:8]
        if max_holders is not None:
            pool = [c for c in letters if sum(c in op for op in specs) < max_holders]
        held = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        specs.append("".join(held))
    used = sorted(set("".join(specs)))
    out = "".join(draw(st.lists(st.sampled_from(used), max_size=2, unique=True)))
    for c in used:
        sizes[c] = draw(st.integers(min_size, 9))
    return ",".join(specs) + "->" + out, sizes


@settings(max_examples=60)
@given(small_networks())
def test_random_networks_are_exhaustively_optimal(problem):
    spec, sizes = problem
    d = Diagram.parse(spec, sizes=sizes)
    assert d.plan(objective="flops").flops == brute_force_optimum(d)
    assert d.plan().cost == pytest.approx(brute_force_optimum(d, "time"), rel=1e-12)


def check_against_opt_einsum(spec: str, sizes: dict[str, int]) -> None:
    """tnviz's FLOP-optimal plan against opt_einsum, whose cost code tnviz does not share.

    tnviz first sums, in a unary step of one add per element, the indices that one operand
    alone holds and the output drops (opt_einsum would sum them in that operand's first
    pairwise step); here they are summed the same way and opt_einsum handles the rest. Then:
    opt_einsum prices tnviz's own path at tnviz's count, tnviz prices opt_einsum's "optimal"
    path at opt_einsum's count, and tnviz's optimum is no worse than opt_einsum's. Without
    hyperedges the two optima are equal. With them opt_einsum's "optimal" is not always optimal
    (its cache keys a pair of operands by their indices alone, ignoring which other operands
    still hold them: dgasmith/opt_einsum#167), and tnviz finds cheaper paths."""
    inputs, output = spec.split("->")
    operands = inputs.split(",")
    holders = Counter(c for op in operands for c in op)
    sums, reduced = 0, []
    for op in operands:
        lonely = {c for c in op if holders[c] == 1 and c not in output}
        if lonely:
            sums += math.prod(sizes[c] for c in op)
        reduced.append("".join(c for c in op if c not in lonely))
    equation = ",".join(reduced) + "->" + output
    shapes = [tuple(sizes[c] for c in op) for op in reduced]

    def opt_einsum_count(path) -> int:
        return sums + int(opt_einsum.contract_path(equation, *shapes, shapes=True, optimize=path)[1].opt_cost)

    d = Diagram.parse(spec, sizes=sizes)
    plan = d.plan(objective="flops")
    # tnviz's plan as an opt_einsum path: unary sums keep their operand's place, each pairwise
    # step takes its two operands out of the list and appends the result.
    alias, current, path = {}, list(range(len(operands))), []
    for step in plan.steps:
        ids = [alias.get(o, o) for o in step.operands]
        if step.kind == "sum":
            assert ids[0] < len(operands)  # only inputs are summed alone
            alias[step.result] = ids[0]
            continue
        a, b = sorted(current.index(o) for o in ids)
        path.append((a, b))
        current = [o for o in current if o not in ids] + [step.result]
    assert plan.flops == opt_einsum_count(path)
    optimal_path, info = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="optimal")
    optimum = sums + int(info.opt_cost)
    assert d.plan(optimize=optimal_path, objective="flops").flops == optimum
    if max(holders.values()) <= 2:
        assert plan.flops == optimum
    else:
        assert plan.flops <= optimum


@pytest.mark.parametrize("spec,sizes", CONTRACTIONS)
@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_contraction_optimum_matches_opt_einsum(spec, sizes):
    check_against_opt_einsum(spec, sizes)


# Sizes from 2: a summed index of size 1 costs opt_einsum 2 FLOPs per element all the same, and
# tnviz may then keep it one step longer, which opt_einsum's paths cannot express.
@settings(max_examples=150)
@given(st.one_of(small_networks(min_size=2), small_networks(min_size=2, max_holders=2)))
def test_random_network_optimum_matches_opt_einsum(problem):
    check_against_opt_einsum(*problem)


def test_layer_flops_left_to_right_match_closed_forms():
    # bound(): b images of 8 channels, 10×10, padding 1 (so 10×10 out), 3-wide kernels; ranks
    # from layer_specs (built by the formats). A convolution costs 2 FLOPs per output element per kernel tap, as
    # F.conv2d counts; the factor steps are plain matrix products over the pixels.
    s = t = 8
    pixels, k = 10 * 10, 3
    for b in (1, 64):
        want = {
            "dense": 2 * b * t * s * pixels * k * k,  # 2·N·T·S·OH·OW·KH·KW
            # X·A (s→r), ∗Kx, ∗Ky (per rank), ·C (r→t); r = 6
            "cp": 2 * b * pixels * (s * 6 + 6 * k + 6 * k + 6 * t),
            # X·U (s→p), ∗G (p→q, 3×3), ·V (q→t); p = q = 4
            "tk": 2 * b * pixels * (s * 4 + 4 * 4 * k * k + 4 * t),
            # X·G0 (s→r1), ∗G1 (r1→r2 along x), ∗G2 (r2→r3 along y), ·G3 (r3→t); r = 3
            "tt": 2 * b * pixels * (s * 3 + 3 * 3 * k + 3 * 3 * k + 3 * t),
        }
        for name, flops in want.items():
            assert bound(name, batch=b).plan(optimize="left-to-right", objective="flops").flops == flops, (name, b)


MTT6 = (
    "X: b (s1 s2 s3 s4 s5 s6) x y, T1: s1 t1 r1, T2: r1 s2 t2 r2, T3: r2 s3 t3 r3, T4: r3 s4 t4 r4, "
    "T5: r4 s5 t5 r5, T6: r5 s6 t6 r6, C: r6 x y -> b (t1 t2 t3 t4 t5 t6) x y | x y"
)


def test_eight_operand_planning_is_bounded_and_cached(monkeypatch):
    d = bound("mtk", batch=32)
    spec = "ab,bc,cd,de,ef,fg,gh,ha->"
    eight = Diagram.parse(spec, sizes={c: 4 for c in "abcdefgh"})
    sizes = {**{f"s{k}": 2 for k in range(1, 7)}, **{f"t{k}": 2 for k in range(1, 7)}}
    sizes.update({f"r{k}": 5 for k in range(1, 7)}, C=(5, 3, 3), X=(32, 64, 32, 32))
    mtt6 = Diagram.parse(MTT6, padding=1).bind(sizes)
    assert len(mtt6.tensors) == 8
    calls = []
    original = Problem.step_cost
    monkeypatch.setattr(Problem, "step_cost", lambda self, a, b: calls.append(1) or original(self, a, b))
    for diagram in (d, eight, mtt6):
        calls.clear()
        plan = diagram.plan()
        # The exact search weighs each split of each subset once; pricing the plan and its
        # steps adds three evaluations per step (legality, objective, lowering).
        assert len(calls) <= exact_work(len(diagram.tensors)) + 3 * len(plan.steps)
        calls.clear()
        assert diagram.plan() is plan  # cache hit: the same object, no pricing at all
        assert not calls


def test_planner_switches_strategy_with_batch_size():
    # An mCP layer with a high rank: on a tiny input applying the factors one by one is
    # cheapest; on a large batch reconstructing the dense kernel once wins.
    spec = "X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y"
    sizes = {"r": 64, "s1": 4, "s2": 4, "s3": 4, "t1": 4, "t2": 4, "t3": 4, "C": (64, 3, 3)}
    d = Diagram.parse(spec, sizes=sizes, padding=1)
    small = d.plan({"X": (1, 64, 2, 2)}, objective="flops")
    large = d.plan({"X": (64, 64, 32, 32)}, objective="flops")
    assert small.approach != "reconstruct" and small.flops < small.reconstruct_flops
    assert large.approach == "reconstruct" and large.flops < large.left_to_right_flops
    # The default (time) objective makes the same switch.
    assert d.plan({"X": (1, 64, 2, 2)}).approach != "reconstruct"
    assert d.plan({"X": (64, 64, 32, 32)}).approach == "reconstruct"


def test_forced_strategies_and_paths():
    d = bound("cp", batch=8)
    assert d.plan(optimize="reconstruct").approach == "reconstruct"
    assert d.plan(optimize="left-to-right").approach == "factor by factor"
    assert d.plan(optimize="left-to-right").flops == d.plan().left_to_right_flops
    with pytest.raises(TnvizError, match="unknown objective"):
        d.plan(objective="speed")
    path = [(0, 1), (0, 3), (0, 2), (0, 1)]
    assert len(d.plan(optimize=path).steps) == 4
    with pytest.raises(TnvizError, match="bad path step"):
        d.plan(optimize=[(0, 9)])
    with pytest.raises(TnvizError, match="unknown optimize"):
        d.plan(optimize="fastest")


def test_plan_figures_and_table():
    d = bound("mcp", batch=2)
    plan = d.plan()
    assert plan.flops == sum(s.flops for s in plan.steps)
    assert plan.largest_intermediate == max(s.size for s in plan.steps)
    assert plan.peak_elements >= plan.input_elements + plan.largest_intermediate - 1
    text = str(plan)
    for word in ("Spec:", "FLOPs", "Peak memory", "Largest intermediate", "conv2d", "step"):
        assert word in text
    assert plan._repr_html_().count("<table ") == 2 and "<thead>" in plan._repr_html_()


def test_conv_step_flops_match_F_conv2d_count():
    d = Diagram.parse("bsxy,tsxy->btxy|xy", sizes={"A": (2, 3, 10, 10), "B": (4, 3, 3, 3)}, stride=2, padding=1)
    plan = d.plan()
    (step,) = plan.steps
    # 2 · N · Cout · Hout · Wout · Cin · kh · kw
    assert step.flops == 2 * 2 * 4 * 5 * 5 * 3 * 3 * 3


@pytest.mark.parametrize(
    ("spec", "shapes", "last"),
    [
        # the output's order only reorders W's new indices: written directly (no copy after)
        ("Y: b c x y, W: c u v -> b v u x y", {"Y": (2, 4, 5, 5), "W": (4, 3, 6)}, "b v u x y"),
        # it would move Y's own u: Y's order kept, contracted in place, the result permuted after
        ("Y: b u c x y, W: c v -> b v u x y", {"Y": (2, 3, 4, 5, 5), "W": (4, 6)}, "b u v x y"),
        # neither order contracts in place (c and d are not one block of Y): the output's order,
        # not the natural "v b x"
        ("Y: c b d x, W: c d v -> b v x", {"Y": (3, 2, 4, 5), "W": (3, 4, 6)}, "b v x"),
    ],
)
def test_the_last_step_writes_the_outputs_order_only_where_it_still_contracts_in_place(spec, shapes, last):
    """A last step written in the output's order saves a permuted copy after it, unless that
    order breaks the (outer, contracted block, inner) form the executor runs as F.linear or a 1×1
    convolution (Conv mtk at rate 0.1, forward + backward: 1.16× the hand-written engine's time
    written in the output's order, 1.04× contracted in place and permuted after)."""
    import torch

    import tnviz

    d = Diagram.parse(spec)
    plan = d.bind(shapes=shapes).plan()
    assert " ".join(plan.steps[-1].indices) == last
    g = torch.Generator().manual_seed(0)
    y, w = (torch.randn(*shapes[n], generator=g, dtype=torch.float64) for n in ("Y", "W"))
    operands, output = spec.replace(" ", "").split("->")
    equation = ",".join(part.split(":")[1] for part in operands.split(",")) + "->" + output
    torch.testing.assert_close(tnviz.einsum(d, y, w), torch.einsum(equation, y, w))
