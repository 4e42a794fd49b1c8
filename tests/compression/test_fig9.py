"""The paper's Fig. 9: ``reproduce`` records every student's test accuracy after each epoch,
with its phase, and the figure and its page are drawn from the curves file."""

import json
from dataclasses import replace

import pytest

from tnviz.errors import TnvizError

from .helpers import reproduce_on_small_digits

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """reproduce on 256/200 digits, one epoch per block, two of fine-tuning, three end to end."""
    return reproduce_on_small_digits(
        monkeypatch, tmp_path, seeds=(0, 1), block_epochs=1, finetune_epochs=2, e2e_epochs=3
    )


def test_reproduce_records_one_test_point_per_epoch_with_phases(tiny, tmp_path):
    lines: list[str] = []
    rows = tiny.reproduce_lenet5(tmp_path, quick=True, formats=["mtk"], rates=[0.1], seeds=2, log=lines.append)
    # every student's line says how many of how many, the time so far and, until the last, what is left
    assert any(line.startswith("8 students: 1 formats × 1 rates × 4 schedules") for line in lines)
    counted = [line for line in lines if line.startswith("[")]
    assert [line.split("]")[0] for line in counted] == [f"[{k}/8" for k in range(1, 9)]
    assert all("elapsed, about " in line and " left)" in line for line in counted[:-1])
    assert counted[-1].endswith(" elapsed)")
    data = json.loads((tmp_path / "results.json").read_text())
    curves = {(c["schedule"], c["seed"]): c for c in data["curves"]}
    assert set(curves) == {(s, seed) for s in ("blockwise", "blockwise+e2e", "e2e", "scratch") for seed in (0, 1)}
    phases = {
        "blockwise": ["block conv2", "block fc1"],
        "blockwise+e2e": ["block conv2", "block fc1", "fine-tune", "fine-tune"],
        "e2e": ["e2e"] * 3,
        "scratch": ["scratch"] * 3,
    }
    by_row = {(r["schedule"], r["seed"]): r for r in data["rows"]}
    for (schedule, seed), curve in curves.items():
        points = curve["points"]
        assert [p["phase"] for p in points] == phases[schedule]
        assert [p["epoch"] for p in points] == list(range(1, len(points) + 1))
        assert all(0 <= p["test_acc"] <= 1 for p in points)
        row = by_row[(schedule, seed)]
        assert points[-1]["test_acc"] == row["test_acc"] and curve["init_acc"] == row["init_acc"]
    assert [p["phase_epoch"] for p in curves[("blockwise+e2e", 0)]["points"]] == [1, 1, 1, 2]
    # Seq-KD's curve goes on from the block-wise student's; the table is as before, without curves.
    assert curves[("blockwise+e2e", 1)]["points"][:2] == curves[("blockwise", 1)]["points"]
    assert all("curve" not in r for r in data["rows"]) and all("curve" in r for r in rows)
    header = (tmp_path / "results.csv").read_text().splitlines()[0]
    assert header == (
        "format,method,target_rate,rate,model_rate,params,ranks,seed,init,weight_error,output_error,layer_errors,"
        "fit_seconds,schedule,init_acc,test_acc,seconds"
    )
    # The curves file carries the provenance; the figure and the results page come from it.
    fig9 = json.loads((tmp_path / "fig9_curves.json").read_text())
    assert {"commit", "versions", "machine", "command"} <= set(fig9["provenance"])
    assert {c["schedule"] for c in fig9["results"]["curves"]} == {"blockwise", "blockwise+e2e", "e2e", "scratch"}
    assert (tmp_path / "fig9_test_error.png").read_bytes()[:4] == b"\x89PNG"
    assert "the paper's Fig. 9" in (tmp_path / "results.md").read_text()


def test_a_resumed_seq_kd_run_keeps_the_epochs_of_its_checkpoint(tiny, tmp_path, monkeypatch):
    """Killed after the first block: the restarted run's curves still have every epoch, and the
    same numbers as an uninterrupted run."""
    args = dict(quick=True, formats=["mtk"], rates=[0.1], seeds=1, schedules=["blockwise", "blockwise+e2e"])
    whole = tiny.reproduce_lenet5(tmp_path / "whole", log=lambda _: None, **args)

    real = tiny.distill

    def killed_after_one_epoch(*a, **k):
        def stop(metrics):
            raise KeyboardInterrupt

        return real(*a, **{**k, "callbacks": [*k.get("callbacks", ()), stop]})

    monkeypatch.setattr(tiny, "distill", killed_after_one_epoch)
    teacher = tiny.teacher_cache(tmp_path / "whole", replace(tiny.QUICK, seed=0))
    (tmp_path / "cut" / "cache").mkdir(parents=True)
    (tmp_path / "cut" / "cache" / teacher.name).write_bytes(teacher.read_bytes())
    with pytest.raises(KeyboardInterrupt):
        tiny.reproduce_lenet5(tmp_path / "cut", log=lambda _: None, **args)
    monkeypatch.setattr(tiny, "distill", real)
    resumed = tiny.reproduce_lenet5(tmp_path / "cut", log=lambda _: None, **args)
    assert [r["curve"] for r in resumed] == [r["curve"] for r in whole]
    assert len(resumed[0]["curve"]) == 2 and len(resumed[1]["curve"]) == 4


def _curves_file(seeds=(0, 1)):
    """A small curves file: mtt and tt at 2 %, Seq-KD (two blocks, two fine-tuning epochs) and E2E-KD."""
    curves = []
    for fmt in ("mtt", "tt"):
        for seed in seeds:
            seq = [("block conv2", 1, 0.6), ("block fc1", 1, 0.85), ("fine-tune", 1, 0.93), ("fine-tune", 2, 0.95)]
            e2e = [("e2e", e, acc) for e, acc in ((1, 0.88), (2, 0.92), (3, 0.94), (4, 0.945))]
            for schedule, points in (("blockwise+e2e", seq), ("e2e", e2e)):
                curves.append({
                    "format": fmt, "method": fmt, "target_rate": 0.02, "seed": seed, "schedule": schedule,
                    "init_acc": 0.3 + 0.01 * seed,
                    "points": [{"epoch": k + 1, "phase": ph, "phase_epoch": e, "test_acc": acc + 0.005 * seed}
                               for k, (ph, e, acc) in enumerate(points)],
                })  # fmt: skip
    provenance = {"commit": "0" * 40, "dirty": False, "date": "2026-01-01T00:00:00+00:00",
                  "versions": {"python": "3"}, "machine": {"cpu": "cpu", "cores": 2},
                  "command": "tnviz reproduce"}  # fmt: skip
    return {"provenance": provenance, "results": {"teacher_acc": {"0": 0.98}, "curves": curves}}


@pytest.mark.parametrize("seeds", [(0, 1), (0,)])
def test_plot_fig9_writes_a_png_from_a_curves_file(tmp_path, seeds):
    from tnviz.experiments.fig9 import _main, fig9_figure

    path = tmp_path / "fig9_curves.json"
    path.write_text(json.dumps(_curves_file(seeds)))
    assert _main(["plot-fig9", str(path)]) == 0
    assert (tmp_path / "fig9_test_error.png").read_bytes()[:4] == b"\x89PNG"
    fig = fig9_figure(_curves_file(seeds))
    assert fig._repr_png_()[:4] == b"\x89PNG"  # a DiagramFigure: a notebook shows it
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["NN-TT (tt)", "TNN-mTT (mtt)"]
    assert len(fig.axes[0].collections) == (2 if len(seeds) > 1 else 0)  # a band per schedule with seeds to spread
    assert len(fig.axes[0].patches) == 2  # Seq-KD's two block phases, shaded
    # the phases named above each frame (not on the points), one legend under the panels naming the shading
    tops = panels[0].child_axes  # the secondary x axis on top
    assert [t.get_text() for t in tops[0].get_xticklabels()] == ["conv2", "fc1", "fine-tune"]
    assert not [t for t in panels[0].texts if t.get_text() in ("conv2", "fc1", "fine-tune")]
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["Seq-KD", "E2E-KD"] and any("block phases (shaded)" in t for t in legend)
    assert any("lowest to highest of 2 seeds" in t for t in legend) == (len(seeds) > 1)
    with pytest.raises(TnvizError, match="no curve at rate 0.05"):
        fig9_figure(_curves_file(seeds), rate=0.05)
    assert _main(["plot-fig9", str(tmp_path / "missing.json")]) == 2


def test_the_accuracy_figure_shares_one_scale_and_draws_the_teacher():
    from pathlib import Path

    from tnviz.experiments.report import results_figure

    root = Path(__file__).resolve().parents[2]
    data = json.loads((root / "docs" / "lenet5_mnist" / "results.json").read_text())  # the committed run
    fig = results_figure(data)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 4 and len({ax.get_ylim() for ax in panels}) == 1  # heights compare across panels
    teacher = 100 * sum(data["teacher_acc"].values()) / len(data["teacher_acc"])
    for ax in panels:
        lines = [line for line in ax.get_lines() if line.get_label().startswith("teacher")]
        assert len(lines) == 1 and lines[0].get_ydata()[0] == pytest.approx(teacher)
        assert ax.get_legend() is None  # one legend, under the panels
        tops = [seg[:, 1].max() for bars in ax.collections for seg in bars.get_segments()]
        assert tops and max(tops) <= 100 + 1e-9  # intervals clipped at 100 %
    assert len(fig.legends) == 1 and "clipped at 100 %" in fig.legends[0].get_title().get_text()


def test_fig9_markdown_tabulates_mean_and_range_per_epoch():
    from tnviz.experiments.fig9 import fig9_markdown

    text = fig9_markdown(_curves_file())
    assert "| TNN-mTT | Seq-KD | block conv2 (1), block fc1 (2), fine-tune (3–4) | 69.5 (69.0–70.0) |" in text
    assert "| NN-TT | E2E-KD | e2e (1–4) |" in text and "5.3 (5.0–5.5)" in text
    assert "mean over 2 seeds (lowest–highest)" in text and "Commit `0000000000`" in text
