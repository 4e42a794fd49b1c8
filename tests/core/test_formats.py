"""Format builders: exact parameter formulas, balanced channel factors, ranks from a rate."""

import itertools
from dataclasses import replace

import pytest

from tnviz import TnvizError
from tnviz.core.formats import FORMATS, LayerConfig, build_layer, channel_factors, param_count, ranks_for_rate

SHAPES = [
    LayerConfig(64, 64, (3, 3)),
    LayerConfig(48, 96, (3,)),
    LayerConfig(16, 32, (3, 3, 3)),
    LayerConfig(1024, 512, ()),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.in_channels}-{s.out_channels}-{s.kernel_size}")
@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("rank", [1, 3])
def test_param_formula_equals_built_diagram(shape, name, rank):
    for order in (2, 3):
        config = replace(shape, order=order)
        built = build_layer(name, config, rank=rank)
        assert built.param_count == param_count(name, config, rank)
        assert built.diagram().is_bound is False  # only the input X is left free


def test_balanced_channel_factors():
    assert channel_factors(64, 3) == (4, 4, 4)
    assert channel_factors(512, 3) == (8, 8, 8)
    assert channel_factors(48, 2) == (8, 6)
    assert channel_factors(7, 2) == (7, 1)
    spec = build_layer("mcp", LayerConfig(64, 64, (3, 3), in_factors=(2, 32), out_factors=(8, 8)), rank=2).spec
    assert "(s1 s2)" in spec


@pytest.mark.parametrize("rate", [0.02, 0.05, 0.1, 0.2, 0.5])
@pytest.mark.parametrize("name", ["cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"])
def test_rate_lands_close_under_the_budget(name, rate):
    if (name, rate) == ("mtk", 0.5):
        return  # Tucker ranks are capped at the mode sizes (4): see the exhaustive test below
    shape = LayerConfig(64, 64, (3, 3))
    ranks = ranks_for_rate(name, shape, rate)
    achieved = param_count(name, shape, ranks) / shape.dense_params
    assert 0.85 * rate <= achieved <= rate


@pytest.mark.parametrize("rate", [0.02, 0.05, 0.1, 0.2, 0.5])
def test_single_rank_formats_take_the_largest_rank_that_fits(rate):
    # svd at rate 0.05 lands at 0.69 of the budget: rank 2 fits, rank 3 does not.
    shape = LayerConfig(64, 64, (3, 3))
    for name in ("svd", "cp", "mcp"):
        r = ranks_for_rate(name, shape, rate)["r"]
        assert param_count(name, shape, r) <= rate * shape.dense_params < param_count(name, shape, r + 1)


@pytest.mark.parametrize("rate", [0.02, 0.05, 0.1, 0.2, 0.5])
def test_mtk_ranks_are_the_best_within_the_caps(rate):
    # Every rank vector within the Tucker caps (1..4 for 64 = 4·4·4), searched exhaustively.
    shape = LayerConfig(64, 64, (3, 3))
    budget = rate * shape.dense_params
    names = ("p1", "p2", "p3", "q1", "q2", "q3")
    best = max(
        c
        for combo in itertools.product(range(1, 5), repeat=6)
        if (c := param_count("mtk", shape, dict(zip(names, combo)))) <= budget
    )
    chosen = param_count("mtk", shape, ranks_for_rate("mtk", shape, rate))
    assert chosen >= 0.85 * rate * shape.dense_params or chosen == best


def test_rate_too_small_and_bad_values():
    with pytest.raises(TnvizError, match="at rank 1"):
        ranks_for_rate("tr", LayerConfig(64, 64, (3, 3)), 0.001)
    with pytest.raises(TnvizError, match="rate must be"):
        ranks_for_rate("cp", LayerConfig(64, 64, (3, 3)), 1.5)
    with pytest.raises(TnvizError, match="unknown format"):
        build_layer("cpd", LayerConfig(4, 4, (3,)), rank=1)
    with pytest.raises(TnvizError, match="multiply to"):
        build_layer("mcp", LayerConfig(64, 64, (3,), in_factors=(4, 4)), rank=1)
    with pytest.raises(TnvizError, match="rank names 'z'"):
        build_layer("tk", LayerConfig(8, 8, (3,)), rank={"z": 2})
    with pytest.raises(TnvizError, match="positive integer"):
        build_layer("cp", LayerConfig(8, 8, (3,)), rank=0)


def test_grouped_counts_are_per_group_times_groups():
    shape = LayerConfig(64, 64, (3, 3), groups=4, order=2)
    for name in ("dense", "cp", "tk", "mtt"):
        built = build_layer(name, shape, rank=2)
        assert built.param_count == param_count(name, shape, 2) == 4 * param_count(name, shape.per_group(), 2)
    ranks = ranks_for_rate("cp", shape, 0.1)
    assert 0.085 <= param_count("cp", shape, ranks) / shape.dense_params <= 0.1


def test_flop_formula_refuses_bad_options():
    from tnviz.core.formats import flop_count

    shape = LayerConfig(4, 4, (3, 3))
    assert flop_count("cp", shape, 2, 1, (8, 8), padding="same") == flop_count("cp", shape, 2, 1, (8, 8), padding=1)
    for bad in ({"stride": 0}, {"padding": -5}, {"padding": "full"}):
        with pytest.raises(TnvizError):
            flop_count("cp", shape, 2, 1, (8, 8), **bad)
    with pytest.raises(TnvizError, match="does not fit"):
        flop_count("cp", shape, 2, 1, (2, 2))


def test_numpy_integers_and_paths_are_accepted():
    import numpy as np
    import torch

    import tnviz

    x, k = torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3)
    got = tnviz.einsum("bsxy,tsxy->btxy|xy", x, k, padding=np.int64(1), stride=np.int64(2))
    want = torch.nn.functional.conv2d(x, k, padding=1, stride=2)
    assert torch.allclose(got, want, atol=1e-5)
    a, b, c = torch.randn(2, 3), torch.randn(3, 4), torch.randn(4, 5)
    path = np.array([[0, 1], [0, 1]])
    assert torch.allclose(tnviz.einsum("ij,jk,kl->il", a, b, c, optimize=path), a @ b @ c, atol=1e-5)
    with pytest.raises(TnvizError, match="sizes must be a dict"):
        tnviz.einsum("ij,jk->ik", a, b, sizes=[1, 2])


def test_tucker_ranks_capped_by_mode_sizes():
    ranks = ranks_for_rate("tk", LayerConfig(8, 4, (3,)), 1.0)
    assert ranks["p"] <= 8 and ranks["q"] <= 4


@pytest.mark.parametrize("name", ["dense", "svd", "cp", "tk", "tt", "tr"])
@pytest.mark.parametrize(
    "kernel,lengths",
    [((3, 3), (10, 9)), ((3,), (13,)), ((3, 2, 3), (6, 7, 5)), ((), ())],
    ids=["2d", "1d", "3d", "linear"],
)
@pytest.mark.parametrize("options", [(0, 1, 1), (1, 2, 1), (2, 1, 2)])
def test_flop_formula_equals_the_planned_factor_by_factor_module(name, kernel, lengths, options):
    from tnviz.core.formats import flop_count

    padding, stride, dilation = options
    if not kernel and options != (0, 1, 1):
        return  # a Linear layer has no convolution options
    shape = LayerConfig(6, 5, kernel)
    rank = None if name == "dense" else 2
    built = build_layer(name, shape, rank)
    conv = {"padding": padding, "stride": stride, "dilation": dilation} if kernel else {}
    plan = built.diagram(**conv).plan({"X": (3, 6, *lengths)}, optimize="left-to-right", objective="flops")
    assert plan.flops == flop_count(name, shape, rank, 3, lengths, padding, stride, dilation)


def _chain_path(names: list[str], chain: list[str]) -> list[tuple[int, int]]:
    """An opt_einsum path merging ``chain`` (tensor names) in order, then the input X."""
    current: list = list(names)
    path = []
    acc = chain[0]
    for name in [*chain[1:], "X"]:
        i, j = current.index(acc), current.index(name)
        path.append((i, j))
        current = [t for k, t in enumerate(current) if k not in (i, j)] + [(acc, name)]
        acc = (acc, name)
    return path


@pytest.mark.parametrize("name", ["svd", "cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"])
@pytest.mark.parametrize(
    "kernel,lengths",
    [((3, 3), (10, 9)), ((3,), (13,)), ((3, 2, 3), (6, 7, 5)), ((), ())],
    ids=["2d", "1d", "3d", "linear"],
)
@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_reconstruct_flop_formula_equals_the_planned_chain(name, kernel, lengths, order, groups):
    from tnviz.core.formats import flop_count
    from tnviz.core.spec_parser import parse_spec

    shape = LayerConfig(24, 16, kernel, groups=groups, order=order)
    built = build_layer(name, shape, 2)
    names = [op.name for op in parse_spec(built.spec).operands]
    params = names[1:]
    chain = (
        ["G", *[p for p in params if p.startswith("U")], *[p for p in params if p.startswith("V")]]
        if name == "mtk"
        else params
    )
    conv = {"padding": 1, "stride": 2} if kernel else {}
    diagram = built.diagram(**conv)
    sizes = {"X": (3, 24, *lengths)}
    plan = diagram.plan(sizes, optimize=_chain_path(names, chain), objective="flops")
    formula = flop_count(name, shape, 2, 3, lengths, 1 if kernel else 0, 2 if kernel else 1, optimize="reconstruct")
    assert plan.flops == formula
    best = diagram.plan(sizes, optimize="reconstruct", objective="flops")
    assert best.flops <= formula


def test_reshaped_formats_have_no_left_to_right_formula():
    from tnviz.core.formats import flop_count

    with pytest.raises(TnvizError, match="optimize='reconstruct'"):
        flop_count("mtt", LayerConfig(8, 8, (3, 3)), 2, 1, (8, 8))
    with pytest.raises(TnvizError, match="unknown optimize="):
        flop_count("cp", LayerConfig(8, 8, (3, 3)), 2, 1, (8, 8), optimize="fast")
