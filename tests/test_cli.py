"""The ``tnviz`` command: the demo (the README's main job) and ``tnviz plan``."""

import io
import subprocess
import sys

import pytest

from tnviz.cli import main
from tnviz.demo import run_demo

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI


def test_demo_checks_every_paper_layer_against_dense():
    out = io.StringIO()
    assert run_demo(out, batch=2, length=6)
    text = out.getvalue()
    for name in ("dense", "cp", "tk", "tt", "tr", "mcp", "mtt"):
        assert f"=== {name} ===" in text
    assert text.count("(ok)") == text.count("=== ")
    assert "all layers agree with the dense convolution" in text


def test_plan_command_prints_a_table(capsys):
    assert main(["plan", "bsxy,tsxy->btxy|xy", "A=2,3,8,8", "B=4,3,3,3", "--padding", "1"]) == 0
    out = capsys.readouterr().out
    assert "conv2d x* pad=1 y* pad=1" in out and "FLOPs" in out


def test_plan_command_reports_bad_input_without_a_traceback(capsys):
    assert main(["plan", "bsxy,ts->btxy|xy", "A=2,3,8,8"]) == 2
    err = capsys.readouterr().err
    assert "tnviz: error:" in err and "Traceback" not in err and "'x'" in err


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "tnviz.cli", "plan", "ij,jk->ik", "i=2", "j=3", "k=4"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "contract j" in result.stdout


def test_reproduce_writes_the_table_plot_and_diagrams(tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    import torch

    from tnviz.experiments import lenet5

    # One epoch per schedule: this checks the files, not the accuracies (the experiment's job).
    monkeypatch.setattr(lenet5, "QUICK", replace(lenet5.QUICK, finetune_epochs=1, e2e_epochs=1))

    from tnviz.cli import main
    from tnviz.compression import LeNet5
    from tnviz.compression.checkpoint import save_atomic

    torch.manual_seed(0)
    from tnviz.experiments.lenet5 import QUICK, teacher_cache

    cache = teacher_cache(tmp_path, QUICK)  # a cached (untrained) teacher: no teacher training here
    save_atomic({"kind": "tnviz-teacher", "model": LeNet5().state_dict(), "test_acc": 0.1}, cache)
    assert (
        main(["reproduce", "lenet5-mnist", "--quick", "--out", str(tmp_path), "--formats", "mtk", "--rates", "0.1"])
        == 0
    )
    out = capsys.readouterr().out
    assert "teacher: loaded" in out and "TNN-mTK" in out
    assert "4 students: 1 formats" in out and "[4/4] TNN-mTK" in out  # how many of how many
    table = (tmp_path / "results.md").read_text()
    assert "| TNN-mTK |" in table and "97.71 / 98.56 / 98.52" in table
    for heading in ("block-wise KD only", "Seq-KD", "E2E-KD", "from scratch", "claims, as the code states them"):
        assert heading in table
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[0].startswith("format,method,target_rate") and len(csv) == 5  # one row per schedule
    assert {line.split(",")[-4] for line in csv[1:]} == {"blockwise", "blockwise+e2e", "e2e", "scratch"}
    import json

    from tnviz.experiments.report import results_markdown

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["provenance"]["commit"] is not None and data["provenance"]["settings"]["seeds"] == 1
    assert results_markdown(data) == table  # the markdown is a function of the file
    assert (tmp_path / "accuracy_vs_rate.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "diagrams").iterdir()) == ["mtk-0.1-conv2.svg", "mtk-0.1-fc1.svg"]
    assert main(["reproduce", "lenet5-mnist", "--rates", "x"]) == 2


def test_compress_command_on_a_users_checkpoint(tmp_path, capsys, monkeypatch):
    import torch

    from tnviz.cli import main
    from tnviz.compression import LeNet5
    from tnviz.compression.saved import load_compressed

    torch.save(LeNet5().state_dict(), tmp_path / "lenet.pt")
    out = tmp_path / "out"
    args = ["compress", "--model", "lenet5", "--checkpoint", str(tmp_path / "lenet.pt"), "--format", "tt"]
    assert main([*args, "--rate", "0.05", "--schedule", "none", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "conv2" in text and "fc1" in text
    model = load_compressed(out / "model.pt")
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert (out / "diagrams" / "conv2.svg").exists() and (out / "report.txt").exists()
    # every budget compress knows is offered, FLOPs and time measured on the data's input (the
    # clock replaced by a count of FLOPs here: a test asserts nothing of wall-clock time)
    from tnviz.compression import surgery
    from tnviz.compression.budget import BUDGETS
    from tnviz.compression.latency import model_flops

    monkeypatch.setattr(surgery, "seconds", lambda m, x: model_flops(m, x) * 1e-9)
    monkeypatch.setattr(surgery, "relative_latency", lambda new, old, x: model_flops(new, x) / model_flops(old, x))
    for budget in BUDGETS:
        assert main([*args, "--rate", "0.3", "--budget", budget, "--schedule", "none", "--out", str(out)]) == 0
    assert "The whole model's FLOPs on the example input: " in (out / "report.txt").read_text()
    capsys.readouterr()
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    bad = [
        "compress",
        "--model",
        "lenet5",
        "--checkpoint",
        str(tmp_path / "bad.pt"),
        "--rate",
        "0.1",
        "--out",
        str(out),
    ]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "cannot be read as weights" in err and "delete" not in err


def test_an_interrupted_teacher_is_not_cached(tmp_path, monkeypatch):
    import pytest

    from tnviz.compression.distill import DistillResult
    from tnviz.experiments import lenet5

    monkeypatch.setattr(lenet5, "distill", lambda model, *a, **k: DistillResult(model, stopped=True, interrupted=True))
    cache = lenet5.teacher_cache(tmp_path, lenet5.QUICK)
    with pytest.raises(KeyboardInterrupt):
        lenet5.train_teacher(cache, lenet5.QUICK, print, False)
    assert not cache.exists()


def test_the_quick_settings_help_says_how_many_students_it_trains(capsys):
    from tnviz.experiments.lenet5 import FULL, QUICK, planned_students

    assert planned_students(QUICK) == 72 and planned_students(FULL) == 8 * 3 * 4 * 3
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    assert "(72 students)" in " ".join(capsys.readouterr().out.split())
