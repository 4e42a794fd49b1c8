"""The time a decomposition will take, estimated before it starts (decomposition_seconds), and
compress reporting it beside what it took. No wall-clock figure is asserted: the estimate's
accuracy is benchmarks/decompose_rates.py's to record."""

import json
import math
from importlib import resources

import pytest
import torch
from torch import nn

import tnviz
from tnviz.nn import decompose as decompose_module
from tnviz.nn.decompose import decomposition_seconds
from tnviz.nn.decomposers import DECOMPOSERS, WORKS
from tnviz.nn.layers import tensorial_class

FORMATS = sorted(f for f in DECOMPOSERS if f != "dense")
MODULES = {
    "linear": lambda: nn.Linear(64, 48),
    "conv1d": lambda: nn.Conv1d(16, 32, 5),
    "conv2d": lambda: nn.Conv2d(32, 32, 3),
    "conv3d": lambda: nn.Conv3d(8, 16, 3),
    "grouped": lambda: nn.Conv2d(32, 64, 3, groups=4),
}


def test_every_decomposer_has_a_measured_rate():
    rates = json.loads(resources.files("tnviz.nn.decomposers").joinpath("rates.json").read_text())
    assert set(rates["seconds_per_work"]) == set(FORMATS) == set(rates["overhead_seconds"])
    assert rates["source"] == "benchmarks/results/decompose_rates.json" and rates["matmul_rate"] > 0


@pytest.mark.parametrize("kind", sorted(MODULES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_estimate_for_every_format_and_layer_kind_does_not_fall_with_the_rank(fmt, kind):
    module = MODULES[kind]()
    cls = tensorial_class(module)
    try:
        small, large = (cls._like(module, fmt, rate, None) for rate in (0.1, 0.5))
    except tnviz.TnvizError:
        pytest.fail(f"{fmt} builds no layer for {module}")
    for layer in (small, large):
        seconds = decomposition_seconds(layer)
        assert math.isfinite(seconds) and seconds > 0
    if large.ranks != small.ranks:
        assert decomposition_seconds(large) >= decomposition_seconds(small)  # Tucker's SVDs: the same


def test_the_estimate_scales_with_how_fast_this_machine_multiplies(monkeypatch):
    layer = tnviz.nn.TensorialConv2d(64, 64, 3, format="cp", rate=0.1)
    here = decomposition_seconds(layer)
    monkeypatch.setattr(
        decompose_module, "matmul_rate", lambda: 2 * decompose_module._matmul_rate(torch.get_num_threads())
    )
    assert decomposition_seconds(layer) == pytest.approx(here / 2)


def test_a_grouped_layer_is_estimated_per_group():
    grouped = tnviz.nn.TensorialConv2d(32, 64, 3, groups=4, format="tk", rank={"p": 4, "q": 8})
    one = tnviz.nn.TensorialConv2d(8, 16, 3, format="tk", rank={"p": 4, "q": 8})
    assert decomposition_seconds(grouped) == pytest.approx(4 * decomposition_seconds(one))
    shape = (16, 8, 3, 3)
    assert WORKS["tk"](one.built, shape, 200) > 0


@pytest.mark.parametrize("budget", ["layer", "model"])
def test_compress_estimates_before_the_first_decomposition_and_reports_both(budget, monkeypatch):
    from tnviz.compression import surgery

    events = []
    real_estimate, real_decompose = surgery.decomposition_seconds, surgery.decompose_into
    monkeypatch.setattr(
        surgery, "decomposition_seconds", lambda layer: events.append("estimate") or real_estimate(layer)
    )
    monkeypatch.setattr(
        surgery, "decompose_into", lambda *a, **k: events.append("decompose") or real_decompose(*a, **k)
    )
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.ReLU(), nn.Conv2d(16, 8, 3))
    _, report = tnviz.compress(model, format="tk", rate=0.3, budget=budget)
    assert events.index("decompose") == events.count("estimate") > 0  # every estimate before any decomposition
    assert report.estimated_seconds > 0 and report.seconds > 0
    assert f"Decompositions estimated at about {report.estimated_seconds:.3g} s" in report.summary()
    random_init = tnviz.compress(model, format="tk", rate=0.3, init="random").report
    assert random_init.estimated_seconds is None and "estimated" not in random_init.summary()


def test_cp_of_a_matrix_is_priced_as_the_svd_it_runs():
    from tnviz.nn.decomposers.common import PricedAs, svd_work

    layer = tnviz.nn.TensorialLinear(64, 48, format="cp", rate=0.2)
    work = WORKS["cp"](layer.built, (48, 64), 200)
    assert work == PricedAs("svd", svd_work(64, 48))  # cp_als's matrix case: one truncated SVD
    conv = WORKS["cp"](tnviz.nn.TensorialConv2d(16, 16, 3, format="cp", rate=0.2).built, (16, 16, 3, 3), 200)
    assert isinstance(conv, float) and conv > 0
