import time

import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

import tnviz  # noqa: E402
from tnviz.compression import LeNet5  # noqa: E402
from tnviz.errors import TnvizError  # noqa: E402
from tnviz.widgets import DecompositionExplorer, DiagramEditor, RankExplorer, TradeoffExplorer, TrainingDashboard  # noqa: E402


def test_rank_explorer_reaches_its_rates_up_to_512_channels():
    # (How fast it responds is measured by benchmarks, not asserted here: a wall-clock bound
    # fails on a busy machine.)
    explorer = RankExplorer(512, 512, 3, format="mtt", rate=0.1)
    for fmt in ("cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"):
        explorer.format_box.value = fmt
        for rate in (0.02, 0.05):
            explorer.rate_slider.value = rate
            assert 0.8 * rate <= explorer.achieved_rate <= rate
            assert explorer.last_update_ms > 0
    explorer.kernel_box.value = "Linear"
    assert 0.8 * 0.05 <= explorer.achieved_rate <= 0.05


def test_rank_explorer_moves_parameters_and_diagram_with_the_slider():
    explorer = RankExplorer(64, 64, 3, format="cp", rank=4)
    params, svg = explorer.params, explorer.svg
    explorer.rank_slider.value = 9
    assert explorer.ranks == {"r": 9} and explorer.params == 9 * (64 + 3 + 3 + 64)
    assert explorer.params > params and explorer.svg != svg and "<svg" in explorer.svg
    explorer.format_box.value = "mtt"
    assert set(explorer.ranks) == {"r1", "r2", "r3"}


def test_a_hundred_rapid_changes_leave_the_last_value_shown():
    conv = torch.nn.Conv2d(16, 16, 3)
    explorer = RankExplorer(pretrained=conv, format="tk", rank=2)
    for k in range(100):
        explorer.rank_slider.value = 1 + k % 16
    explorer.rank_slider.value = 7
    assert explorer.wait(60)
    from tnviz.nn import from_dense

    want = from_dense(conv, format="tk", rank=7, n_iter_max=50).reconstruction_error
    assert explorer.ranks == {"p": 7, "q": 7} and explorer.error == pytest.approx(want, rel=1e-6)
    assert "0." in explorer.error_label.value


def test_decomposition_explorer_on_a_real_image():
    explorer = DecompositionExplorer(ranks=(1, 4, 16))
    assert explorer.tensor.shape == (64, 64, 3)
    errors = [e for _, e in sorted(explorer.curves["cp"])]
    assert errors == sorted(errors, reverse=True)  # more parameters, less error
    explorer.rank_slider.value = 16
    high = explorer.error
    explorer.rank_slider.value = 1
    assert explorer.error > high
    for fmt in ("tk", "tt", "tr"):
        explorer.format_box.value = fmt
        assert 0 <= explorer.error < 1 and explorer.images.value[:4] == b"\x89PNG"


def test_diagram_editor_builds_specs_modules_and_refuses_bad_names():
    editor = DiagramEditor()
    assert editor.diagram is None and "empty" in editor.message
    editor.canvas.tensors = [{"name": "A", "x": 100, "y": 100}, {"name": "B", "x": 300, "y": 100}]
    editor.canvas.edges = [
        {"index": "i", "ends": ["A"], "out": True, "conv": False},
        {"index": "j", "ends": ["A", "B"], "out": False, "conv": False},
        {"index": "k", "ends": ["B"], "out": True, "conv": False},
    ]
    assert editor.spec == "A: i j, B: j k -> i k"
    editor.set_size("j", 5)
    module = editor.to_module(inputs=("A",))
    a = torch.randn(4, 5)
    assert torch.allclose(module(a), a @ module.weights["B"], atol=1e-6)
    editor.rename("B", "W")
    assert editor.spec == "A: i j, W: j k -> i k"
    with pytest.raises(TnvizError, match="not an identifier"):
        editor.rename("W", "1x")
    editor.set_spec("X: b s x y, K: t s x y -> b t x y | x y")
    assert editor.spec == "X: b s x y, K: t s x y -> b t x y | x y" and "FLOPs" in editor.cost.value
    editor.set_size("x", 12, kernel=3)
    assert editor.diagram.output_shape == (4, 4, 10, 14)  # x: 12 - 3 + 1; y: the defaults 16 and 3


def test_training_dashboard_runs_in_the_background_and_stops(tmp_path):
    from compression.helpers import small_mnist

    train, test = small_mnist(1024, 100)
    teacher = LeNet5()
    student, report = tnviz.compress(teacher, format="tk", rate=0.1)
    dash = TrainingDashboard(report=report, redraw_every=0.0)
    ckpt = tmp_path / "run.pt"
    thread = dash.run(student, teacher, train, test, epochs=50, checkpoint=ckpt)
    with pytest.raises(TnvizError, match="still going"):
        dash.run(student, teacher, train, test, epochs=1)
    deadline = time.time() + 60
    while len(dash.epochs) < 1 and time.time() < deadline:
        time.sleep(0.05)
    assert thread.is_alive()  # the caller was not blocked
    dash.stop_button.click()
    thread.join(60)
    assert not thread.is_alive() and dash.result.stopped
    assert 1 <= len(dash.epochs) < 50 and dash.plot.value[:4] == b"\x89PNG" and "conv2" in dash.table.value
    from tnviz.compression.checkpoint import load_checkpoint

    state = load_checkpoint(ckpt)
    assert len(state["history"]) == len(dash.epochs)  # the checkpoint matches what the dashboard showed
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_tradeoff_explorer_collects_points_and_shows_one():
    from torch.utils.data import TensorDataset

    from tnviz.compression import evaluate, mnist_offline

    # Class-balanced subsets (mnist_offline's sets are sorted by class: their first rows are
    # all zeros, and a model that always says 0 would score 100 % on them).
    train, test = mnist_offline()
    train = TensorDataset(*(t[::32] for t in train.tensors))
    test = TensorDataset(*(t[::10] for t in test.tensors))
    assert torch.bincount(test.tensors[1]).tolist() == [10] * 10
    teacher = LeNet5()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    explorer = TradeoffExplorer(teacher, train, test, formats=("mtt", "mtr"), rates=(0.1,), epochs=1)
    explorer.run(background=False)
    assert not explorer.failures and [p.format for p in explorer.points] == ["mtt", "mtr"]
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # the teacher is untouched
    x, y = test.tensors
    for p in explorer.points:
        # The reported accuracy is the point's own student's, on the test set: computed here by
        # hand and by tnviz.compression.evaluate.
        p.model.eval()
        with torch.no_grad():
            correct = int((p.model(x).argmax(1) == y).sum())
        assert p.model is not teacher and p.accuracy == correct / len(y) == evaluate(p.model, test)[0]
        # The achieved rate counts the student's factors against the teacher's dense weights.
        names = [r.name for r in p.report.layers]
        assert names == ["conv2", "fc1"] and p.report.kept == ("conv1", "fc2")
        factors = sum(w.numel() for n in names for w in p.model.get_submodule(n).weights.values())
        dense = sum(teacher.get_submodule(n).weight.numel() for n in names)
        assert p.achieved_rate == p.report.rate == pytest.approx(factors / dense, rel=1e-12)
        assert 0.08 <= p.achieved_rate <= 0.1
        assert f"{100 * p.accuracy:.2f} %" in p.label
    explorer.chooser.value = 1
    assert "<svg" in explorer.details.value and "fc1" in explorer.details.value
    assert explorer.details.value.startswith(explorer.points[1].report._repr_html_())  # the chosen point's report
