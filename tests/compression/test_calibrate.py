"""Data-aware initialisation: compress(..., init="activations", calibration=...) fits each
compressed layer to the teacher layer's outputs, and reproduce compares it with weight-space
initialisation."""

import json
from dataclasses import replace

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import tnviz
from tnviz.compression import LeNet5
from tnviz.compression.calibrate import fit_to_teacher
from tnviz.errors import TnvizError

from .helpers import reproduce_on_small_digits, small_mnist, state_equal

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI


@pytest.fixture(scope="module")
def digits():
    return small_mnist(256, 64)


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return LeNet5().eval()


def test_data_aware_init_lowers_the_output_error_and_follows_the_teacher(teacher, digits):
    train, test = digits
    calibration = train.tensors[0][:64]
    kwargs = {"format": "mtt", "rate": 0.05, "calibration": calibration}
    plain, before = tnviz.compress(teacher, init="decompose", **kwargs)
    fitted, after = tnviz.compress(teacher, init="activations", fit_steps=10, **kwargs)
    for b, a in zip(before.layers, after.layers):
        # Both inits report the weight error and the output error; the fit lowers the latter.
        assert b.output_error is not None and a.output_error is not None and b.error is not None and a.error is not None
        assert a.output_error < 0.8 * b.output_error, (b, a)
        assert b.fit_seconds is None and a.fit_seconds is not None and a.fit_seconds >= 0
    assert after.output_error < before.output_error and after.weight_error == pytest.approx(
        sum(r.error for r in after.layers) / 2
    )
    # On digits the fit never saw (the held-out ones), the fitted student is closer to its teacher.
    x = test.tensors[0]
    with torch.no_grad():
        want = teacher(x)
        gap = lambda model: float((model(x) - want).norm() / want.norm())
        assert gap(fitted) < gap(plain)
    # The report says so: the columns, the table and the note.
    row = after.rows()[0]
    assert {"reconstruction_error", "output_error", "fit_seconds"} <= set(row)
    text = str(after)
    assert "output err." in text and "weight err." in text and "64 calibration samples" in text
    assert "L-BFGS" in text and "init=activations" in text


def test_data_aware_init_is_deterministic_and_takes_a_dataloader(teacher, digits):
    train, _ = digits
    loader = DataLoader(TensorDataset(*(t[:96] for t in train.tensors)), batch_size=32)
    a, ra = tnviz.compress(
        teacher, format="mtt", rate=0.1, include="fc1", init="activations", calibration=loader, fit_steps=5
    )
    b, rb = tnviz.compress(
        teacher, format="mtt", rate=0.1, include="fc1", init="activations", calibration=loader, fit_steps=5
    )
    assert state_equal(a, b) and ra.rows() == [{**r, "fit_seconds": r2["fit_seconds"]} for r, r2 in
                                                zip(rb.rows(), ra.rows())]  # fmt: skip
    assert "96 calibration samples" in str(ra) and "capped" not in str(ra)
    # One decomposition serves both inits: fitting a decomposed student gives the same student.
    decomposed = tnviz.compress(teacher, format="mtt", rate=0.1, include="fc1")
    fitted = fit_to_teacher(decomposed, teacher, loader, fit_steps=5)
    c, rc = fitted
    assert state_equal(a, c) and rc.init == "activations" and [r.output_error for r in rc.layers] == [
        r.output_error for r in ra.layers]  # fmt: skip
    with pytest.raises(TnvizError, match="starts from a decomposed student") as info:
        fit_to_teacher(fitted, teacher, loader)
    assert info.value.token == "activations"
    # More samples than calibration_samples: the first ones are used, and the report says so.
    _, capped = tnviz.compress(
        teacher, format="mtt", rate=0.1, include="fc1", calibration=loader, calibration_samples=40
    )
    assert "40 calibration samples (capped at calibration_samples=40" in str(capped)
    # Without calibration, decompose reports no output error (and no note).
    _, bare = tnviz.compress(teacher, format="mtt", rate=0.1, include="fc1")
    assert bare.output_error is None and not any("calibration" in n for n in bare.notes)


@pytest.mark.parametrize(
    ("calibration", "extra", "token", "message"),
    [
        (None, {}, "calibration", "needs calibration="),
        ([], {}, "calibration", "calibration is empty"),
        (torch.zeros(0, 1, 28, 28), {}, "calibration", "calibration is empty"),
        (torch.zeros(4, 3, 28, 28), {}, "(3, 28, 28)", "do not run through the model"),
        ([torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 20, 20)], {}, "(2, 1, 20, 20)", "disagree in shape"),
        (["digits"], {}, "str", "must be tensors or"),
        (torch.zeros(4, 1, 28, 28, dtype=torch.bool), {}, "(4, 1, 28, 28)", "floating-point"),
        # integer token ids are a calibration batch; integer images do not run through a Conv2d
        (torch.zeros(4, 1, 28, 28, dtype=torch.int64), {}, "(1, 28, 28)", "do not run through the model"),
        (torch.zeros(4, 1, 28, 28), {"calibration_samples": 0}, "0", "positive integer"),
        (torch.zeros(4, 1, 28, 28), {"fit_steps": -1}, "-1", "non-negative"),
    ],
)
def test_bad_calibration_is_refused_by_name(teacher, calibration, extra, token, message):
    with pytest.raises(TnvizError, match=message) as info:
        tnviz.compress(teacher, format="tt", rate=0.1, init="activations", calibration=calibration, **extra)
    assert info.value.token == token


def test_the_memory_estimate_comes_before_the_recording(teacher):
    # 4,096 samples of LeNet-5's conv2 and fc1 activations: about 115 MiB; the limit is 1 MiB.
    with pytest.raises(TnvizError, match=r"about 115 MiB \(limit 1 MiB\).*\(at most 35\)") as info:
        tnviz.compress(teacher, format="tt", rate=0.1, init="activations", calibration=torch.zeros(4096, 1, 28, 28),
                       calibration_samples=4096, calibration_memory=2**20)  # fmt: skip
    assert info.value.token == "calibration_samples"


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """reproduce on 256/200 digits, short training and a short fit."""
    return reproduce_on_small_digits(
        monkeypatch, tmp_path, block_epochs=1, finetune_epochs=1, e2e_epochs=1, calibration_samples=64, fit_steps=5
    )


def test_reproduce_compares_the_inits_and_resumes(tiny, tmp_path, monkeypatch):
    args = {"quick": True, "formats": ["mtt"], "rates": [0.1], "schedules": ["e2e"], "log": lambda _: None}
    rows = tiny.reproduce_lenet5(tmp_path, inits=["decompose", "activations"], **args)
    by = {r["init"]: r for r in rows}
    assert sorted(by) == ["activations", "decompose"] and len(rows) == 2
    for r in rows:
        assert 0 < r["weight_error"] and 0 < r["output_error"] and 0 <= r["init_acc"] <= 1
        assert "conv2: weight" in r["layer_errors"] and (r["fit_seconds"] > 0) == (r["init"] == "activations")
    assert by["activations"]["output_error"] < by["decompose"]["output_error"]
    assert by["activations"]["fit"] == {"calibration_samples": 64, "fit_steps": 5} and "fit" not in by["decompose"]
    data = json.loads((tmp_path / "results.json").read_text())
    assert {e["init"] for e in data["inits"]} == {"decompose", "activations"}
    assert {c["init"] for c in data["cells"]} == {"decompose", "activations"}
    assert any("accuracy right after initialisation" in c for c in data["claims"])
    text = (tmp_path / "results.md").read_text()
    assert "## Initialisation: weight-space against data-aware" in text
    assert "| accuracy after init |" in text and "| TNN-mTT | 10 % | activations |" in text
    assert "end-to-end KD (E2E-KD), data-aware" in text
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert {"init", "weight_error", "output_error", "init_acc", "test_acc"} <= set(header)
    # Started again, nothing is trained again; a run of the weight-space init alone reuses its rows.
    real = tiny.distill
    monkeypatch.setattr(tiny, "distill", lambda *a, **k: pytest.fail("retrained a finished student"))
    again = tiny.reproduce_lenet5(tmp_path, inits=["decompose", "activations"], **args)
    assert [r["test_acc"] for r in again] == [r["test_acc"] for r in rows]
    tiny.reproduce_lenet5(tmp_path, **args)
    # Another fit budget: the data-aware student is trained again, the weight-space one is not.
    monkeypatch.setattr(tiny, "QUICK", replace(tiny.QUICK, fit_steps=4))
    trained = []
    monkeypatch.setattr(tiny, "distill", lambda *a, **k: trained.append(1) or real(*a, **k))
    rows = tiny.reproduce_lenet5(tmp_path, inits=["decompose", "activations"], **args)
    assert len(trained) == 1 and sorted(r["init"] for r in rows) == ["activations", "decompose"]
    assert next(r for r in rows if r["init"] == "activations")["fit"]["fit_steps"] == 4


def test_the_claims_are_stated_per_init():
    from tnviz.experiments.lenet5 import QUICK, _summarise
    from tnviz.experiments.report import results_markdown

    settings = replace(QUICK, formats=("tt", "mtt"), rates=(0.05,), seeds=2, schedules=("e2e",),
                       inits=("decompose", "activations"))  # fmt: skip
    # The TNN layer wins with weight-space init, loses with data-aware init; data-aware starts higher.
    acc = {("tt", "decompose"): 0.90, ("mtt", "decompose"): 0.95, ("tt", "activations"): 0.97,
           ("mtt", "activations"): 0.93}  # fmt: skip
    rows = [
        {"format": f, "method": f, "target_rate": 0.05, "schedule": "e2e", "seed": seed, "init": init,
         "weight_error": 0.9, "output_error": 0.5 if init == "decompose" else 0.2,
         "init_acc": 0.5 if init == "decompose" else 0.8, "test_acc": a + 0.001 * seed}
        for (f, init), a in acc.items() for seed in (0, 1)
    ]  # fmt: skip
    data = _summarise(rows, settings, {0: 0.98, 1: 0.98}, 60.0, True)
    claims = data["claims"]
    tnn = {c.split("]")[0][1:]: c for c in claims if "Claim 1" in c}
    assert "supported" in tnn["decompose init"] and "+5.00 points" in tnn["decompose init"]
    assert "contradicted" in tnn["activations init"] and "-4.00 points" in tnn["activations init"]
    (start,) = [c for c in claims if "right after initialisation" in c]
    assert "+30.00 points" in start and "higher in 2 of 2" in start
    entry = next(e for e in data["inits"] if e["format"] == "mtt" and e["init"] == "activations")
    assert entry["output_error"]["mean"] == pytest.approx(0.2) and entry["init_acc"]["mean"] == pytest.approx(80)
    assert entry["final"]["e2e"]["mean"] == pytest.approx(93.05)
    data["provenance"]["commit"] = "x"
    text = results_markdown(data)
    assert "| TNN-mTT | 5 % | activations | 0.900 ± 0.000 | 0.200 ± 0.000 | 80.00 ± 0.00 | 93.05 ± 0.64 |" in text


def test_reproduce_refuses_an_unknown_init(tiny, tmp_path):
    with pytest.raises(TnvizError, match="unknown init 'weights'") as info:
        tiny.reproduce_lenet5(tmp_path, quick=True, inits=["weights"], log=lambda _: None)
    assert info.value.token == "weights"
