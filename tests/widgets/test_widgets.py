import html
import time

import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

import tnviz  # noqa: E402
from tnviz.compression import LeNet5  # noqa: E402
from tnviz.errors import TnvizError  # noqa: E402
from tnviz.widgets import DecompositionExplorer, RankExplorer, TradeoffExplorer, TrainingDashboard  # noqa: E402

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI


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
    # the report is an aligned table: a header cell per column, numbers right-aligned under right-aligned headers
    table = dash.table.value
    head, rows = report.table()
    assert table.count("<th ") == len(head) and table.count("<td ") == len(head) * len(rows)
    assert '<th class="tn-num" style="' in table and "text-align:right" in table and "<thead>" in table
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
        assert names == ["conv2", "fc1"] and [k.name for k in p.report.kept] == ["conv1", "fc2"]
        factors = sum(w.numel() for n in names for w in p.model.get_submodule(n).weights.values())
        dense = sum(teacher.get_submodule(n).weight.numel() for n in names)
        assert p.achieved_rate == p.report.rate == pytest.approx(factors / dense, rel=1e-12)
        assert 0.08 <= p.achieved_rate <= 0.1
        assert f"{100 * p.accuracy:.2f} %" in p.label
    explorer.chooser.value = 1
    assert "<svg" in explorer.details.value and "fc1" in explorer.details.value
    assert explorer.plot.selected == 1 and explorer.selected is explorer.points[1]  # the plot marks it too
    details = explorer.details.value
    assert explorer.points[1].label in details and html.escape(explorer.points[1].report.summary()) in details
    # the sweep is over: nothing left to run, nothing to stop
    assert explorer.status.value.startswith("done") and not explorer.todo()
    assert explorer.start_button.disabled and explorer.stop_button.disabled
    # FLOPs are priced (for the first 32 test inputs), not "—"
    for p in explorer.points:
        assert p.flops and p.dense_flops and p.report.objective == "time"
        assert all(r.price is not None and r.price.batch == 32 for r in p.report.layers)
        head, rows = p.report.table()
        assert all(row[head.index("FLOPs/dense")] != "—" for row in rows)


# --- issue 14, part 5 -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["svd", "cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr", "btd"])
def test_rank_slider_stops_at_rate_one(fmt):
    from tnviz.core.formats import LayerConfig, param_count

    explorer = RankExplorer(64, 64, 3, format=fmt, rank=8)
    top = explorer.rank_slider.max
    assert top == explorer.max_rank
    assert (
        param_count(fmt, LayerConfig(64, 64, (3, 3)), top)
        <= 36_864
        < param_count(fmt, LayerConfig(64, 64, (3, 3)), top + 1)
    )
    explorer.rank_slider.value = top
    assert explorer.ranks == dict.fromkeys(explorer.ranks, top) and explorer.achieved_rate <= 1
    assert not explorer.warning and "tn-warning" not in explorer.warning_label.value
    explorer.rank_slider.value = top + 50  # past the bound: held at it
    assert explorer.rank_slider.value == top and explorer.achieved_rate <= 1


def test_rank_slider_bound_follows_the_format_and_lowers_the_value():
    explorer = RankExplorer(64, 64, 3, format="cp", rank=200)
    assert explorer.rank_slider.max == 275 and explorer.ranks == {"r": 200}  # 134·r ≤ 36,864
    explorer.format_box.value = "tr"
    assert explorer.rank_slider.value == explorer.rank_slider.max == explorer.max_rank < 200
    assert explorer.achieved_rate <= 1


def _shown(widget):
    """Every widget in ``widget``'s displayed tree."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _shown(child)


def test_a_slider_whose_bound_moves_is_drawn_anew_so_its_end_key_reaches_the_new_bound():
    # noUiSlider (ipywidgets' slider) keeps the range it was first drawn with for Home and End
    explorer = RankExplorer(64, 64, 3, format="mtk", rank=2)
    old = explorer.rank_slider
    explorer.format_box.value = "cp"
    new = explorer.rank_slider
    assert new is not old and (new.min, new.max) == (1, 275) and new.value == 2
    assert new in list(_shown(explorer)) and old not in list(_shown(explorer))
    assert "tn-rank-slider" in new._dom_classes and new.layout is old.layout
    new.value = 275  # the new slider drives the explorer
    assert explorer.ranks == {"r": 275}
    explorer.order_slider.value = 3  # no move of the bound: the same slider
    assert explorer.rank_slider is new

    decomposition = DecompositionExplorer(format="cp", rank=4, ranks=(1, 4))
    old = decomposition.rank_slider
    decomposition.format_box.value = "tr"
    new = decomposition.rank_slider
    assert new is not old and new.max == decomposition.max_rank and new in list(_shown(decomposition))
    new.value = 2
    assert decomposition.label.value.startswith("tr rank 2:")


def test_a_rate_the_format_cannot_reach_shows_its_error_and_no_other_formats_diagram():
    explorer = RankExplorer(64, 64, 3, format="mtk", rate=10**-2.5)  # the slider's least rate
    assert "mtk" in explorer.svg
    explorer.format_box.value = "cp"  # rank 1 needs 134 of the 116 parameters allowed
    assert explorer.svg == explorer.picture.value == ""
    message = explorer.figures.value
    assert "tn-error" in message or "error" in message
    assert "rate 0.003162 allows 116 parameters" in message and "0.0031622776" not in message
    assert "needs 134 at rank 1 (rate 0.003635 or more)" in message
    explorer.rate_slider.value = 0.1  # a rate cp reaches: its diagram
    assert "cp" in explorer.svg and explorer.picture.value == explorer.svg


def test_rank_explorer_warns_above_rate_one_where_no_bound(monkeypatch):
    import tnviz.widgets.rank_explorer as module

    monkeypatch.setattr(module, "max_rank_within", lambda *a, **k: None)  # a bound that cannot be computed
    explorer = RankExplorer(64, 64, 3, format="tr", rank=128)
    assert explorer.achieved_rate > 1
    assert "tn-warning" in explorer.warning_label.value and "rate above 1" in explorer.warning


def test_rank_explorer_labels_every_leg_with_its_size():
    from tnviz.render.scene import build_scene, make_style

    for fmt, kernel in (("mtt", 3), ("cp", None)):
        explorer = RankExplorer(64, 64, kernel, format=fmt, rate=0.1, input_size=32, batch=32)
        lines = build_scene(explorer.price.diagram, make_style({})).lines
        assert lines and all("=" in line.text for line in lines), [line.text for line in lines]
        assert "b=32" in explorer.svg and ("t=64" in explorer.svg or "t1=4" in explorer.svg)
        if kernel:
            assert "x=32" in explorer.svg and "y=32" in explorer.svg and "x=3" in explorer.svg


def test_rank_explorer_shows_the_objective_and_an_aligned_table():
    explorer = RankExplorer(64, 64, 3, format="mtt", rate=0.1)
    assert explorer.objective == "time" and "objective &#x27;time&#x27;" in explorer.figures.value
    assert 'class="tn-table"' in explorer.figures.value and explorer.approach in explorer.figures.value


def test_html_table_aligns_headers_and_numbers():
    from tnviz.widgets._common import html_table

    text = html_table(
        ("format", "params", "FLOPs", "plan"), [("cp", "3,618", "242.4 M", "mixed"), ("tk", "—", "1.5 M", "x")]
    )
    assert text.count("<th ") == 4 and text.count("<td ") == 8 and "<thead>" in text and "<tbody>" in text
    heads = [h.split(">")[0] for h in text.split("<th ")[1:]]
    assert ["text-align:right" in h for h in heads] == [False, True, True, False]
    assert html_table(None, [("<b>", "1")]).count("&lt;b&gt;") == 1 and "<th " not in html_table(None, [("a", "1")])


def test_decomposition_explorer_says_it_is_decomposing_before_it_does():
    explorer = DecompositionExplorer(format="cp", rank=4, ranks=(1, 4))
    labels = []
    explorer.label.observe(lambda c: labels.append(c["new"]), names="value")
    explorer.rank_slider.value = 60
    assert labels[0] == "<i>cp rank 60: decomposing…</i>" and labels[-1].startswith("cp rank 60: ")
    assert not explorer.rank_slider.continuous_update  # no queue of decompositions while dragging


def test_decomposition_explorer_bounds_marks_and_warns():
    import numpy as np

    from tnviz.widgets.decomposition_explorer import decomposition_params, max_rank

    explorer = DecompositionExplorer(ranks=(1, 4))
    layout = explorer.rank_slider.layout
    assert layout.min_width and layout.flex  # keeps its width in a narrow row
    for fmt in ("cp", "tk", "tt", "tr"):
        explorer.format_box.value = fmt
        top = explorer.rank_slider.max
        assert top == explorer.max_rank == max_rank((64, 64, 3), fmt)
        explorer.rank_slider.value = top
        assert explorer.params == decomposition_params((64, 64, 3), fmt, top) <= explorer.tensor.size
        assert decomposition_params((64, 64, 3), fmt, top + 1) > explorer.tensor.size
        assert not explorer.warning and explorer.current == (fmt, explorer.params, explorer.error)
    assert explorer.max_rank == 12  # TR: 13 would have more parameters than the 64·64·3 image
    # the curve plot follows the choice (its marker moves)
    before = explorer.curve_plot.value
    explorer.rank_slider.value = 2
    assert explorer.curve_plot.value != before and explorer.current[1] == explorer.params
    # a tensor smaller than any rank-1 factorisation: a visible warning
    tiny = DecompositionExplorer(np.arange(1.0, 5.0).reshape(1, 4), ranks=(1,))
    assert tiny.max_rank is None and tiny.params > tiny.tensor.size
    assert "tn-warning" in tiny.warning_label.value and "more than the tensor" in tiny.warning


class _FakeResult:
    def __init__(self, stopped=False):
        self.stopped = stopped
        self.test_accuracy = None if stopped else 0.5


def _fake_explorer(monkeypatch, on_call):
    from torch.utils.data import TensorDataset

    import tnviz.compression as compression

    data = TensorDataset(torch.randn(40, 1, 28, 28), torch.randint(0, 10, (40,)))
    explorer = TradeoffExplorer(
        LeNet5(), data, data, formats=("tk", "cp"), rates=(0.1, 0.2), compress_kwargs={"init": "random"}
    )
    calls = []

    def fake_distill(student, teacher, train, test, stop=None, **kwargs):
        calls.append(len(explorer.plot.points))
        return on_call(explorer, len(calls))

    monkeypatch.setattr(compression, "distill", fake_distill)
    return explorer, calls


def test_tradeoff_points_arrive_live_and_buttons_follow_the_sweep(monkeypatch):
    def stop_after_two(explorer, n):
        assert explorer.start_button.disabled and not explorer.stop_button.disabled  # running
        if n == 2:
            explorer.stop_button.click()
        return _FakeResult()

    explorer, calls = _fake_explorer(monkeypatch, stop_after_two)
    assert not explorer.start_button.disabled and explorer.stop_button.disabled  # before any run
    assert explorer.example_input.shape == (32, 1, 28, 28)
    explorer.run(background=False)
    assert calls == [0, 1]  # the plot had every earlier point when the next student trained
    assert len(explorer.points) == 2 and explorer.status.value.startswith("stopped")
    assert not explorer.start_button.disabled and explorer.stop_button.disabled  # Run goes on with the rest
    explorer.run(background=False)
    assert len(explorer.points) == 4 and calls == [0, 1, 2, 3] and explorer.status.value.startswith("done")
    assert explorer.start_button.disabled and explorer.stop_button.disabled  # nothing left to run
    assert explorer.run() is None and len(calls) == 4
    assert [p["index"] for p in explorer.plot.points] == [0, 1, 2, 3]


def test_tradeoff_click_on_a_point_shows_it(monkeypatch):
    explorer, _ = _fake_explorer(monkeypatch, lambda e, n: _FakeResult())
    explorer.run(background=False)
    assert explorer.details.value == "" and explorer.selected is None
    point = explorer.points[2]
    explorer.plot.selected = 2  # what a click on the third circle sends from the browser
    assert explorer.selected is point and explorer.chooser.value == 2
    details = explorer.details.value
    assert point.label in details and point.format in details and f"{point.params:,}" in details
    assert f"{point.flops / 1e6:,.2f} M" in details and "objective &#x27;time&#x27;" in details
    assert details.count("tn-tradeoff-layer") == 2 and "conv2" in details and "fc1" in details and "<svg" in details
    assert "b=32" in details  # the layer diagrams carry the example input's sizes
    explorer.plot.selected = -1
    assert explorer.details.value == "" and explorer.chooser.value == -1  # its "choose one of 4 points" entry


def test_tradeoff_stopped_student_is_not_a_point(monkeypatch):
    explorer, calls = _fake_explorer(monkeypatch, lambda e, n: _FakeResult(stopped=n == 1))
    explorer.run(background=False)
    assert explorer.points == [] and explorer.status.value.startswith("stopped") and len(explorer.todo()) == 4
    assert not explorer.start_button.disabled


def test_tradeoff_click_during_a_dropdown_refresh_is_not_dropped(monkeypatch):
    """The sweep's thread refreshes the dropdown (a point arrived) while the user clicks a point:
    the click waits for the refresh and is shown, not taken for the refresh's own echo."""
    import dataclasses
    import threading

    explorer, _ = _fake_explorer(monkeypatch, lambda e, n: _FakeResult())
    explorer.run(background=False)
    refreshing, release = threading.Event(), threading.Event()

    def hold(change):  # the sweep's thread, in the middle of setting the dropdown's options
        refreshing.set()
        assert release.wait(10)

    explorer.chooser.observe(hold, names="options")
    explorer.points.append(dataclasses.replace(explorer.points[0], rate=0.3))  # a point arrives
    sweep = threading.Thread(target=explorer._refresh_chooser)
    sweep.start()
    assert refreshing.wait(10)
    click = threading.Thread(target=lambda: setattr(explorer.plot, "selected", 2))  # the browser's click
    click.start()
    click.join(0.3)
    release.set()
    sweep.join(10)
    click.join(10)
    assert not sweep.is_alive() and not click.is_alive()
    assert explorer.selected is explorer.points[2] and explorer.chooser.value == 2
    assert explorer.points[2].label in explorer.details.value


def test_tradeoff_stop_with_nothing_running_leaves_the_status(monkeypatch):
    explorer, _ = _fake_explorer(monkeypatch, lambda e, n: _FakeResult())
    before = explorer.status.value
    explorer.stop()  # before any run
    assert explorer.status.value == before and "stopping" not in before
    assert not explorer.start_button.disabled and explorer.stop_button.disabled
    explorer.run(background=False)
    done = explorer.status.value
    assert done.startswith("done")
    explorer.stop()  # after the sweep
    assert explorer.status.value == done and explorer.stop_button.disabled and not explorer.running


def test_tradeoff_stop_while_running_says_stopping_then_stopped(monkeypatch):
    seen = []

    def stop_at_first(explorer, n):
        if n == 1:
            explorer.stop()
            seen.append(explorer.status.value)
        return _FakeResult()

    explorer, _ = _fake_explorer(monkeypatch, stop_at_first)
    explorer.run(background=False)
    assert len(seen) == 1 and seen[0].startswith("stopping after the current training step")
    assert explorer.status.value.startswith("stopped") and not explorer.running
    assert " 1 student," in explorer.status.value or " 0 students," in explorer.status.value  # no "1 students"


def test_tradeoff_sweep_grows_from_its_boxes_and_clear_runs_it_again(monkeypatch):
    explorer, calls = _fake_explorer(monkeypatch, lambda e, n: _FakeResult())
    assert explorer.chooser.options == (("no point yet", -1),) and explorer.chooser.value == -1
    assert explorer.clear_button.disabled  # nothing to clear
    explorer.run(background=False)
    assert explorer.start_button.disabled and not explorer.clear_button.disabled  # done: nothing left
    assert explorer.chooser.options[0] == ("choose one of 4 points", -1) and explorer.chooser.value == -1
    explorer.rates_box.value = "0.1, 0.2, 0.05"  # one more rate: two more students
    assert explorer.rates == (0.1, 0.2, 0.05) and not explorer.start_button.disabled
    assert explorer.status.value == "2 students to train"
    explorer.formats_box.value = "tk, cp, tt"
    assert explorer.plot.formats == ["tk", "cp", "tt"] and explorer.status.value == "5 students to train"
    explorer.run(background=False)
    assert len(explorer.points) == 9 and len(calls) == 9
    explorer.formats_box.value = "tt"  # the earlier points stay, each format with its own colour
    assert explorer.plot.formats == ["tt", "tk", "cp"] and explorer.start_button.disabled
    explorer.plot.selected = 1
    explorer.clear_button.click()
    assert explorer.points == [] and explorer.selected is None and explorer.details.value == ""
    assert explorer.chooser.options == (("no point yet", -1),) and explorer.plot.points == []
    assert explorer.status.value == "3 students to train" and not explorer.start_button.disabled
    explorer.run(background=False)
    assert [(p.format, p.rate) for p in explorer.points] == [("tt", 0.1), ("tt", 0.2), ("tt", 0.05)]


@pytest.mark.parametrize(
    "box, text, token",
    [("formats_box", "tk, nope", "nope"), ("formats_box", "dense", "dense"), ("formats_box", " , ", "formats"),
     ("rates_box", "0.1, x", "x"), ("rates_box", "0", "0"), ("rates_box", "1.5", "1.5")],
)  # fmt: skip
def test_tradeoff_a_bad_sweep_box_says_why_and_keeps_the_sweep(monkeypatch, box, text, token):
    explorer, _ = _fake_explorer(monkeypatch, lambda e, n: _FakeResult())
    before = (explorer.formats, explorer.rates)
    getattr(explorer, box).value = text
    assert "tn-error" in explorer.status.value and token in explorer.status.value
    assert (explorer.formats, explorer.rates) == before and explorer.start_button.disabled
    with pytest.raises(TnvizError) as err:
        items = [t.strip() for t in text.split(",") if t.strip()]
        TradeoffExplorer(LeNet5(), None, None, **{box.split("_")[0]: items}, example_input=torch.zeros(1))
    assert err.value.token == token


def test_tradeoff_boxes_keep_rates_exact_and_an_edit_during_a_sweep_counts_at_its_end(monkeypatch):
    def edit_at_first(explorer, n):
        if n == 1:
            explorer.rates_box.value = "0.1, 0.2, 0.3"  # from code, while the sweep runs
        return _FakeResult()

    explorer, calls = _fake_explorer(monkeypatch, edit_at_first)
    explorer.run(background=False)
    assert len(calls) == 4 and explorer.rates == (0.1, 0.2, 0.3) and explorer.status.value == "2 students to train"
    third = TradeoffExplorer(LeNet5(), None, None, formats=("tk",), rates=(1 / 3,), example_input=torch.zeros(1))
    assert third.rates_box.value == repr(1 / 3)  # read back, the same rate: nothing trained twice
    third.formats_box.value = "tk, cp"
    assert third.rates == (1 / 3,)


def test_tradeoff_example_input_comes_from_a_subset_itself():
    from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

    images = torch.arange(60 * 28 * 28, dtype=torch.float32).reshape(60, 1, 28, 28)
    data = TensorDataset(images, torch.zeros(60, dtype=torch.long))
    picked = list(range(20, 60))
    subset = Subset(data, picked)
    explorer = TradeoffExplorer(LeNet5(), subset, subset, formats=("tk",), rates=(0.1,))
    assert torch.equal(explorer.example_input, images[20:52])  # the subset's first 32, not the base set's
    loader = TradeoffExplorer(LeNet5(), subset, DataLoader(subset, batch_size=8), formats=("tk",), rates=(0.1,))
    assert torch.equal(loader.example_input, images[20:52])  # a DataLoader: its dataset, indexed

    class Plain(Dataset):  # a dataset of (image, label) pairs without .tensors
        def __len__(self):
            return 60

        def __getitem__(self, i):
            return images[i], 0

    plain = Subset(Plain(), picked[::-1])
    explorer = TradeoffExplorer(LeNet5(), plain, plain, formats=("tk",), rates=(0.1,))
    assert torch.equal(explorer.example_input, images.flip(0)[:32])


def test_widget_figures_are_laid_out_and_saved_under_the_render_lock(monkeypatch):
    """tight_layout lays out tick text (matplotlib's thread-unsafe mathtext, as saving does), and
    a dashboard draws from its training thread: every widget figure is laid out under the lock."""
    import threading

    from matplotlib.figure import Figure

    from tnviz.render.rendering_lock import RENDER_LOCK

    def lock_held_here() -> bool:  # held by this thread: another one cannot take it
        free = []

        def probe():
            got = RENDER_LOCK.acquire(blocking=False)
            free.append(got)
            if got:
                RENDER_LOCK.release()

        other = threading.Thread(target=probe)
        other.start()
        other.join()
        return not free[0]

    laid_out = []
    tight_layout = Figure.tight_layout

    def recording(fig, *args, **kwargs):
        laid_out.append(lock_held_here())
        return tight_layout(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "tight_layout", recording)
    DecompositionExplorer(ranks=(1, 2))  # the images and the curves
    dashboard = TrainingDashboard()
    dashboard.steps = [{"global_epoch": 1, "step": 1, "steps": 2, "loss": 0.5}]
    dashboard.redraw()
    assert dashboard.plot.value[:4] == b"\x89PNG"
    assert len(laid_out) == 3 and all(laid_out), laid_out


def test_an_idle_dashboard_says_so_and_counts_epochs_of_their_total(monkeypatch):
    import tnviz.widgets.training_dashboard as module

    dash = TrainingDashboard(redraw_every=0.0)
    assert dash.plot.layout.display == "none"  # no broken-image icon before any curve
    dash.stop_button.click()
    assert dash.status.value == "nothing is running" and not dash.stop_event.is_set()
    drawn = []
    monkeypatch.setattr(module, "figure_png", lambda fig: drawn.append(fig) or b"\x89PNG")
    dash.on_start({"epochs": 3, "schedule": "blockwise", "phases": ["block conv2", "fine-tune"]})
    assert dash.progress.description == "epoch 1/3" and dash.running
    dash.on_step({"phase": "block conv2", "step": 1, "steps": 2, "loss": 0.5, "global_epoch": 1})
    dash.on_epoch({"global_epoch": 1, "train_acc": 0.5, "test_acc": 0.4})
    dash.on_step({"phase": "fine-tune", "step": 1, "steps": 2, "loss": 0.4, "global_epoch": 2})
    assert dash.progress.description == "epoch 2/3" and dash.progress.value == 1
    loss_axes = drawn[-1].axes[0]
    assert all(float(t).is_integer() for ax in drawn[-1].axes for t in ax.get_xticks())  # whole epochs
    assert [t.get_text() for t in loss_axes.texts] == ["block conv2", "fine-tune"]  # phases marked
    assert dash.plot.layout.display == ""
    dash.stop()
    assert dash.stop_event.is_set() and "stopping" in dash.status.value
    dash.on_end(None)
    assert not dash.running
