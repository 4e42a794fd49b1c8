"""The planner's time objective takes its constants from the calibration benchmark's results
file (benchmarks/calibrate.py), never from numbers typed in code."""

import json
import sys
from pathlib import Path

import pytest

from tnviz import Diagram
from tnviz.core.plan import model

ROOT = Path(__file__).resolve().parents[2]


def test_the_planners_constants_are_the_calibration_results_medians():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    data = json.loads(calibrate.RESULTS.read_text())
    packaged = json.loads(calibrate.PACKAGE_FILE.read_text())
    assert packaged == calibrate.package_constants(data), "run: python benchmarks/calibrate.py --write-only"
    for constant in (
        "memory_weight",
        "reorder_weight",
        "large_result",
        "large_result_channels_last",
        "large_result_weight",
        "reduction_half",
        "width_half",
        "depthwise_half",
        "depthwise_channels_last_half",
    ):
        assert getattr(model, constant.upper()) == packaged[constant], constant
    results = data["results"]
    assert results["allocator"] == "system"  # what a user has
    # measured, each constant is a spread over processes; refitted (--refit), one value fitted to
    # the median times, with the commit that refitted it
    refitted = "refit" in data
    for constant in (
        "memory_weight",
        "reorder_weight",
        "large_result_weight",
        "reduction_half",
        "width_half",
        "rms_log_error",
        "depthwise_half",
        "depthwise_channels_last_half",
    ):
        value = results[constant]
        if refitted:
            assert isinstance(value, float), constant
        else:
            assert value["q25"] <= value["median"] <= value["q75"], constant
    if refitted:
        assert data["refit"]["commit"] and "--refit" in data["refit"]["command"]
        assert f"Refitted at commit `{data['refit']['commit'][:10]}`" in packaged["provenance"]
    assert len(results["workloads"]) >= 15
    assert data["provenance"]["commit"] and data["provenance"]["machine"]["cores"]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("kernel", [(3, 1), (3, 3)])
def test_the_planner_prices_a_convolution_as_the_calibration_fits_it(layout, kernel):
    """One model in two places: a thin convolution's price in the planner is calibrate.predict's
    for the same call, so the constants fitted there mean the same here — on channels_last its K
    counts the kernel's taps (5 channels × 9 taps for a 3×3 kernel), on NCHW its channels alone."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    d = Diagram.parse("X: b c x y, K: c d x y -> b d x y | x y")
    sizes = {"X": (160, 5, 32, 32), "K": (5, 5, *kernel)}
    plan = d.plan(sizes, layout=layout)
    (step,) = plan.steps
    elements = 160 * 5 * 32 * 32 + 5 * 5 * kernel[0] * kernel[1] + step.size
    row = {"flops": plan.flops, "elements": elements, "result": step.size, "reduction": 5, "width": 5}
    row.update(taps=kernel[0] * kernel[1], layout=layout)
    columns = calibrate._columns([row])
    assert columns["reduction"][0] == (5 * row["taps"] if layout == "channels_last" else 5)
    constants = {name.lower(): getattr(model, name) for name in CONSTANTS}
    assert plan.cost == pytest.approx(float(calibrate.predict(columns, constants)[0]), rel=1e-9)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_the_planner_prices_a_depthwise_convolution_as_the_calibration_fits_it(layout):
    """A depthwise call (K = W = 1) is priced for one tap in either layout, its taps left out of K
    on channels_last too: the planner's price is calibrate.predict_depthwise's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    d = Diagram.parse("X: b r x y, K: r x y -> b r x y | x y", padding=1)
    sizes = {"X": (32, 27, 32, 32), "K": (27, 3, 3)}
    plan = d.plan(sizes, layout=layout)
    (step,) = plan.steps
    row = {"flops": plan.flops, "elements": 2 * 32 * 27 * 32 * 32 + 27 * 9, "result": step.size}
    row.update(reduction=1, width=1, taps=9, layout=layout)
    columns = calibrate._columns([row])
    assert columns["reduction"][0] == 1
    constants = {name.lower(): getattr(model, name) for name in CONSTANTS}
    half = model.DEPTHWISE_CHANNELS_LAST_HALF if layout == "channels_last" else model.DEPTHWISE_HALF
    assert plan.cost == pytest.approx(float(calibrate.predict_depthwise(columns, constants, half)[0]), rel=1e-9)


CONSTANTS = ("MEMORY_WEIGHT", "REORDER_WEIGHT", "LARGE_RESULT", "LARGE_RESULT_CHANNELS_LAST", "LARGE_RESULT_WEIGHT")
CONSTANTS += ("REDUCTION_HALF", "WIDTH_HALF")
# constants a fit must recover from the times they predict
TRUTH = {
    "memory_weight": 48.0,
    "reorder_weight": 80.0,
    "large_result": 2**22,
    "large_result_channels_last": 2**23,
    "large_result_weight": 600.0,
    "reduction_half": 6.0,
    "width_half": 3.0,
}


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_the_fit_recovers_constants_from_times_the_model_itself_predicts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    truth = TRUTH
    rows = [{**w._asdict(), "run": None} for w in calibrate._workloads()]
    general = [r for r in rows if not calibrate._depthwise(r)]
    for r, predicted in zip(general, calibrate.predict(calibrate._columns(general), truth)):
        r["flop_equivalents"] = float(predicted)
    constants, error = calibrate.fit(general)
    assert error < 0.02
    for name in ("memory_weight", "reorder_weight", "large_result_weight", "reduction_half", "width_half"):
        assert abs(constants[name] / truth[name] - 1) < 0.1, name
    # a threshold is known only up to the results measured: the same calls count as large
    results = sorted({r["result"] for r in general})
    for name in ("large_result", "large_result_channels_last"):
        assert [n >= constants[name] for n in results] == [n >= truth[name] for n in results], name
    depthwise = [r for r in rows if calibrate._depthwise(r) and r["layout"] == "contiguous"]
    for r, predicted in zip(depthwise, calibrate.predict_depthwise(calibrate._columns(depthwise), truth, 90.0)):
        r["flop_equivalents"] = float(predicted)
    half, error = calibrate.fit_depthwise(depthwise, truth)
    assert abs(half / 90.0 - 1) < 0.1 and error < 0.02


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_a_refit_recovers_the_constants_from_stored_median_times():
    """calibrate.py --refit reads each call's median time from a results file and fits it again:
    on times the model itself predicts, it finds the constants that predicted them, depthwise
    halves included."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    truth = TRUTH
    halves = {"contiguous": 50.0, "channels_last": 4.0}
    workloads = {}
    for w in calibrate._workloads():
        row = {**w._asdict(), "run": None}
        columns = calibrate._columns([row])
        if calibrate._depthwise(row):
            time = calibrate.predict_depthwise(columns, truth, halves[w.layout])[0]
        else:
            time = calibrate.predict(columns, truth)[0]
        workloads[w.name] = {"flop_equivalents": {"median": float(time), "q25": 0.0, "q75": 0.0, "n": 5}}
    fitted = calibrate.refit({"results": {"workloads": workloads}})
    assert fitted["rms_log_error"] < 0.02
    for name in ("memory_weight", "reorder_weight", "large_result_weight", "reduction_half", "width_half"):
        assert fitted[name] == pytest.approx(truth[name], rel=0.1), name
    assert fitted["depthwise_half"] == pytest.approx(50.0, rel=0.1)
    assert fitted["depthwise_channels_last_half"] == pytest.approx(4.0, rel=0.1)
    with pytest.raises(SystemExit, match="measure again"):
        calibrate.refit({"results": {"workloads": dict(list(workloads.items())[1:])}})


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_the_committed_constants_fit_the_committed_timings_as_the_model_counts_them():
    """After a change of how the model counts a call, the constants must be fitted again
    (calibrate.py --refit, or a new measurement): a refitted file holds exactly what a refit of
    its timings gives; a measured one, per-process fits whose medians a refit to the median
    times comes within 10 % of (the Intel Xeon's: 0 to 3 %)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    data = json.loads(calibrate.RESULTS.read_text())
    fitted = calibrate.refit(data)
    results = data["results"]
    exact = "refit" in data
    names = ["memory_weight", "reorder_weight", "large_result_weight", "reduction_half", "width_half"]
    if exact:
        names += ["large_result", "large_result_channels_last", "depthwise_half", "depthwise_channels_last_half"]
    for name in names:
        stored = results[name]["median"] if isinstance(results[name], dict) else results[name]
        assert fitted[name] == pytest.approx(stored, rel=1e-9 if exact else 0.1), name
