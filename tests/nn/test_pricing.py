"""price_layer: the one pricing function (tnviz.nn.pricing)."""

import pytest
import torch

from tnviz.core.formats import LayerConfig, param_count
from tnviz.errors import TnvizError
from tnviz.nn import TensorialConv2d, TensorialLinear, cost_table
from tnviz.nn.pricing import LayerPrice, max_rank_within, price_layer

CONV = LayerConfig(64, 64, (3, 3))


def test_price_prints_its_figures_and_objective():
    price = price_layer("cp", CONV, rank=8, batch=32)
    assert isinstance(price, LayerPrice) and price.params == 1072 and price.dense_params == 36_864
    assert price.input_shape == (32, 64, 32, 32) and price.objective == "time" and price.batch == 32
    assert price.rate == pytest.approx(1072 / 36_864) and price.flop_ratio == price.flops / price.dense_flops
    text = str(price)
    for part in ("1,072 of 36,864", price.strategy, "objective 'time'", "r=8", "FLOPs"):
        assert part in text
    assert "<table>" in price._repr_html_()


def test_rate_and_rank_give_the_same_price():
    by_rate = price_layer("tk", CONV, rate=0.1)
    assert price_layer("tk", CONV, by_rate.ranks) == by_rate
    with pytest.raises(TnvizError, match="not both"):
        price_layer("tk", CONV, 3, rate=0.1)


def test_objective_flops_is_the_flop_minimal_plan():
    time_price = price_layer("mtt", CONV, rate=0.1, batch=32)
    flops_price = price_layer("mtt", CONV, rate=0.1, batch=32, objective="flops")
    assert flops_price.objective == "flops" and flops_price.flops <= time_price.flops
    assert cost_table(64, 64, 3, ("mtt",), (0.1,), batch=32, objective="flops").rows[0].flops == flops_price.flops
    with pytest.raises(TnvizError, match="objective") as err:
        price_layer("mtt", CONV, rate=0.1, objective="speed")
    assert err.value.token == "'speed'"


def test_a_built_layer_is_priced_by_its_own_plan():
    conv = TensorialConv2d(16, 32, 3, stride=2, padding=1, format="tt", rank=4)
    x = torch.randn(5, 16, 12, 12)
    price = price_layer(conv, input_shape=x.shape)
    assert price.flops == conv.plan(x).flops and price.ranks == conv.ranks and price.format == "tt"
    dense = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
    assert price.dense_flops == 2 * 5 * 32 * 6 * 6 * 16 * 9 and dense(x).shape == (5, 32, 6, 6)
    linear = TensorialLinear(64, 32, format="mtt", rate=0.2)
    lin = price_layer(linear, input_shape=(4, 3, 64))  # leading dimensions flattened, as forward does
    assert lin.input_shape == (12, 64) and lin.flops == linear.plan((4, 3, 64)).flops
    assert lin.dense_flops == 2 * 12 * 64 * 32


def test_bad_arguments_name_their_token():
    with pytest.raises(TnvizError) as err:
        price_layer("nope", CONV, 2)
    assert err.value.token == "nope"
    with pytest.raises(TnvizError) as err:
        price_layer("cp", CONV, 2, input_shape=(2, 64, 8))
    assert err.value.token == "(2, 64, 8)"
    with pytest.raises(TnvizError, match="config"):
        price_layer("cp", None, 2)
    with pytest.raises(TnvizError) as err:
        price_layer(torch.nn.Conv2d(3, 3, 3), input_shape=(1, 3, 8, 8))
    assert err.value.token == "Conv2d"


@pytest.mark.parametrize("fmt", ["svd", "cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr", "btd"])
def test_max_rank_within_is_the_last_rank_at_rate_one(fmt):
    top = max_rank_within(fmt, CONV)
    assert param_count(fmt, CONV, top) <= CONV.dense_params < param_count(fmt, CONV, top + 1)
    assert max_rank_within("dense", CONV) is None
