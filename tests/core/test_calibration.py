"""The planner's time objective takes its constants from the calibration benchmark's results
file (benchmarks/calibrate.py), never from numbers typed in code."""

import json
import sys
from pathlib import Path

import pytest

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
        spread = results[constant]
        assert spread["q25"] <= spread["median"] <= spread["q75"]
    assert len(results["workloads"]) >= 15
    assert data["provenance"]["commit"] and data["provenance"]["machine"]["cores"]


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_the_fit_recovers_constants_from_times_the_model_itself_predicts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    truth = {
        "memory_weight": 48.0,
        "reorder_weight": 80.0,
        "large_result": 2**22,
        "large_result_channels_last": 2**23,
        "large_result_weight": 600.0,
        "reduction_half": 6.0,
        "width_half": 3.0,
    }
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
