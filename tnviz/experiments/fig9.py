"""The paper's Fig. 9 from a LeNet-5 run's curves: test error after each epoch, Seq-KD against
E2E-KD — its tables, its figure, and ``python -m tnviz.experiments.fig9 plot-fig9 CURVES.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tnviz.core.formats import FORMATS
from tnviz.errors import TnvizError
from tnviz.experiments.claims import PAPER_NAMES

__all__ = ["FIG9_SCHEDULES", "fig9_selection", "fig9_tables", "fig9_markdown", "fig9_figure", "plot_fig9"]


# The paper's Fig. 9: test error per epoch, Seq-KD against E2E-KD.
FIG9_SCHEDULES = {"blockwise+e2e": "Seq-KD", "e2e": "E2E-KD"}


def _curves_of(data: dict) -> list[dict]:
    """The curves of a ``results.json`` value (``"curves"``) or of a curves file
    (``{"provenance", "results": {"curves"}}``, as :func:`tnviz.provenance.write_results` writes)."""
    if "results" in data and isinstance(data["results"], dict):
        return list(data["results"].get("curves", []))
    return list(data.get("curves", []))


def fig9_selection(curves: Sequence[dict]) -> list[dict]:
    """The Seq-KD and E2E-KD curves of one init: weight-space (the paper's) when there are any."""
    chosen = [c for c in curves if c["schedule"] in FIG9_SCHEDULES and c.get("points")]
    inits = {c.get("init") or "decompose" for c in chosen}
    init = "decompose" if "decompose" in inits or not inits else sorted(inits)[0]
    return [c for c in chosen if (c.get("init") or "decompose") == init]


def _fig9_series(curves: Sequence[dict], fmt: str, rate: float, schedule: str) -> dict | None:
    """One format's curve under one schedule over its seeds: the epochs (0: the decomposed
    student before training), each epoch's phase, and each epoch's test errors (%) over seeds."""
    chosen = [c for c in curves if c["format"] == fmt and c["target_rate"] == rate and c["schedule"] == schedule]
    if not chosen:
        return None
    errors: dict[int, list[float]] = {}
    phases: dict[int, str] = {0: "initialisation"}
    for c in sorted(chosen, key=lambda c: c["seed"]):
        if c.get("init_acc") is not None:
            errors.setdefault(0, []).append(100 * (1 - c["init_acc"]))
        for p in c["points"]:
            phases.setdefault(p["epoch"], p["phase"])
            if p.get("test_acc") is not None:
                errors.setdefault(p["epoch"], []).append(100 * (1 - p["test_acc"]))
    epochs = sorted(errors)
    return {
        "epochs": epochs,
        "phases": [phases.get(e, "") for e in epochs],
        "errors": [errors[e] for e in epochs],
        "seeds": sorted({c["seed"] for c in chosen}),
    }


def _phase_spans(epochs: Sequence[int], phases: Sequence[str]) -> list[tuple[str, int, int]]:
    """(phase, first epoch, last epoch) of each run of equal phases, initialisation left out."""
    spans: list[tuple[str, int, int]] = []
    for e, ph in zip(epochs, phases):
        if e == 0:
            continue
        if spans and spans[-1][0] == ph and spans[-1][2] == e - 1:
            spans[-1] = (ph, spans[-1][1], e)
        else:
            spans.append((ph, e, e))
    return spans


def _formats_rates(curves: Sequence[dict]) -> tuple[list[str], list[float]]:
    formats = sorted({c["format"] for c in curves}, key=lambda f: list(FORMATS).index(f) if f in FORMATS else 99)
    return formats, sorted({c["target_rate"] for c in curves})


def _spread(values: Sequence[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{mean:.1f}"
    return f"{mean:.1f} ({min(values):.1f}–{max(values):.1f})"


def fig9_tables(all_curves: Sequence[dict]) -> list[str]:
    """Markdown: per rate, a table of each format's test error (%) after each epoch under Seq-KD
    and E2E-KD, the mean over seeds and (several seeds) the lowest–highest."""
    curves = fig9_selection(all_curves)
    formats, rates = _formats_rates(curves)
    n_seeds = len({c["seed"] for c in curves})
    spread = f"mean over {n_seeds} seeds (lowest–highest)" if n_seeds > 1 else "one seed"
    lines = [
        f"Test error (%) on the 1,000 held-out digits after each epoch, {spread}; epoch 0 is the student "
        "decomposed from the teacher, before any training. Seq-KD trains one compressed layer per phase "
        "(`block NAME`: that layer's output regressed on the teacher's), then the whole student (`fine-tune`); "
        "E2E-KD trains the whole student from the first epoch.",
        "",
    ]
    for rate in rates:
        series = {(fmt, s): _fig9_series(curves, fmt, rate, s) for fmt in formats for s in FIG9_SCHEDULES}
        series = {k: v for k, v in series.items() if v is not None}
        if not series:
            continue
        last = max(max(v["epochs"]) for v in series.values())
        lines += [
            f"Rate {100 * rate:g} %:",
            "",
            "| method | schedule | phases (epochs) | " + " | ".join(f"epoch {e}" for e in range(last + 1)) + " |",
            "|---|---|---|" + "---|" * (last + 1),
        ]
        for (fmt, schedule), v in series.items():
            spans = _phase_spans(v["epochs"], v["phases"])
            phases = ", ".join(f"{ph} ({a}{'' if a == b else f'–{b}'})" for ph, a, b in spans)
            by_epoch = dict(zip(v["epochs"], v["errors"]))
            cells = [_spread(by_epoch[e]) if by_epoch.get(e) else "—" for e in range(last + 1)]
            name = f"| {PAPER_NAMES.get(fmt, fmt)} | {FIG9_SCHEDULES[schedule]} | {phases} | "
            lines.append(name + " | ".join(cells) + " |")
        lines.append("")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _fig9_setting(data: dict) -> list[str]:
    s = data["provenance"].get("settings", {})
    if not {"block_epochs", "finetune_epochs", "e2e_epochs"} <= set(s):
        return []
    results = data.get("results", data)
    teachers = [100 * v for v in results.get("teacher_acc", {}).values()]
    teacher = f"; teacher LeNet-5 test accuracy {sum(teachers) / len(teachers):.2f} % (mean)" if teachers else ""
    return [
        f"Setting: {s.get('setting', '?')}, {s.get('seeds', '?')} seed(s); Seq-KD: {s['block_epochs']} epoch(s) per "
        f"block, then {s['finetune_epochs']} end to end; E2E-KD: {s['e2e_epochs']} epochs{teacher}.",
        "",
    ]


def fig9_markdown(data: dict) -> str:
    """A markdown page of the Fig. 9 curves (a curves file's or a ``results.json``'s value)."""
    from tnviz.provenance import describe

    lines = [
        "# LeNet-5 on MNIST: test error per epoch, Seq-KD against E2E-KD (the paper's Fig. 9)",
        "",
        "![test error per epoch](fig9_test_error.png)",
        "",
        *fig9_tables(_curves_of(data)),
        "",
        "The figure and this page are generated from `fig9_curves.json`: `python -m tnviz.experiments.fig9 "
        "plot-fig9 docs/lenet5_mnist/fig9_curves.json` draws the figure, `python benchmarks/docs.py` writes this "
        "page. The curves come from the run named below, with its own formats, rates and seeds (which may be "
        "fewer than `results.json`'s).",
        "",
        *_fig9_setting(data),
        f"Produced by: {describe(data)}",
        "",
    ]
    return "\n".join(lines)


def fig9_figure(data: dict, rate: float | None = None):
    """The paper's Fig. 9 from a curves file's (or a ``results.json``'s) value: test error (%)
    against epoch, Seq-KD against E2E-KD, one panel per format at ``rate`` (default: the lowest,
    the highest compression), the mean over seeds with a band from the lowest to the highest.
    Returns a :class:`tnviz.render.mpl.DiagramFigure` (a notebook shows it as a PNG)."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from tnviz.render.mpl import DiagramFigure

    curves = fig9_selection(_curves_of(data))
    if not curves:
        raise TnvizError("no Seq-KD or E2E-KD curve to plot (run reproduce with schedules blockwise+e2e or e2e)")
    formats, rates = _formats_rates(curves)
    if rate is None:
        rate = rates[0]
    elif rate not in rates:
        raise TnvizError(f"no curve at rate {rate:g}; the curves have {', '.join(f'{r:g}' for r in rates)}",
                         token=str(rate))  # fmt: skip
    formats = [f for f in formats if any(c["format"] == f and c["target_rate"] == rate for c in curves)]
    cols = min(4, len(formats))
    rows_n = (len(formats) + cols - 1) // cols
    fig = DiagramFigure(figsize=(3.4 * cols, 3.0 * rows_n + 1.0))
    axes = fig.subplots(rows_n, cols, squeeze=False, sharey=True).ravel()
    colors = {"blockwise+e2e": "C0", "e2e": "C3"}
    n_seeds = len({c["seed"] for c in curves if c["target_rate"] == rate})
    for ax, fmt in zip(axes, formats):
        for schedule, label in FIG9_SCHEDULES.items():
            v = _fig9_series(curves, fmt, rate, schedule)
            if v is None:
                continue
            means = [sum(e) / len(e) for e in v["errors"]]
            style = "-o" if schedule == "blockwise+e2e" else "--s"
            ax.plot(v["epochs"], means, style, color=colors[schedule], markersize=4, label=label)
            if len(v["seeds"]) > 1:
                low, high = [min(e) for e in v["errors"]], [max(e) for e in v["errors"]]
                ax.fill_between(v["epochs"], low, high, color=colors[schedule], alpha=0.18, linewidth=0)
            if schedule == "blockwise+e2e":  # Seq-KD's phases: block phases shaded, each named above the frame
                spans = _phase_spans(v["epochs"], v["phases"])
                for k, (phase, a, b) in enumerate(spans):
                    if phase.startswith("block"):
                        ax.axvspan(a - 1, b, color="0.5", alpha=0.07 + 0.06 * (k % 2), linewidth=0)
                top = ax.secondary_xaxis("top")  # outside the data: never on a point or a line
                top.set_xticks([(a - 1 + b) / 2 for _, a, b in spans], [p.replace("block ", "") for p, _, _ in spans])
                top.tick_params(length=0, labelsize=7, labelcolor="0.35", pad=1)
        ax.set_title(f"{PAPER_NAMES.get(fmt, fmt)} ({fmt})", fontsize=10)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))  # plain numbers, no mathtext
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[::cols]:
        ax.set_ylabel("test error (%)")
    for ax in axes[len(formats) :]:
        ax.set_visible(False)
    # one legend for every panel, under them (in a panel it covered the curves), the shading named
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Patch(color="0.5", alpha=0.16, linewidth=0))
    labels.append("Seq-KD's block phases (shaded): one layer trained to match the teacher's block")
    if n_seeds > 1:
        handles.append(Patch(color=colors["blockwise+e2e"], alpha=0.18, linewidth=0))
        labels.append(f"bands (in each curve's colour): lowest to highest of {n_seeds} seeds")
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    band = f"mean of {n_seeds} seeds" if n_seeds > 1 else "one seed"
    fig.suptitle(
        f"LeNet-5 / MNIST at rate {100 * rate:g} %: test error after each epoch, Seq-KD vs E2E-KD ({band}; "
        "epoch 0: the decomposed student)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.45 / (3.0 * rows_n + 1.0), 1, 1))  # the legend's rows at the bottom
    return fig


def plot_fig9(data: dict, path: str | Path, rate: float | None = None) -> Path:
    """Write :func:`fig9_figure` to ``path`` (PNG)."""
    from tnviz.render.rendering_lock import savefig

    path = Path(path)
    savefig(fig9_figure(data, rate), path, dpi=110)
    return path


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m tnviz.experiments.fig9 plot-fig9 CURVES.json [-o PNG] [--rate R]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tnviz.experiments.fig9")
    sub = parser.add_subparsers(dest="command", required=True)
    fig9 = sub.add_parser("plot-fig9", help="draw the Fig. 9 curves of a fig9_curves.json or results.json")
    fig9.add_argument("curves", help="fig9_curves.json (or a results.json that has curves)")
    fig9.add_argument("-o", "--output", help="the PNG (default: fig9_test_error.png beside the curves file)")
    fig9.add_argument("--rate", type=float, help="the rate to plot (default: the lowest)")
    args = parser.parse_args(argv)
    source = Path(args.curves)
    try:
        data = json.loads(source.read_text())
        path = plot_fig9(data, args.output or source.with_name("fig9_test_error.png"), args.rate)
    except TnvizError as err:  # before ValueError, which it is
        print(f"error: {err}")
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {source}: {exc}")
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
