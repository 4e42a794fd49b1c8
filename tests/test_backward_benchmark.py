"""benchmarks/backward.py: its FLOP rows come from ``Diagram.backward_plan`` and docs/backward.md is
generated from its results file (no timing here: that is the benchmark's own run)."""

import json
import sys
from pathlib import Path

import pytest
from fake_results import fake_provenance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import backward  # noqa: E402


def _fake_results() -> dict:
    spread = {"median": 2.5, "q25": 2.25, "q75": 2.75, "n": 3}
    flops = {
        "ranks": "r=4",
        "params_over_dense": 0.1234,
        "approach": "mixed",
        "forward_flops": 1_000_000,
        "gradient_flops": {"A": 1_500_000, "C": 1_000_000},
        "refused": {"K": "K does not hold convolution index 'x' (a made-up reason)"},
        "input_gradient_flops": 1_000_000,
        "input_gradient_refused": None,
        "params_backward_over_forward": 2.5,
        "backward_over_forward": 3.5,
    }
    return {
        "provenance": fake_provenance(
            "backward.py", {"repeats": 5, "processes": 3, "threads": 2, "device": "cpu", "rate": 0.1}
        ),
        "results": {
            "flops": {"conv": {"cp": flops}},
            "times": {
                "conv": {
                    "torch": {"fwd_bwd_over_fwd": spread, "layer_over_dense": 1.0},
                    "cp": {"fwd_bwd_over_fwd": spread, "layer_over_dense": spread},
                }
            },
        },
    }


def test_the_doc_renders_a_results_file_as_tables():
    text = backward.markdown(_fake_results())
    assert "## Conv2d 64→64, 3×3, padding 1, batch 32 on 32×32" in text
    rows = [line for line in text.splitlines() if line.startswith("| cp |")]
    assert rows == [
        "| cp | r=4 | 0.123 | mixed | 1 M | 2.50 + 1 refused | 1.00 | — | 2.50 (2.25–2.75) | 2.50 (2.25–2.75) |"
    ]
    assert "| `nn.Conv2d` |" in text
    assert "- **cp**: ∂A 1.50, ∂C 1.00, ∂K refused" in text
    assert "(a made-up reason)" in text
    assert "Commit `0123456789`" in text and "median over 5 rounds" in text
    assert " s |" not in text and " ms " not in text  # ratios only, never absolute times


def test_flop_rows_are_backward_plans_per_tensor_flops():
    layer = backward.make_layer("conv", "cp", rate=0.5, channels=8)
    row = backward.flops(layer, (2, 8, 6, 6))
    d = layer.diagram.bind(shapes={"X": (2, 8, 6, 6)})
    plan = d.backward_plan(tensors=d.tensor_names[1:])
    assert list(row["gradient_flops"]) == ["A", "Kx", "Ky", "C"] and row["refused"] == {}
    assert row["gradient_flops"] == {name: p.flops for name, p in plan.gradients.items()}
    assert all(f > 0 for f in row["gradient_flops"].values())
    assert row["forward_flops"] == plan.forward.flops
    assert row["params_backward_over_forward"] == pytest.approx(plan.backward_flops / plan.forward.flops)
    assert row["input_gradient_flops"] == d.grad("X").plan().flops


def test_a_strided_layer_prices_every_gradient():
    layer = backward.make_layer("conv", "tt", rate=0.5, channels=8, stride=2)
    row = backward.flops(layer, (2, 8, 6, 6))
    assert not row["refused"] and set(row["gradient_flops"]) == set(layer.diagram.tensor_names) - {"X"}
    assert row["input_gradient_flops"] is not None  # the input's gradient is a diagram at stride 2


def test_the_committed_doc_equals_what_its_results_file_generates():
    assert backward.RESULTS.exists(), "run: python benchmarks/backward.py"
    data = json.loads(backward.RESULTS.read_text())
    assert backward.DOC.read_text() == backward.markdown(data), "run: python benchmarks/backward.py --doc"
