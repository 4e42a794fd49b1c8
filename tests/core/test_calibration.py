"""The planner's time objective takes its constants from the calibration benchmark's results
file (benchmarks/calibrate.py), never from numbers typed in code."""

import json
import sys
from pathlib import Path

from tnviz.core.plan import model

ROOT = Path(__file__).resolve().parents[2]


def test_the_planners_constants_are_the_calibration_results_medians():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    data = json.loads(calibrate.RESULTS.read_text())
    packaged = json.loads(calibrate.PACKAGE_FILE.read_text())
    assert packaged == calibrate.package_constants(data), "run: python benchmarks/calibrate.py --write-only"
    assert (model.MEMORY_WEIGHT, model.REDUCTION_HALF, model.WIDTH_HALF) == (
        packaged["memory_weight"],
        packaged["reduction_half"],
        packaged["width_half"],
    )
    assert model.DEPTHWISE_CHANNELS_LAST_HALF == packaged["depthwise_channels_last_half"]
    results = data["results"]
    assert results["allocator"] == "system"  # what a user has
    for constant in (
        "memory_weight",
        "reduction_half",
        "width_half",
        "rms_log_error",
        "depthwise_channels_last_half",
    ):
        spread = results[constant]
        assert spread["q25"] <= spread["median"] <= spread["q75"]
    assert len(results["workloads"]) >= 15
    assert data["provenance"]["commit"] and data["provenance"]["machine"]["cores"]


def test_the_fit_recovers_constants_from_times_the_model_itself_predicts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    rows = []
    for name, _, flops, elements, reduction, width, _layout in calibrate._workloads():
        predicted = calibrate._predict(flops, elements, reduction, width, 64.0, 16.0, 4.0)
        rows.append({"name": name, "flops": flops, "elements": elements, "reduction": reduction, "width": width})
        rows[-1]["flop_equivalents"] = predicted
    half, width_half, error = calibrate.fit(rows, 64.0)
    assert abs(half / 16.0 - 1) < 0.1 and abs(width_half / 4.0 - 1) < 0.1 and error < 0.05
