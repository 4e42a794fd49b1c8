"""One engine runs every layer: a tensorial layer is a TensorNetwork of its format's diagram, and
what tnviz.nn.fast once did by hand — the bias fused into the last call, channels_last kept, the
kernel reconstructed once and cached while no gradient is recorded — is the executor's, so a
drawn network gets it too. Every candidate plan computes the same (outputs and gradients,
float64); forward runs the plan that ``layer.plan()`` prints; the kernel cache never serves a
stale value."""

import pytest
import torch
from torch import nn

from tnviz import Diagram, TensorNetwork, TnvizError
from tnviz.core.formats import FORMATS
from tnviz.core.plan import model
from tnviz.execute import module as module_mod
from tnviz.execute.kernel_cache import KernelCache
from tnviz.execute.program import Program
from tnviz.nn import TensorialConv1d, TensorialConv2d, TensorialConv3d, TensorialLinear

D = torch.float64
NAMES = sorted(n for n in FORMATS if n != "dense")
RESHAPED = ("mcp", "mtk", "mtt", "mtr")
CONV_OPTIONS = (
    {"stride": (2, 1), "padding": 1},
    {"padding": "same", "padding_mode": "circular", "dilation": (1, 2)},
    {"padding": (2, 0), "padding_mode": "reflect"},
)
SETTINGS = ("auto", "measure", "reconstruct", "left-to-right", "optimal", "greedy")


def _kw(name):
    return {"order": 2} if name in RESHAPED else {}


def _values_and_grads(layer, x):
    """Output, input gradient and parameter gradients (bias included) against a fixed upstream gradient."""
    x = x.detach().clone().requires_grad_()
    y = layer(x)
    params = [p for p in layer.parameters()]
    g = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    return [y, *torch.autograd.grad(y, [x, *params], g)]


def _twin(layer, optimize):
    """The same layer (same tensors) with another planner setting."""
    cls = type(layer)
    twin = cls.__new__(cls)
    twin.__setstate__(layer.__getstate__())  # the caches start empty
    twin.optimize = optimize
    return twin


def _assert_all_settings_agree(layer, x):
    want = _values_and_grads(_twin(layer, "left-to-right"), x)
    for setting in SETTINGS:
        got = _values_and_grads(_twin(layer, setting), x)
        for a, b in zip(got, want):
            assert torch.allclose(a, b, atol=1e-11, rtol=1e-9), setting


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("options", CONV_OPTIONS)
def test_conv2d_every_plan_computes_the_same_values_and_gradients(name, options):
    torch.manual_seed(0)
    layer = TensorialConv2d(8, 6, 3, format=name, rank=2, dtype=D, **options, **_kw(name))
    _assert_all_settings_agree(layer, torch.randn(2, 8, 9, 7, dtype=D))


@pytest.mark.parametrize("name", NAMES)
def test_conv1d_conv3d_and_linear_every_plan_computes_the_same(name):
    torch.manual_seed(1)
    conv1 = TensorialConv1d(8, 6, 3, padding=1, stride=2, format=name, rank=2, dtype=D, **_kw(name))
    _assert_all_settings_agree(conv1, torch.randn(2, 8, 9, dtype=D))
    conv3 = TensorialConv3d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, **_kw(name))
    _assert_all_settings_agree(conv3, torch.randn(2, 8, 5, 4, 3, dtype=D))
    linear = TensorialLinear(12, 8, format=name, rank=2, dtype=D, **_kw(name))
    _assert_all_settings_agree(linear, torch.randn(5, 12, dtype=D))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("optimize", ["auto", "measure", "left-to-right", "reconstruct"])
def test_channels_last_in_channels_last_out(name, optimize):
    torch.manual_seed(2)
    layer = TensorialConv2d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, optimize=optimize, **_kw(name))
    x = torch.randn(2, 8, 6, 5, dtype=D)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    y, y_cl = layer(x), layer(x_cl)
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    assert y.is_contiguous()
    assert torch.allclose(y, y_cl, atol=1e-12)


@pytest.mark.parametrize("name", ["svd", "cp", "tk", "tt", "tr", "btd"])
def test_channels_last_kept_through_the_steps_not_restored_at_the_end(name, monkeypatch):
    """The 1×1, grouped and depthwise steps of the factored convolutions run on the activation as
    it lies (a tensor ring's closing index as F.conv's groups): no step's result is a
    plain-contiguous activation when the input is channels_last."""
    layer = TensorialConv2d(16, 16, 3, padding=1, format=name, rate=0.3, bias=False)
    x = torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)
    seen = []
    original = Program._run

    def recording(ops, free, slots, bias):
        wrapped = []
        for op in ops:

            def run(*args, op=op):
                y = op.run(*args)
                seen.append(y)
                return y

            wrapped.append(type(op)(op.reads, op.write, run, op.constant))
        return original(wrapped, free, slots, bias)

    monkeypatch.setattr(Program, "_run", staticmethod(recording))
    layer(x)
    activations = [y for y in seen if y.shape[0] == 2 and y.numel() >= 2 * 8 * 8]
    assert activations
    assert all(not y.is_contiguous() for y in activations), [(tuple(y.shape), y.stride()) for y in activations]
    assert seen[-1].is_contiguous(memory_format=torch.channels_last)


@pytest.fixture
def executed_plans(monkeypatch) -> list:
    """The plans the programs run, in order, while the test runs."""
    ran = []
    original = Program.__call__

    def recording(self, *args, **kwargs):
        ran.append(self.plan)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Program, "__call__", recording)
    return ran


def test_channels_last_3d_in_channels_last_3d_out():
    layer = TensorialConv3d(8, 6, 3, padding=1, format="tk", rank=2, dtype=D)
    x = torch.randn(2, 8, 4, 5, 3, dtype=D).contiguous(memory_format=torch.channels_last_3d)
    assert layer(x).is_contiguous(memory_format=torch.channels_last_3d)


def test_forward_runs_the_plan_that_layer_plan_prints(executed_plans):
    ran = executed_plans
    for name in NAMES:
        layer = TensorialConv2d(16, 16, 3, padding=1, format=name, rate=0.2, **_kw(name))
        x = torch.randn(2, 16, 8, 8)
        for grad in (True, False):
            with torch.set_grad_enabled(grad):
                ran.clear()
                layer(x)
                printed = layer.plan(x)
                assert [s.operands for s in ran[0].steps] == [s.operands for s in printed.steps], name
                assert ran[0] is printed
                assert str(printed)  # a printable table of those steps
        # a shape alone prices training (gradients recorded), as price_layer and the widgets show it
        assert layer.plan((2, 16, 8, 8)) is layer.plan(x.requires_grad_())


def test_auto_weighs_the_candidates_by_the_planners_cost():
    layer = TensorialConv2d(64, 64, 3, padding=1, format="mtt", rate=0.1)
    x = torch.randn(4, 64, 16, 16)
    candidates = layer.candidates(x)
    assert "auto" in candidates and len(candidates) >= 2  # reconstruct is auto's choice here, not repeated
    assert len({id(p.tree) for p in candidates.values()}) == len(candidates)
    assert layer.plan(x.requires_grad_()).cost == min(p.cost for p in candidates.values())
    with torch.no_grad():  # the parameter-only steps are served from the cache: their cost left out
        chosen = layer.plan(x.detach())
        assert chosen.input_cost == min(p.input_cost for p in candidates.values())
        assert chosen.input_cost <= chosen.cost


def test_a_channels_last_input_is_planned_for_its_layout(executed_plans):
    """The signature's layout reaches the planner: forward on a channels_last input runs the plan
    priced for channels_last, which layer.plan(x_cl) prints."""
    ran = executed_plans
    layer = TensorialConv2d(64, 64, 3, padding=1, format="cp", rate=0.1)
    x = torch.randn(2, 64, 16, 16, requires_grad=True)
    x_cl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    layer(x_cl)
    assert ran[-1] is layer.plan(x_cl) and ran[-1].layout == "channels_last"
    assert "channels_last" in str(ran[-1])
    assert layer.plan(x).layout == "contiguous"
    assert all(p.layout == "channels_last" for p in layer.candidates(x_cl).values())
    assert layer.plan(x_cl).cost == min(p.cost for p in layer.candidates(x_cl).values())


def test_a_depthwise_step_on_a_channels_last_activation_is_priced_with_that_layouts_constants():
    """oneDNN runs a depthwise convolution on channels_last an order of magnitude faster than on
    NCHW (benchmarks/calibrate.py measures both); the planner prices it with each layout's fit."""
    d = Diagram.parse("X: b r x y, K: r x y -> b r x y | x y", padding=1)
    sizes = {"X": (32, 27, 32, 32), "K": (27, 3, 3)}
    nchw = d.plan(sizes, layout="contiguous")
    cl = d.plan(sizes, layout="channels_last")
    assert nchw.flops == cl.flops
    assert model.DEPTHWISE_CHANNELS_LAST_HALF < model.DEPTHWISE_HALF  # the committed calibration's finding
    assert cl.cost < nchw.cost
    with pytest.raises(TnvizError, match="layout"):
        d.plan(sizes, layout="nhwc")


def test_tr_joins_its_spatial_cores_on_channels_last_as_on_nchw():
    """On channels_last a convolution's taps count in the channels it sums, so a thin 3×3 kernel
    is priced far below a 3×1 and a 1×3 one after the other, as it runs: tr at rate 0.1 joins its
    two spatial cores into one kernel first on either layout (applied one by one on channels_last,
    it ran 1.10–1.20× the hand-written engine's time, benchmarks/engine_ab.py)."""
    layer = TensorialConv2d(64, 64, 3, padding=1, bias=False, format="tr", rate=0.1)
    x = torch.randn(32, 64, 32, 32)
    for x_in in (x, x.contiguous(memory_format=torch.channels_last)):
        convs = [s for s in layer.plan(x_in).steps if s.kind == "conv"]
        assert [sum(d.operation == "correlate" for d in s.conv) for s in convs] == [2], str(layer.plan(x_in))


def test_measure_times_once_per_input_signature(monkeypatch):
    torch.manual_seed(3)
    layer = TensorialConv2d(8, 8, 3, padding=1, format="cp", rank=3, optimize="measure")
    calls = []
    original = module_mod._time_plan

    def counting(plan, inputs, net, basis, *args, **kwargs):
        calls.append(basis)
        return original(plan, inputs, net, basis, *args, **kwargs)

    monkeypatch.setattr(module_mod, "_time_plan", counting)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    layer(x).sum().backward()
    n = len(calls)
    assert n == len(layer.candidates(x))
    layer(x).sum().backward()
    assert len(calls) == n
    (key, times), *_ = layer.measurements.items()
    assert set(times) == set(layer.candidates(x))
    layer(torch.randn(3, 8, 6, 6))  # a new shape: measured
    layer(x.detach().contiguous(memory_format=torch.channels_last))  # a new memory format: measured
    with torch.no_grad():  # no gradient recorded: a different workload, measured
        layer(x)
    assert len(calls) == 4 * n
    layer(torch.randn(3, 8, 6, 6))
    assert len(calls) == 4 * n


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


def _count_stores(monkeypatch):
    calls = []
    original = KernelCache.store

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(KernelCache, "store", counting)
    return calls


def _fresh(layer, x):
    """What a layer rebuilt from the same state computes (no cache of any kind carried over)."""
    twin = type(layer)(8, 6, 3, padding=1, format=layer.format, rank=2, dtype=D, **_kw(layer.format))
    twin.load_state_dict(layer.state_dict())
    with torch.no_grad():
        return twin(x)


@pytest.mark.parametrize("name", NAMES)
def test_the_kernel_cache_never_serves_a_stale_value(name, monkeypatch):
    torch.manual_seed(5)
    layer = TensorialConv2d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, optimize="reconstruct", **_kw(name))
    stores = _count_stores(monkeypatch)
    x = torch.randn(2, 8, 5, 5, dtype=D)
    with torch.no_grad():
        first = layer(x)
        assert torch.equal(layer(x), first)
    assert len(stores) == 1  # the second call was served from the cache
    first_param = next(iter(layer.weights.values()))

    def edits():
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
        layer(x).pow(2).sum().backward()
        yield "an optimizer step"
        optimizer.step()
        yield "load_state_dict"
        other = TensorialConv2d(8, 6, 3, padding=1, format=name, rank=2, dtype=D, **_kw(name))
        layer.load_state_dict(other.state_dict())
        yield "an in-place edit under no_grad"
        with torch.no_grad():
            first_param.mul_(2.0)
        yield "an edit through .data (no version counter moves)"
        first_param.data.mul_(1.7)
        yield "an in-place copy under no_grad"
        with torch.no_grad():
            first_param.copy_(torch.randn_like(first_param))
        yield "a new tensor as .data"
        first_param.data = first_param.data * 0.5
        yield "a swapped Parameter"
        key = next(iter(layer.weights))
        layer.weights[key] = nn.Parameter(torch.randn_like(layer.weights[key]))

    steps = edits()
    for what in steps:
        with torch.no_grad():
            layer(x)  # fills the cache
        next(steps, None)  # the edit
        with torch.no_grad():
            assert torch.allclose(layer(x), _fresh(layer, x), atol=1e-12), what


def test_training_never_uses_the_cache(monkeypatch):
    stores = _count_stores(monkeypatch)
    layer = TensorialLinear(12, 8, format="mtt", rank=2, order=2, optimize="reconstruct")
    x = torch.randn(3, 12)
    layer(x).sum().backward()
    layer(x).sum().backward()
    assert stores == []  # autograd keeps the kernel for the backward pass by itself
    layer.eval()
    with torch.inference_mode():
        layer(x)
        layer(x)
    assert len(stores) == 1


@pytest.mark.parametrize("name", NAMES)
def test_the_bias_is_fused_where_the_last_call_writes_the_channels_and_equals_adding_it(name):
    torch.manual_seed(3)
    conv = TensorialConv2d(8, 6, 3, padding=1, padding_mode="circular", format=name, rank=2, dtype=D, **_kw(name))
    linear = TensorialLinear(12, 8, format=name, rank=2, dtype=D, **_kw(name))
    for layer, x in ((conv, torch.randn(2, 8, 5, 6, dtype=D)), (linear, torch.randn(3, 12, dtype=D))):
        x = x.requires_grad_()
        params = [x, layer.bias, *layer.weights.values()]
        plain = TensorNetwork(layer.diagram, dtype=D, optimize="left-to-right")
        plain.weights.load_state_dict(layer.weights.state_dict())
        y = plain(x) + layer.bias.reshape(-1, *([1] * (x.dim() - 2)))
        g = torch.linspace(-1, 1, y.numel(), dtype=D).reshape(y.shape)
        want = [y, *torch.autograd.grad(y, [x, layer.bias, *plain.weights.values()], g)]
        for setting in SETTINGS:
            twin = _twin(layer, setting)
            y = twin(x)
            got = [y, *torch.autograd.grad(y, params, g)]
            for a, b in zip(got, want):
                assert torch.allclose(a, b, atol=1e-11, rtol=1e-9), (name, setting)
    # the reconstruct plan ends in one dense F.conv / F.linear call, which takes the bias
    for layer, x in ((conv, torch.randn(2, 8, 5, 6, dtype=D)), (linear, torch.randn(3, 12, dtype=D))):
        twin = _twin(layer, "reconstruct")
        twin(x)
        ((_, program),) = twin._programs.values()
        assert program.fuses_bias, name


def test_a_drawn_network_of_a_formats_diagram_is_the_built_in_layer():
    """Same diagram, same tensors, same bias: the same plan and the same output, NCHW and channels_last."""
    for name in NAMES:
        layer = TensorialConv2d(16, 16, 3, padding=1, format=name, rate=0.2, **_kw(name))
        drawn = TensorNetwork(layer.diagram, bias=True)
        drawn.load_state_dict(layer.state_dict())
        for x in (torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)):
            assert torch.equal(drawn(x), layer(x)), name
            assert drawn.plan(x) is layer.plan(x), name


def test_an_unknown_optimize_is_refused_when_the_module_is_built():
    with pytest.raises(TnvizError, match="unknown optimize='fastest'.*measure") as err:
        TensorialConv2d(8, 8, 3, format="cp", rate=0.5, optimize="fastest")
    assert err.value.token == "fastest"
    with pytest.raises(TnvizError, match="unknown optimize"):
        TensorialLinear(16, 16, format="mtt", rate=0.5, optimize="Auto")
    with pytest.raises(TnvizError, match="unknown optimize"):
        TensorNetwork("X: b s, W: s t -> b t", optimize="dense")
