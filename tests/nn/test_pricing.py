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
    for part in ("1,072 of 36,864", price.approach, "objective 'time'", "r=8", "FLOPs"):
        assert part in text
    table = price._repr_html_()
    assert (
        table.startswith('<div class="tn-table-box"')
        and '<table class="tn-table"' in table
        and "<tbody>" in table
        and "1,072 of 36,864" in table
    )


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


LINEAR = LayerConfig(64, 32)
BUILT = TensorialConv2d(16, 32, 3, format="tt", rank=4)

# (what, call, the token the error names, a word of what was expected)
BAD_PRICES = [
    ("input_shape a number", lambda: price_layer("cp", CONV, 2, input_shape=5), "5", "sequence of positive integers"),
    ("input_shape a string", lambda: price_layer("cp", CONV, 2, input_shape="1x64"), "'1x64'", "sequence"),
    ("input_shape a tensor", lambda: price_layer(BUILT, input_shape=torch.zeros(1, 16, 8, 8)), "Tensor", ".shape"),
    ("input_shape a float", lambda: price_layer("cp", CONV, 2, input_shape=(1, 64, 8.0, 8)), "8.0", "positive"),
    ("input_shape negative", lambda: price_layer("cp", CONV, 2, input_shape=(-1, 64, 8, 8)), "-1", "positive"),
    ("input_shape short", lambda: price_layer("cp", CONV, 2, input_shape=(2, 64, 8)), "(2, 64, 8)", "expected 4"),
    ("input_shape channels", lambda: price_layer("cp", CONV, 2, input_shape=(1, 63, 8, 8)), "(1, 63, 8, 8)", "64"),
    ("built, input_shape a number", lambda: price_layer(BUILT, input_shape=5), "5", "sequence"),
    ("built, channels", lambda: price_layer(BUILT, input_shape=(1, 3, 8, 8)), "(1, 3, 8, 8)", "in_channels 16"),
    ("format unknown", lambda: price_layer("nope", CONV, 2), "nope", "expected one of"),
    ("format not a name", lambda: price_layer(5, CONV, 2), "int", "format name or a tensorial layer"),
    ("no config", lambda: price_layer("cp", None, 2), "NoneType", "LayerConfig"),
    ("rank and rate", lambda: price_layer("cp", CONV, 2, rate=0.1), "rate", "not both"),
    ("neither rank nor rate", lambda: price_layer("cp", CONV), "cp", "rank= or rate="),
    ("rank zero", lambda: price_layer("cp", CONV, 0), "r", "positive integer"),
    ("rank unknown name", lambda: price_layer("cp", CONV, {"q": 2}), "q", "has ranks r"),
    ("rate above one", lambda: price_layer("cp", CONV, rate=2), "2", "(0, 1]"),
    ("rate not a number", lambda: price_layer("cp", CONV, rate="a"), "'a'", "(0, 1]"),
    ("order zero", lambda: price_layer("mtt", CONV, 2, order=0), "0", "positive integer"),
    ("batch negative", lambda: price_layer("cp", CONV, 2, batch=-1), "-1", "positive integer"),
    ("batch a float", lambda: price_layer("cp", CONV, 2, batch=2.0), "2.0", "positive integer"),
    ("built, batch negative", lambda: price_layer(BUILT, batch=-1), "-1", "positive integer"),
    ("batch against input_shape", lambda: price_layer(BUILT, input_shape=(2, 16, 8, 8), batch=4), "batch", "one of"),
    ("input_size negative", lambda: price_layer("cp", CONV, 2, input_size=-3), "-3", "positive integer"),
    ("input_size too short", lambda: price_layer("cp", CONV, 2, input_size=(8,)), "(8,)", "2 axes"),
    ("input_size a string", lambda: price_layer("cp", CONV, 2, input_size="a"), "'a'", "positive integer"),
    (
        "input_size against input_shape",
        lambda: price_layer("cp", CONV, 2, input_shape=(1, 64, 8, 8), input_size=16),
        "input_size",
        "one of",
    ),
    ("conv_options not a dict", lambda: price_layer("cp", CONV, 2, conv_options=5), "5", "dict"),
    ("conv_options unknown", lambda: price_layer("cp", CONV, 2, conv_options={"strid": 2}), "strid", "expected"),
    ("conv_options on a Linear", lambda: price_layer("cp", LINEAR, 2, conv_options={"stride": 2}), "stride", "Linear"),
    ("objective unknown", lambda: price_layer("cp", CONV, 2, objective="speed"), "'speed'", "time, flops"),
    ("optimize unknown", lambda: price_layer("cp", CONV, 2, optimize="zzz"), "'zzz'", "expected one of"),
    ("built, with a rank", lambda: price_layer(BUILT, rank=3), "rank", "from the layer"),
    ("built, with a config", lambda: price_layer(BUILT, CONV), "config", "from the layer"),
    ("built, with conv_options", lambda: price_layer(BUILT, conv_options={"stride": 2}), "conv_options", "layer"),
    ("built, another optimize", lambda: price_layer(BUILT, optimize="greedy"), "optimize", "layer's optimize"),
]


@pytest.mark.parametrize("what,call,token,expected", BAD_PRICES, ids=[c[0] for c in BAD_PRICES])
def test_every_bad_price_argument_raises_tnviz_error_naming_it(what, call, token, expected):
    with pytest.raises(TnvizError) as info:
        call()
    err = info.value
    assert type(err) is TnvizError, (what, type(err))
    assert err.token == token, (what, err.token, str(err))
    assert token in str(err) and expected in str(err), (what, str(err))


def test_shapes_of_any_integer_kind_are_priced_alike():
    import numpy as np

    want = price_layer("cp", CONV, 2, input_shape=(2, 64, 8, 8))
    for shape in (torch.Size([2, 64, 8, 8]), np.array([2, 64, 8, 8]), [2, 64, 8, 8]):
        assert price_layer("cp", CONV, 2, input_shape=shape) == want
    assert price_layer("cp", CONV, 2, input_shape=(2, 64, 8, 8), batch=2, input_size=8) == want  # agreeing
    assert price_layer("cp", CONV, 2, batch=2, input_size=(8, 8)) == want


@pytest.mark.parametrize("fmt", ["svd", "cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr", "btd"])
def test_max_rank_within_is_the_last_rank_at_rate_one(fmt):
    top = max_rank_within(fmt, CONV)
    assert param_count(fmt, CONV, top) <= CONV.dense_params < param_count(fmt, CONV, top + 1)
    assert max_rank_within("dense", CONV) is None
