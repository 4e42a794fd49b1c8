"""The closed-form complexity table (issue 15): under the paper's assumptions (N = nᵐ channels
in and out, D×D maps kept by same padding, k×k kernels, every rank R) each parameter formula
equals ``param_count`` exactly and each FLOP formula equals the planner's FLOPs for the
sequential (left-to-right, spec-order) plan exactly; the text formulas say what the
functions compute."""

import random
import re

import pytest

from tnviz import Diagram, TnvizError
from tnviz.core.formats import LayerConfig, build_layer, param_count
from tnviz.core.formats.complexity import ASSUMPTIONS, COMPLEXITY, complexity, factor

FORMATS = ("dense", "mcp", "mtk", "mtt", "mtr")


def config(n: int, m: int, k: int) -> LayerConfig:
    N = n**m
    return LayerConfig(N, N, (k, k), order=m, in_factors=(n,) * m, out_factors=(n,) * m)


def layer_diagram(fmt: str, n: int, m: int, D: int, k: int, R: int) -> Diagram:
    built = build_layer(fmt, config(n, m, k), None if fmt == "dense" else R)
    return Diagram.parse(built.spec, sizes={**built.sizes, "b": 1, "x": (D, k), "y": (D, k)}, padding="same")


def shapes(count: int, seed: int):
    """Random (n, m, D, k, R) within the assumptions; small enough to plan quickly."""
    rng = random.Random(seed)
    out = [(4, 3, 32, 3, 8), (2, 1, 1, 1, 1), (3, 2, 5, 2, 1)]  # the paper's example, the degenerate ones
    while len(out) < count:
        m = rng.randint(1, 4)
        n = rng.choice([2, 3, 4] if m < 4 else [2, 3])
        out.append((n, m, rng.randint(1, 12), rng.choice([1, 2, 3, 5]), rng.randint(1, 5)))
    return out


SHAPES = shapes(30, seed=15)


@pytest.mark.parametrize("fmt", FORMATS)
def test_parameter_formulas_equal_param_count(fmt):
    row = COMPLEXITY[fmt]
    for n, m, _D, k, R in SHAPES:
        want = param_count(fmt, config(n, m, k), None if fmt == "dense" else R)
        assert row.params_fn(N=n**m, m=m, k=k, R=R) == want, (fmt, n, m, k, R)


@pytest.mark.parametrize("fmt", FORMATS)
def test_parameter_formulas_count_the_built_diagrams_tensors(fmt):
    for n, m, D, k, R in SHAPES[:8]:
        d = layer_diagram(fmt, n, m, D, k, R)
        total = 0
        for name in d.tensor_names[1:]:  # every tensor but the input X
            size = 1
            for s in d.shape(name):
                size *= s
            total += size
        assert COMPLEXITY[fmt].params_fn(N=n**m, m=m, k=k, R=R) == total


@pytest.mark.parametrize("fmt", FORMATS)
def test_flop_formulas_equal_the_sequential_plan(fmt):
    row = COMPLEXITY[fmt]
    for n, m, D, k, R in SHAPES:
        d = layer_diagram(fmt, n, m, D, k, R)
        plan = d.plan(optimize="left-to-right", objective="flops")
        assert row.flops_fn(N=n**m, m=m, D=D, k=k, R=R) == plan.flops, (fmt, n, m, D, k, R)
        # the figure every plan reports as its left-to-right comparison is the same number
        assert d.plan(objective="flops").left_to_right_flops == plan.flops


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_best_plan_is_never_dearer_than_the_sequential_formula(fmt):
    for n, m, D, k, R in SHAPES[:12]:
        best = layer_diagram(fmt, n, m, D, k, R).plan(optimize="optimal", objective="flops").flops
        assert best <= COMPLEXITY[fmt].flops_fn(N=n**m, m=m, D=D, k=k, R=R)


def _evaluate(text: str, **values: int) -> float:
    """A formula's text as Python (·, ², ^, Σ, the subscript l), evaluated."""
    expr = text.replace("Σₗ₌₁..ₘ N^((m+1−l)/m)·Rˡ", "sum(N**((m+1-l)/m)*R**l for l in range(1, m+1))")
    expr = expr.replace("·", "*").replace("^", "**").replace("²", "**2").replace("−", "-").replace("(2m)", "(2*m)")
    assert re.fullmatch(r"[\w\s*+\-/().,=]*", expr), expr
    return eval(expr, {"sum": sum, "range": range, **values})  # noqa: S307 (our own formulas)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_text_formulas_say_what_the_functions_compute(fmt):
    row = COMPLEXITY[fmt]
    for n, m, D, k, R in SHAPES:
        N = n**m
        assert _evaluate(row.params, N=N, m=m, k=k, R=R) == pytest.approx(row.params_fn(N=N, m=m, k=k, R=R))
        assert _evaluate(row.flops, N=N, m=m, D=D, k=k, R=R) == pytest.approx(row.flops_fn(N=N, m=m, D=D, k=k, R=R))


def test_the_paper_example():
    # 64 → 64 channels (4·4·4), 3×3, 32×32 maps, rank 8
    got = {f: (r.params_fn(N=64, m=3, k=3, R=8), r.flops_fn(N=64, m=3, D=32, k=3, R=8)) for f, r in COMPLEXITY.items()}
    assert got["dense"] == (36864, 75497472)
    assert got["mcp"] == (456, 22020096)
    assert "D" not in COMPLEXITY["mcp"].params and "D²" in COMPLEXITY["mcp"].flops
    assert "batch 1" in ASSUMPTIONS


def test_bad_arguments_are_clear_errors():
    assert factor(64, 3) == 4 and factor(81, 4) == 3 and factor(7, 1) == 7
    with pytest.raises(TnvizError, match="not an m-th power"):
        COMPLEXITY["mtt"].params_fn(N=48, m=2, k=3, R=2)
    with pytest.raises(TnvizError, match="positive integer"):
        COMPLEXITY["mcp"].flops_fn(N=64, m=3, D=0, k=3, R=2)
    with pytest.raises(TnvizError, match="no closed-form"):
        complexity("cp")
    assert complexity("dense") is COMPLEXITY["dense"]
