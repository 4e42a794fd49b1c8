"""The layers' execution strategies (tnviz.nn.fast): every strategy computes what the planner's
plan computes (outputs and gradients, float64), channels_last stays channels_last, the choice
of "measure" is cached per input signature, and the no-grad kernel cache follows the parameters."""

import pytest
import torch
import torch.nn.functional as F

from tnviz import TnvizError
from tnviz.core.formats import FORMATS
from tnviz.nn import TensorialConv1d, TensorialConv2d, TensorialConv3d, TensorialLinear

D = torch.float64
NAMES = sorted(n for n in FORMATS if n != "dense")
RESHAPED = ("mcp", "mtk", "mtt", "mtr")
CONV_OPTIONS = (
    {"stride": (2, 1), "padding": 1},
    {"padding": "same", "padding_mode": "circular", "dilation": (1, 2)},
    {"padding": (2, 0), "padding_mode": "reflect"},
)


def _kw(name):
    return {"order": 2} if name in RESHAPED else {}


def _values_and_grads(layer, x, run):
    """Output, input gradient and parameter gradients of ``run(x)`` against a fixed upstream gradient."""
    x = x.detach().clone().requires_grad_()
    y = run(x)
    params = list(layer.weights.values())
    grads = torch.autograd.grad(y, [x, *params], torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape))
    return y, grads


def _assert_all_strategies_agree(layer, x):
    reference_y, reference_grads = _values_and_grads(layer, x, lambda t: layer._run(t, "left-to-right"))
    for name, run in layer.strategies(x).items():
        y, grads = _values_and_grads(layer, x, run)
        assert torch.allclose(y, reference_y, atol=1e-11, rtol=1e-9), name
        for got, want in zip(grads, reference_grads):
            assert torch.allclose(got, want, atol=1e-11, rtol=1e-9), name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("options", CONV_OPTIONS)
def test_conv2d_strategies_equal_the_plan_in_values_and_gradients(name, options):
    torch.manual_seed(0)
    layer = TensorialConv2d(8, 6, 3, format=name, rank=2, dtype=D, **options, **_kw(name))
    _assert_all_strategies_agree(layer, torch.randn(2, 8, 9, 7, dtype=D))


@pytest.mark.parametrize("name", NAMES)
def test_conv1d_conv3d_and_linear_strategies_equal_the_plan(name):
    torch.manual_seed(1)
    conv1 = TensorialConv1d(8, 6, 3, padding=1, stride=2, format=name, rank=2, dtype=D, **_kw(name))
    _assert_all_strategies_agree(conv1, torch.randn(2, 8, 9, dtype=D))
    conv3 = TensorialConv3d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, **_kw(name))
    _assert_all_strategies_agree(conv3, torch.randn(2, 8, 5, 4, 3, dtype=D))
    linear = TensorialLinear(12, 8, format=name, rank=2, dtype=D, **_kw(name))
    _assert_all_strategies_agree(linear, torch.randn(5, 12, dtype=D))


def test_the_factored_convolutions_are_offered_where_written():
    for name in ("svd", "cp", "tk", "tt", "tr", "btd"):
        layer = TensorialConv2d(8, 8, 3, padding=1, format=name, rank=2)
        assert "factored" in layer.strategies(torch.zeros(1, 8, 5, 5)), name
    grouped = TensorialConv2d(8, 8, 3, padding=1, groups=2, format="tk", rank=2)
    assert "factored" not in grouped.strategies(torch.zeros(1, 8, 5, 5))  # groups: the planner's


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("optimize", ["auto", "measure", "left-to-right"])
def test_channels_last_in_channels_last_out(name, optimize):
    torch.manual_seed(2)
    layer = TensorialConv2d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, optimize=optimize, **_kw(name))
    x = torch.randn(2, 8, 6, 5, dtype=D)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    y, y_cl = layer(x), layer(x_cl)
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    assert y.is_contiguous()
    assert torch.allclose(y, y_cl, atol=1e-12)
    for strategy in layer.strategies(x_cl):
        assert layer._run(x_cl, strategy).is_contiguous(memory_format=torch.channels_last), strategy


def test_channels_last_3d_in_channels_last_3d_out():
    layer = TensorialConv3d(8, 6, 3, padding=1, format="tk", rank=2, dtype=D)
    x = torch.randn(2, 8, 4, 5, 3, dtype=D).contiguous(memory_format=torch.channels_last_3d)
    assert layer(x).is_contiguous(memory_format=torch.channels_last_3d)


def test_measure_times_once_per_input_signature(monkeypatch):
    torch.manual_seed(3)
    layer = TensorialConv2d(8, 8, 3, padding=1, format="cp", rank=3, optimize="measure")
    calls = []
    original = type(layer)._measure

    def counting(self, x, key, *args, **kwargs):
        calls.append(key)
        return original(self, x, key, *args, **kwargs)

    monkeypatch.setattr(type(layer), "_measure", counting)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    layer(x).sum().backward()
    layer(x).sum().backward()
    assert len(calls) == 1
    assert set(layer.measurements[calls[0]]) <= set(layer.strategies(x))
    layer(torch.randn(3, 8, 6, 6))  # a new shape: measured
    layer(x.detach().contiguous(memory_format=torch.channels_last))  # a new memory format: measured
    with torch.no_grad():  # no gradient recorded: a different workload, measured
        layer(x)
    assert len(calls) == 4
    layer(torch.randn(3, 8, 6, 6))
    assert len(calls) == 4
    assert layer.chosen_strategy(x) in layer.strategies(x)


def test_measure_leaves_the_gradients_alone_and_computes_the_same():
    torch.manual_seed(4)
    measured = TensorialConv2d(8, 6, 3, padding=1, format="tt", rank=2, dtype=D, optimize="measure")
    planned = TensorialConv2d(8, 6, 3, padding=1, format="tt", rank=2, dtype=D, optimize="left-to-right")
    planned.load_state_dict(measured.state_dict())
    x = torch.randn(2, 8, 5, 5, dtype=D)
    measured(x).sum().backward()
    planned(x).sum().backward()
    for (name, a), b in zip(measured.named_parameters(), planned.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-12), name  # measuring accumulated nothing


def _count_rebuilds(layer):
    calls = []
    builder = layer._kernel

    def counting(*args, **kwargs):
        calls.append(1)
        return builder(*args, **kwargs)

    layer._kernel = counting
    return calls


@pytest.mark.parametrize("name", RESHAPED)
def test_no_grad_kernel_cache_follows_the_parameters(name):
    torch.manual_seed(5)
    layer = TensorialConv2d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, optimize="dense", **_kw(name))
    layer.eval()
    calls = _count_rebuilds(layer)
    x = torch.randn(2, 8, 5, 5, dtype=D)

    def expected():
        return F.conv2d(x, layer.dense_weight().detach(), layer.bias.detach(), padding=1)

    with torch.no_grad():
        first = layer(x)
        assert torch.equal(layer(x), first)
    assert len(calls) == 1  # the second call used the cached kernel
    # an optimizer step changes the parameters in place
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(x).pow(2).sum().backward()  # gradients recorded: never the cache
    optimizer.step()
    with torch.no_grad():
        assert torch.allclose(layer(x), expected(), atol=1e-12)
        assert not torch.allclose(layer(x), first)
    # load_state_dict copies into the parameters
    other = TensorialConv2d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, **_kw(name))
    layer.load_state_dict(other.state_dict())
    with torch.no_grad():
        assert torch.allclose(layer(x), other(x), atol=1e-12)
    # an in-place edit
    with torch.no_grad():
        next(iter(layer.weights.values())).mul_(2.0)
        assert torch.allclose(layer(x), expected(), atol=1e-12)
    # a new tensor put in place of a parameter's data
    with torch.no_grad():
        p = next(iter(layer.weights.values()))
        p.data = p.data * 0.5
        assert torch.allclose(layer(x), expected(), atol=1e-12)


def test_training_forward_rebuilds_the_kernel_and_backward_reuses_it():
    layer = TensorialLinear(12, 8, format="mtt", rank=2, order=2, optimize="dense")
    calls = _count_rebuilds(layer)
    x = torch.randn(3, 12)
    layer(x).sum().backward()
    assert len(calls) == 1  # once per step: the backward pass used the forward's kernel
    layer(x).sum().backward()
    assert len(calls) == 2  # a new step may follow an optimizer step: rebuilt, never stale


def test_a_strategy_the_format_lacks_is_an_error_naming_it():
    layer = TensorialConv2d(8, 8, 3, padding=1, format="mtt", rank=2, order=2, optimize="factored")
    with pytest.raises(TnvizError) as err:
        layer(torch.randn(1, 8, 4, 4))
    assert err.value.token == "factored"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rate", [0.02, 0.05, 0.1, 0.2])
def test_auto_leaves_reconstruct_then_dense_only_for_a_clear_win(name, rate):
    conv = TensorialConv2d(64, 64, 3, padding=1, format=name, rate=rate)
    linear = TensorialLinear(1024, 1024, format=name, rate=rate)
    x = torch.zeros(32, 64, 32, 32, device="meta", requires_grad=True)
    for layer, t in (
        (conv, x),
        (conv, x.contiguous(memory_format=torch.channels_last)),
        (linear, torch.zeros(1024, 1024, device="meta", requires_grad=True)),
    ):
        costs = layer.estimate(t)
        chosen = layer.chosen_strategy(t)
        assert chosen == "dense" or costs[chosen] <= layer._auto_margin * costs["dense"]
        assert costs[chosen] == min(costs[chosen], costs["dense"])


def test_auto_picks_the_factored_sequence_for_the_factored_convolutions():
    for name in ("cp", "tk", "tt"):
        layer = TensorialConv2d(64, 64, 3, padding=1, format=name, rate=0.1)
        assert layer.chosen_strategy(torch.zeros(2, 64, 8, 8, requires_grad=True)) == "factored"


def test_measure_and_forced_strategies_price_and_plan_as_auto():
    from tnviz.nn.pricing import price_layer

    for optimize in ("measure", "dense", "factored", "plan"):
        layer = TensorialConv2d(8, 8, 3, padding=1, format="tk", rank=2, optimize=optimize)
        assert layer.plan((1, 8, 5, 5)).flops > 0
        assert price_layer(layer, input_size=5, batch=1).flops > 0


def test_an_unknown_optimize_is_refused_when_the_layer_is_built():
    with pytest.raises(TnvizError, match="unknown optimize='fastest'.*measure, dense, factored, plan") as err:
        TensorialConv2d(8, 8, 3, format="cp", rate=0.5, optimize="fastest")
    assert err.value.token == "fastest"
    with pytest.raises(TnvizError, match="unknown optimize"):
        TensorialLinear(16, 16, format="mtt", rate=0.5, optimize="Auto")


@pytest.mark.parametrize("name", NAMES)
def test_bias_fused_into_every_strategy_equals_the_bias_added_after(name):
    """dense and factored pass the bias to their last F.linear / F.conv call (as torch.nn does);
    the result and every gradient (the bias's too) equal adding it after the planner's plan."""
    torch.manual_seed(3)
    conv = TensorialConv2d(8, 6, 3, padding=1, padding_mode="circular", format=name, rank=2, dtype=D, **_kw(name))
    linear = TensorialLinear(12, 8, format=name, rank=2, dtype=D, **_kw(name))
    for layer, x in ((conv, torch.randn(2, 8, 5, 6, dtype=D)), (linear, torch.randn(3, 12, dtype=D))):
        x = x.requires_grad_()
        params = [x, layer.bias, *layer.weights.values()]
        y = layer._run(x, "left-to-right") + layer.bias.reshape(-1, *([1] * (x.dim() - 2)))
        g = torch.linspace(-1, 1, y.numel(), dtype=D).reshape(y.shape)
        want = [y, *torch.autograd.grad(y, params, g)]
        runs = layer.strategies(x, layer.bias)
        assert {"dense", "plan"} <= set(runs)
        assert ("factored" in runs) == (layer is conv and name in ("svd", "cp", "tk", "tt", "tr", "btd")), name
        for strategy, run in runs.items():
            y = run(x)
            got = [y, *torch.autograd.grad(y, params, g)]
            for a, b in zip(got, want):
                assert torch.allclose(a, b, atol=1e-11, rtol=1e-9), (name, strategy)
        for optimize in ("auto", "dense", "plan"):
            layer.optimize = optimize
            assert torch.allclose(layer(x), want[0], atol=1e-11, rtol=1e-9), (name, optimize)
