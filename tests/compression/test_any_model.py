"""compress() on the user's own models, not only the paper's: depthwise convolutions, attention,
Linear subclasses, Conv1d — every module with parameters is accounted for in the report."""

import copy
import io

import pytest
import torch
from torch import nn

import tnviz
from tnviz import TnvizError
from tnviz.compression import compressible_layers
from tnviz.compression.other_models import AudioNet, Encoder, MobileNetLike, ScaledLinear
from tnviz.core.formats import FORMATS
from tnviz.nn import TensorialConv1d, TensorialLinear, TensorialMultiheadAttention
from tnviz.nn import decompose as decompose_mod

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI


def _with_parameters(model: nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))}


def _accounted(report) -> set[str]:
    return {r.name.removesuffix(".in_proj_weight") for r in report.layers} | {k.name for k in report.kept}


def test_a_mobilenet_keeps_its_depthwise_convolutions_and_says_why():
    torch.manual_seed(0)
    model = MobileNetLike().eval()
    student, report = tnviz.compress(model, format="mtt", rate=0.1)
    kept = {k.name: k.reason for k in report.kept}
    assert "depthwise convolution (groups = in_channels = 64)" in kept["blocks.0.conv.3"]
    assert "BatchNorm2d" in kept["blocks.0.conv.1"]
    # a grouped convolution is compressed per group (the group is an index of its diagram)
    assert student.grouped.groups == 4 and "grouped" in [r.name for r in report.layers]
    assert _accounted(report) == _with_parameters(model)
    assert student(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    with pytest.raises(TnvizError, match="'blocks.0.conv.3' names only modules that cannot be compressed: .*depthwise"):
        tnviz.compress(model, format="mtt", rate=0.1, include="blocks.0.conv.3")


def test_a_transformers_attention_projections_are_compressed_and_compute_as_torch_nn():
    torch.manual_seed(0)
    model = Encoder().double().eval()
    names = compressible_layers(model)
    assert "encoder.layers.0.self_attn.in_proj_weight" in names and "encoder.layers.0.self_attn.out_proj" in names
    # at full rank every projection is exact: the compressed attention computes what torch.nn's does
    student, report = tnviz.compress(model, format="svd", rank=32, include=["*in_proj_weight", "*out_proj"])
    attention = student.encoder.layers[0].self_attn
    assert isinstance(attention, TensorialMultiheadAttention) and isinstance(attention.out_proj, TensorialLinear)
    assert "in_proj_weight" not in dict(attention.named_parameters(recurse=False))
    tokens = torch.randint(0, 50, (3, 7))
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[0, 5:] = True
    assert torch.allclose(student(tokens, mask), model(tokens, mask), atol=1e-10)
    with torch.no_grad():  # torch's fast path for inference, with the computed projection
        assert torch.allclose(student(tokens, mask), model(tokens, mask), atol=1e-10)
    assert {r.name for r in report.layers} == {
        f"encoder.layers.{i}.self_attn.{p}" for i in (0, 1) for p in ("in_proj_weight", "out_proj")
    }
    assert all(r.error < 1e-10 for r in report.layers)
    # the whole model saves and loads, and gradients reach the projection's factors
    buffer = io.BytesIO()
    torch.save(student, buffer)
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    assert torch.allclose(again(tokens, mask), student(tokens, mask))
    student(tokens, mask).sum().backward()
    assert all(p.grad is not None for p in attention.in_proj.parameters())


def test_an_attention_not_batch_first_gets_per_sample_flops_and_a_rate_below_one():
    torch.manual_seed(1)
    model = Encoder(batch_first=False).eval()
    tokens = torch.randint(0, 50, (4, 6))
    student, report = tnviz.compress(model, format="tt", rate=0.3, example_input=tokens)
    projection = next(r for r in report.layers if r.name.endswith("in_proj_weight"))
    # not batch_first: the embedded (4, 6, 32) is (L, N, E), so a sample is 4 tokens × 32 → 96
    assert projection.dense_flops == 2 * 4 * 32 * 96
    assert report.rate <= 0.3 and student(tokens).shape == (4, 3)
    assert _accounted(report) == _with_parameters(model)
    assert any("attention's biases" in k.reason for k in report.kept)


def test_a_subclass_with_its_own_forward_stays_dense_and_conv1d_is_compressed():
    torch.manual_seed(0)
    model = AudioNet()
    student, report = tnviz.compress(model, format="tk", rate=0.3, include=["features.*"])
    assert isinstance(student.features[2], TensorialConv1d) and type(student.scaled) is ScaledLinear
    kept = {k.name: k.reason for k in report.kept}
    assert "ScaledLinear has a forward of its own" in kept["scaled"]
    assert "not named by include=" in kept["out"]
    assert student(torch.randn(2, 1, 200)).shape == (2, 5)
    with pytest.raises(TnvizError, match="'scaled' names only modules that cannot be compressed: scaled: ScaledLinear"):
        tnviz.compress(model, format="tk", rate=0.3, include="scaled")


def test_the_whole_model_rate_is_reported_against_the_rate_asked():
    model = Encoder()
    _, report = tnviz.compress(model, format="tt", rate=0.1, include="*linear*")
    assert report.model_rate > 0.15  # attention and embedding kept: far from 0.1
    note = " ".join(report.notes)
    assert f"keeps {report.model_rate:.3f} of its parameters against the 0.1 asked" in note
    assert "(asked 0.1)" in report.summary() and "kept as it was" in str(report)


def test_a_layer_no_rank_fits_stays_dense_with_the_reason():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 64, 3), nn.Flatten(), nn.Linear(64, 2))
    _, report = tnviz.compress(model, format="mtt", rate=0.05)
    kept = {k.name: k.reason for k in report.kept}
    assert kept["1"].startswith("no rank fits: ") and "rate 0.05 allows" in kept["1"]
    assert [r.name for r in report.layers] == ["2"]


def test_a_decomposition_too_large_is_refused_before_any_runs(monkeypatch):
    calls = []
    monkeypatch.setattr("tnviz.compression.surgery.decompose_into", lambda *a: calls.append(a))
    # layer 2's CP at rank 61 needs about 0.56 MiB (tnviz.nn.decompose.decomposition_bytes), layer 1's 0.05
    monkeypatch.setattr(decompose_mod, "MEMORY_LIMIT_BYTES", 2**18)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 3), nn.Conv2d(16, 128, 3), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(TnvizError, match=r"layer '2' \(Conv2d 16→128 3×3\): decomposing it .* nothing was decomposed"):
        tnviz.compress(model, format="cp", rate=0.5)
    assert calls == []


def test_calibration_measures_the_layers_a_hook_sees_and_leaves_attentions_projections_unmeasured():
    torch.manual_seed(2)
    model = Encoder().eval()
    tokens = torch.randint(0, 50, (16, 7))
    _, report = tnviz.compress(model, format="tt", rate=0.3, init="activations", calibration=tokens, fit_steps=3)
    measured = {r.name: r.output_error for r in report.layers}
    assert all(v is None for n, v in measured.items() if "self_attn" in n)
    assert all(0 <= v < 1.5 for n, v in measured.items() if "linear" in n)
    assert report.output_error == pytest.approx(sum(v for v in measured.values() if v is not None) / 4)


def test_a_whole_model_budget_meets_the_rate_and_spends_it_where_the_error_drops_most():
    from tnviz.compression import LeNet5
    from tnviz.compression.budget import Option, allocate

    torch.manual_seed(0)
    model = LeNet5()
    original = sum(p.numel() for p in model.parameters())
    student, report = tnviz.compress(model, format="tt", rate=0.1, budget="model")
    assert report.model_params <= 0.1 * original and report.model_params > 0.08 * original
    assert report.model_params == sum(p.numel() for p in student.parameters())
    assert "; asked 0.1). Kept" in report.summary()
    uniform = tnviz.compress(model, format="tt", rate=0.1, budget="layer").report
    assert uniform.model_rate > 0.1  # the layers at 0.1 each, the kept ones whole: over the budget
    # spending across layers: the summed squared weight errors no worse than any uniform rate that fits
    total = lambda r: sum(x.error**2 for x in r.layers)  # noqa: E731
    fitting = tnviz.compress(model, format="tt", rate=0.07, budget="layer").report
    assert fitting.model_params <= 0.1 * original and total(report) <= total(fitting)
    # the greedy takes the steepest error drop per parameter first
    steep = [Option(10, 1.0, None), Option(30, 0.2, None)]
    flat = [Option(10, 1.0, None), Option(30, 0.9, None)]
    assert allocate([steep, flat], 45) == [1, 0] and allocate([steep, flat], 60) == [1, 1]
    with pytest.raises(
        TnvizError, match="the smallest setting of every layer takes 20 parameters; the budget leaves 15"
    ):
        allocate([steep, flat], 15)
    with pytest.raises(TnvizError, match="budget must be one of"):
        tnviz.compress(model, format="tt", rate=0.1, budget="global")
    with pytest.raises(TnvizError, match="budget='model'.*raise rate="):
        tnviz.compress(model, format="tt", rate=0.001, budget="model")


def test_auto_with_a_whole_model_budget_chooses_each_layers_format_by_its_error_curve():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.Conv2d(8, 32, 3), nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.Linear(64, 4)
    )  # fmt: skip
    squared = lambda r: sum(x.error**2 for x in r.layers)  # noqa: E731
    _, auto = tnviz.compress(model, format="auto", rate=0.3, budget="model")
    assert auto.model_params <= 0.3 * auto.original_params and auto.format == "auto"
    assert {r.format for r in auto.layers} <= set(FORMATS) - {"dense"}
    # every format's options are among auto's: it spends the budget at least as well as each alone
    for fmt in ("tk", "tt", "mtt", "cp"):
        alone = tnviz.compress(model, format=fmt, rate=0.3, budget="model").report
        assert squared(auto) <= squared(alone) + 1e-9, fmt


def test_a_flops_budget_meets_the_whole_models_flops_on_the_example_input():
    from torch.utils.flop_counter import FlopCounterMode

    from tnviz.compression import LeNet5

    def flops(m, x):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            m(x)
        return counter.get_total_flops()

    torch.manual_seed(0)
    model, x = LeNet5().eval(), torch.randn(4, 1, 28, 28)
    student, report = tnviz.compress(model, format="tk", rate=0.4, budget="flops", example_input=x)
    achieved = flops(student.eval(), x) / flops(model, x)
    assert report.flops_rate == pytest.approx(achieved) and 0.2 < achieved <= 0.4
    assert "FLOPs on the example input: " in report.summary() and "; asked 0.4." in report.summary()
    # the parameters were not what was budgeted: a parameter budget at the same rate differs
    by_params = tnviz.compress(model, format="tk", rate=0.4, budget="model", example_input=x).report
    assert by_params.model_params <= 0.4 * by_params.original_params < report.model_params
    with pytest.raises(TnvizError, match="budget='flops' measures the model on an input: it needs example_input="):
        tnviz.compress(model, format="tk", rate=0.4, budget="flops")
    with pytest.raises(TnvizError, match=r"budget='flops': the smallest setting of every layer takes [0-9,]+ FLOPs"):
        tnviz.compress(model, format="tk", rate=0.01, budget="flops", example_input=x)


@pytest.mark.parametrize("fmt", ["tk", "tt", "mtt"])
@pytest.mark.parametrize("name", ["mobilenet", "encoder"])
def test_a_flops_budget_meets_the_rate_of_a_uniform_run_on_models_with_groups_and_attention(name, fmt):
    """The FLOPs budget prices options as the model runs them, so asked the whole-model FLOPs rate
    that a per-layer run reached, it reaches it too: a grouped layer's channel mixing (which
    FlopCounterMode does not see) and an attention's projections (read as dense weights, each
    rebuilt once a forward) counted alike in the options and the model."""
    torch.manual_seed(0)
    model, x = (
        (MobileNetLike().eval(), torch.randn(8, 3, 32, 32))
        if name == "mobilenet"
        else (Encoder().eval(), torch.randint(0, 50, (8, 16)))
    )
    uniform = tnviz.compress(model, format=fmt, rate=0.1, example_input=x).report
    budgeted = tnviz.compress(model, format=fmt, rate=uniform.flops_rate, budget="flops", example_input=x).report
    assert budgeted.flops_rate <= uniform.flops_rate * (1 + 1e-9)
    assert budgeted.flops_rate > 0.9 * uniform.flops_rate  # the budget is spent, not left over


def test_model_flops_counts_a_tensorial_layer_by_the_plan_it_runs():
    from torch.utils.flop_counter import FlopCounterMode

    from tnviz.compression.latency import model_flops
    from tnviz.nn import TensorialConv2d

    torch.manual_seed(0)
    layer = TensorialConv2d(16, 32, 3, padding=1, groups=4, format="tk", rank={"p": 1, "q": 1})
    x = torch.randn(8, 16, 32, 32)
    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        layer(x)
    plan = layer.plan(x)
    # its last step mixes the channels over a rank of 1: a broadcast product the counter misses
    assert counter.get_total_flops() < plan.flops == model_flops(nn.Sequential(layer), x)


def test_a_tensorial_attention_rebuilds_each_projection_weight_once_a_forward(monkeypatch):
    torch.manual_seed(0)
    model = Encoder().eval()
    student, _ = tnviz.compress(model, format="tk", rate=0.3)
    attention = student.encoder.layers[0].self_attn
    assert isinstance(attention, TensorialMultiheadAttention) and isinstance(attention.out_proj, TensorialLinear)
    rebuilt = []
    for name in ("in_proj", "out_proj"):
        layer = getattr(attention, name)
        real = layer.dense_weight
        monkeypatch.setattr(layer, "dense_weight", lambda real=real, name=name: rebuilt.append(name) or real())
    x = torch.randn(8, 16, 32)
    with torch.no_grad():
        want = nn.MultiheadAttention.forward(attention, x, x, x)[0]  # torch's reads, each a rebuild
    assert rebuilt.count("in_proj") > 1
    rebuilt.clear()
    got, _ = attention(x, x, x)
    assert sorted(rebuilt) == ["in_proj", "out_proj"] and torch.allclose(got, want, atol=1e-6)
    assert "_held_weight" not in attention.in_proj.__dict__  # not kept after the call
    with attention.in_proj.weight_held() as outer:
        with attention.in_proj.weight_held() as inner:
            assert inner is outer
        assert attention.in_proj.weight is outer  # the inner hold leaves the outer one
        assert "_held_weight" not in copy.deepcopy(attention.in_proj).__dict__
    got.sum().backward()  # gradients still reach the factors
    assert all(p.grad is not None for p in attention.in_proj.weights.values())


def test_a_latency_budget_spends_the_measured_seconds(monkeypatch):
    """budget='latency': the model, each dense layer and each option timed on the example input.
    The clock is replaced here by a deterministic one (a test asserts no wall-clock figure): a
    module's "time" is its FLOPs, so the allocation must meet the rate of the model's FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    from tnviz.compression import LeNet5, surgery

    def flops(m, x):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            m(x)
        return counter.get_total_flops()

    timed = []
    monkeypatch.setattr(surgery, "seconds", lambda m, x: timed.append(m) or flops(m, x) * 1e-9)
    monkeypatch.setattr(surgery, "relative_latency", lambda new, old, x: flops(new, x) / flops(old, x))
    torch.manual_seed(0)
    model, x = LeNet5().eval(), torch.randn(4, 1, 28, 28)
    student, report = tnviz.compress(model, format="tk", rate=0.4, budget="latency", example_input=x)
    # the model and each dense layer timed once
    assert sum(m is model for m in timed) == 1 and len(timed) == 1 + len(report.layers)
    assert flops(student.eval(), x) <= 0.4 * flops(model, x) + 1
    assert "the original model's time (asked 0.4)." in report.summary()
    message = r"budget='latency': the smallest setting of every layer takes [0-9.e-]+ seconds"
    with pytest.raises(TnvizError, match=message):
        tnviz.compress(model, format="tk", rate=0.01, budget="latency", example_input=x)


def test_format_auto_picks_per_layer_the_fastest_format_and_the_report_gives_latencies(monkeypatch):
    from tnviz.compression import latency as latency_mod
    from tnviz.compression import surgery

    timed = []
    real = latency_mod.fastest

    def recording(candidates, x, rounds=latency_mod.ROUNDS):
        name, ratios = real(candidates, x, rounds)
        timed.append((sorted(candidates), tuple(x.shape), name, ratios))
        return name, ratios

    monkeypatch.setattr(surgery, "fastest", recording)
    torch.manual_seed(0)
    model = MobileNetLike().eval()
    x = torch.randn(2, 3, 16, 16)
    student, report = tnviz.compress(model, format="auto", rate=0.2, example_input=x)
    assert report.format == "auto" and len(timed) == len(report.layers)
    for (names, shape, name, ratios), row in zip(timed, report.layers):
        assert row.format == name == min(ratios, key=ratios.get) and len(names) >= 5
        assert shape[0] == 2 and row.latency is not None and row.latency > 0
    assert report.latency is not None and report.latency > 0
    assert "time/dense" in str(report) and "the original model's time" in report.summary()
    assert torch.allclose(student(x), student(x)) and student(x).shape == (2, 10)
    with pytest.raises(TnvizError, match="format='auto' times every format"):
        tnviz.compress(model, format="auto", rate=0.2)


def test_a_whole_model_budget_leaves_out_the_settings_too_large_to_decompose(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 4))
    _, free = tnviz.compress(model, format="tt", rate=0.3, budget="model")
    # a limit between the decompositions' sizes: the larger ranks are no option, the rest are
    monkeypatch.setattr(decompose_mod, "MEMORY_LIMIT_BYTES", int(1.58 * 2**20))  # rank 12 fits, rank 25 not
    _, bounded = tnviz.compress(model, format="tt", rate=0.3, budget="model")
    assert bounded.model_params <= 0.3 * bounded.original_params
    largest = {r.name: r.params for r in free.layers}["2"]
    assert {r.name: r.params for r in bounded.layers}["2"] < largest
    monkeypatch.setattr(decompose_mod, "MEMORY_LIMIT_BYTES", 2**10)
    with pytest.raises(TnvizError, match="layer '0' .* no rate of budget.GRID fits it"):
        tnviz.compress(model, format="tt", rate=0.3, budget="model")
