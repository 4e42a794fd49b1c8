"""``tnviz reproduce lenet5-mnist``: the paper's LeNet-5 experiment on real digits — the runs and
the results files (its pages: :mod:`tnviz.experiments.report`, its Fig. 9: :mod:`tnviz.experiments.fig9`).

For each seed, a LeNet-5 teacher is trained (or loaded from the cache) on that seed's split of
the digits, compressed in each format at each rate by decomposing its weights, and each
student is trained under each schedule — block-wise KD only, block-wise KD then end to end
(the paper's Seq-KD), end-to-end KD (E2E-KD) — and the same compressed architecture is also
trained from scratch. With ``inits=("decompose", "activations")`` (``--inits``) every student
is trained twice, from the weight decomposition and from the data-aware initialisation (the
decomposition fitted to the teacher's layer outputs on a seeded sample of the split's training
images, :func:`~tnviz.compression.calibrate.fit_to_teacher`); each row records its init, weight
and output errors and accuracy right after initialisation, and ``results.md`` gets the
initialisation table and the claims per init. The results folder receives ``results.json`` (every run, the summary
with 95 % confidence intervals over seeds, the claims as the code states them, and the
provenance), ``results.csv``, ``results.md``, ``accuracy_vs_rate.png``, every compressed
layer's diagram (SVG) and the teacher checkpoints.

Every student is also evaluated on the test digits after each epoch: ``results.json``'s
``"curves"`` hold, per student, its test accuracy after every epoch with the phase it was in
(Seq-KD: ``block conv2``, ``block fc1``, ``fine-tune``; E2E-KD: ``e2e``; ``scratch``), and
``fig9_curves.json`` (the curves and the provenance) and ``fig9_test_error.png`` (the paper's
Fig. 9: test error per epoch, Seq-KD against E2E-KD) are written from them. The plot is a
function of the curves file::

    python -m tnviz.experiments.fig9 plot-fig9 docs/lenet5_mnist/fig9_curves.json
"""

from __future__ import annotations

import copy
import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from tnviz.compression.calibrate import fit_to_teacher
from tnviz.compression.checkpoint import load_checkpoint, load_state_into, save_atomic, write_text_atomic
from tnviz.compression.data import mnist_offline
from tnviz.compression.distill import distill, evaluate
from tnviz.compression.models import LeNet5
from tnviz.compression.surgery import compress
from tnviz.errors import TnvizError
from tnviz.experiments.claims import (
    PAPER_NAMES,
    SCHEDULE_NAMES,
    TWINS,
    cell_values,
    claim_lines,
    init_claim_lines,
    init_for,
    row_init,
)
from tnviz.experiments.fig9 import fig9_selection, plot_fig9
from tnviz.experiments.report import plot_results, results_markdown
from tnviz.provenance import mean_ci, provenance

__all__ = ["Settings", "QUICK", "FULL", "SCHEDULES", "INITS", "reproduce_lenet5", "train_teacher", "teacher_cache"]


SCHEDULES = tuple(SCHEDULE_NAMES)


# The initialisations a run may compare (compress's init= values; scratch is always random).
INITS = ("decompose", "activations")


@dataclass(frozen=True)
class Settings:
    """How long everything trains, and how often. Block-wise KD: ``block_epochs`` per block,
    then (``"blockwise+e2e"``) ``finetune_epochs`` end to end; E2E-KD and from scratch:
    ``e2e_epochs`` (the same number of passes over the data). ``seeds`` repetitions, each
    with its own data split, teacher and shuffling (seeds ``seed``, ``seed + 1``, …)."""

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
    seeds: int = 1
    schedules: tuple[str, ...] = SCHEDULES
    # Students' initialisations (INITS), and the data-aware fit's budget: the first
    # calibration_samples of a seeded shuffle of the training split, fit_steps L-BFGS
    # iterations per layer (about 1-5 s a layer for LeNet-5 on two CPU threads).
    inits: tuple[str, ...] = ("decompose",)
    calibration_samples: int = 512
    fit_steps: int = 50


QUICK = Settings(("cp", "tk", "tt", "mcp", "mtk", "mtt"), (0.02, 0.05, 0.1), 8, 1, 2, 4, seeds=1)


FULL = Settings(("cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"), (0.02, 0.05, 0.1), 15, 3, 10, 16, seeds=3)


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
    log(f"teacher (seed {settings.seed}): training {settings.teacher_epochs} epochs on {len(train):,} images…")
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
    seeds: int | None = None,
    schedules: Sequence[str] | None = None,
    inits: Sequence[str] | None = None,
) -> list[dict]:
    """Run the LeNet-5 / MNIST experiment; returns the result rows (also written to ``out``).

    Args:
        out: the results folder.
        quick: the quick setting (:data:`QUICK`: six formats, short training, one seed) instead of
            :data:`FULL` (eight formats, longer training, three seeds).
        formats, rates, seeds, schedules: override the settings'.
        inits: the students' initialisations, some of ``"decompose"`` (the default, the paper's)
            and ``"activations"`` (data-aware: :func:`compress` with ``calibration=`` training
            images); each (format, rate, seed) is trained under every schedule from each.
        progress: tqdm bars for every training run.
        log: where progress lines go.

    Each row also holds its student's ``"curve"``: the test accuracy after every epoch (see the
    module docstring); ``results.json`` keeps the curves apart from the rows, under ``"curves"``.
    """
    settings = QUICK if quick else FULL
    if formats is not None:
        settings = replace(settings, formats=tuple(formats))
    if rates is not None:
        settings = replace(settings, rates=tuple(float(r) for r in rates))
    if seeds is not None:
        if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
            raise TnvizError(f"seeds must be a positive integer, got {seeds!r}", token=repr(seeds))
        settings = replace(settings, seeds=seeds)
    if schedules is not None:
        unknown = [s for s in schedules if s not in SCHEDULES]
        if unknown:
            raise TnvizError(
                f"unknown schedule {unknown[0]!r}; expected some of {', '.join(SCHEDULES)}", token=unknown[0]
            )
        settings = replace(settings, schedules=tuple(schedules))
    if inits is not None:
        unknown = [i for i in inits if i not in INITS]
        if unknown or not inits:
            bad = unknown[0] if unknown else ""
            raise TnvizError(f"unknown init {bad!r}; expected some of {', '.join(INITS)}", token=bad or "inits")
        settings = replace(settings, inits=tuple(dict.fromkeys(inits)))
    out = Path(out)
    (out / "diagrams").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Finished students are kept in cache/rows.json (written atomically after each one) and a
    # student in training has its own checkpoint: a killed run, started again, goes on from there.
    # The data-aware fit's settings are not in the signature (a run that adds inits keeps the
    # weight-space rows) but in each data-aware row, and rows of another fit are dropped.
    signature = {k: v for k, v in asdict(settings).items() if k not in _PER_RUN}
    rows_path = out / "cache" / "rows.json"
    rows = _load_rows(rows_path, signature, _fit_of(settings))
    students = _Students(rows_path, signature, rows, planned_students(settings))
    if rows:
        log(f"resuming: {len(rows)} students already trained ({rows_path})")
    log(
        f"{students.total} students: {len(settings.formats)} formats × {len(settings.rates)} rates × "
        f"{len(settings.schedules)} schedules × {len(settings.inits)} inits (from scratch once) × "
        f"{settings.seeds} seeds"
    )

    teachers = {}
    for k in range(settings.seeds):
        seed = settings.seed + k
        per_seed = replace(settings, seed=seed)
        train, test = mnist_offline(seed)
        teacher = train_teacher(teacher_cache(out, per_seed), per_seed, log, progress, (train, test))
        teachers[seed] = evaluate(teacher, test)[0]
        example = train.tensors[0][:1]
        calibration = calibration_images(train, settings.calibration_samples, seed)
        decomposed: dict = {}  # one decomposition per (format, rate) serves both inits
        for fmt, rate, init in ((f, r, i) for f in settings.formats for r in settings.rates for i in settings.inits):
            # From scratch does not depend on the init: trained once, with the first init.
            schedules = [s for s in settings.schedules if s != "scratch" or init == settings.inits[0]]
            needed = [s for s in schedules if seed not in cell_values(rows, fmt, rate, s, init_for(s, init))]
            if needed:
                students.begin()
                try:
                    if (fmt, rate) not in decomposed:
                        decomposed = {(fmt, rate): compress(
                            teacher, format=fmt, rate=rate, example_input=example, calibration=calibration,
                            calibration_samples=settings.calibration_samples,
                        )}  # fmt: skip
                    student, report = decomposed[(fmt, rate)]
                    if init == "activations":
                        student, report = fit_to_teacher(
                            decomposed[(fmt, rate)], teacher, calibration, fit_steps=settings.fit_steps,
                            calibration_samples=settings.calibration_samples,
                        )  # fmt: skip
                except TnvizError as err:
                    students.total -= len(needed)
                    log(f"{fmt} at rate {rate:g} ({init}): skipped ({err.message})")
                    continue
                if k == 0 and init == settings.inits[0]:
                    for layer in report.layers:
                        module = student.get_submodule(layer.name)
                        module.diagram.save(str(out / "diagrams" / f"{fmt}-{rate:g}-{layer.name}.svg"))
                init_acc, _ = evaluate(student, test)
                base = {
                    "format": fmt,
                    "method": PAPER_NAMES.get(fmt, fmt),
                    "target_rate": rate,
                    "rate": round(report.rate, 5),
                    "model_rate": round(report.model_rate, 5),
                    "params": report.model_params,
                    "ranks": "; ".join(
                        f"{r.name}: " + " ".join(f"{k}={v}" for k, v in r.ranks.items()) for r in report.layers
                    ),
                    "seed": seed,
                    "init": init,
                    "weight_error": _mean3(report.weight_error),
                    "output_error": _mean3(report.output_error),
                    "layer_errors": "; ".join(
                        f"{r.name}: weight {r.error:.3f}, output {r.output_error:.3f}" for r in report.layers
                    ),
                    "fit_seconds": round(sum(r.fit_seconds or 0 for r in report.layers), 2),
                    **({"fit": _fit_of(settings)} if init != "decompose" else {}),
                }
                ctx = _Cell(out, settings, seed, teacher, train, test, progress, base, init_acc, students, log)
                if "blockwise" in needed or "blockwise+e2e" in needed:
                    ctx.blockwise(copy.deepcopy(student), needed)
                if "e2e" in needed:
                    ctx.run(copy.deepcopy(student), "e2e", {"epochs": settings.e2e_epochs})
                if "scratch" in needed:
                    fresh, _ = compress(teacher, format=fmt, rate=rate, init="random")
                    ctx.init_acc = evaluate(fresh, test)[0]
                    ctx.base = {**base, "init": "random", "weight_error": None, "output_error": None,
                                "layer_errors": "", "fit_seconds": 0.0}  # fmt: skip
                    ctx.base.pop("fit", None)
                    ctx.run(fresh, "scratch", {"epochs": settings.e2e_epochs})
    data = _summarise(rows, settings, teachers, time.perf_counter() - started, quick)
    text = _write(out, data)
    log("")
    log(text)
    figure = ", fig9_curves.json, fig9_test_error.png" if fig9_selection(data["curves"]) else ""
    log(f"wrote {out}/results.json, results.md, results.csv, accuracy_vs_rate.png{figure} and {out}/diagrams/")
    return rows


def planned_students(settings: Settings) -> int:
    """How many students ``settings`` trains: every (seed, format, rate, init, schedule), from
    scratch once per (seed, format, rate) — it does not depend on the init."""
    per_init = [len([s for s in settings.schedules if s != "scratch" or k == 0]) for k in range(len(settings.inits))]
    return settings.seeds * len(settings.formats) * len(settings.rates) * sum(per_init)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


class _Students:
    """The run's students: each kept as it finishes (``cache/rows.json``, written atomically) and
    counted, so that its line says how many of how many and about how long the rest takes (the
    mean time of the students trained in this run so far, compression and evaluation included)."""

    def __init__(self, path: Path, signature: dict, rows: list[dict], total: int) -> None:
        self.path, self.signature, self.rows, self.total = path, signature, rows, total
        self.started = time.perf_counter()
        self.first: float | None = None  # when this run's first student began (after the teacher)
        self.trained = 0

    def begin(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def keep(self, row: dict) -> None:
        self.rows.append(row)
        write_text_atomic(self.path, json.dumps({"settings": self.signature, "rows": self.rows}, indent=1))
        self.trained += 1

    def tally(self) -> tuple[str, str]:
        """(prefix, suffix) of a finished student's line: ``[7/72] … (1:23 elapsed, about 4:10 left)``."""
        now = time.perf_counter()
        done = min(len(self.rows), self.total)
        left = self.total - done
        eta = ""
        if left and self.trained and self.first is not None:
            eta = f", about {_clock((now - self.first) / self.trained * left)} left"
        return f"[{done}/{self.total}] ", f" ({_clock(now - self.started)} elapsed{eta})"


class _Cell:
    """Training the students of one (format, rate, seed) under the schedules, one row each."""

    def __init__(self, out, settings, seed, teacher, train, test, progress, base, init_acc, students, log) -> None:
        self.out, self.s, self.seed, self.teacher = out, settings, seed, teacher
        self.train, self.test, self.progress = train, test, progress
        self.base, self.init_acc, self.students, self.log = base, init_acc, students, log

    def _row(self, schedule: str, acc: float, seconds: float, history: Sequence[dict]) -> None:
        row = {**self.base, "schedule": schedule, "init_acc": round(self.init_acc, 4), "test_acc": round(acc, 4),
               "seconds": round(seconds, 1), "curve": _curve(history)}  # fmt: skip
        self.students.keep(row)
        prefix, suffix = self.students.tally()
        self.log(
            f"{prefix}{row['method']:8s} rate {row['target_rate']:<5g} seed {self.seed} {schedule:13s} "
            f"({row.get('init', 'decompose')} init): "
            f"{self.init_acc:.4f} at initialisation → {acc:.4f} in {seconds:.0f} s{suffix}"
        )

    def _checkpoint(self, name: str) -> Path:
        # Weight-space students keep the names they had before inits (their checkpoints resume).
        init = self.base.get("init", "decompose")
        suffix = "" if init in ("decompose", "random") else f"-{init}"
        return (
            self.out
            / "cache"
            / "students"
            / f"{self.base['format']}-{self.base['target_rate']:g}-{name}{suffix}-s{self.seed}.pt"
        )

    def _distill(self, model, schedule: str, name: str, callbacks=(), **kwargs):
        run = self._checkpoint(name)
        s = self.s
        # test_every=1: the test digits after every epoch, for the curves (Fig. 9). Training does
        # not depend on it: each epoch reseeds torch before it shuffles.
        result = distill(
            model, self.teacher, self.train, self.test, schedule=schedule, lr=s.lr, batch_size=s.batch_size,
            seed=self.seed, progress=self.progress, checkpoint=run, resume=True, test_every=1, callbacks=callbacks,
            **kwargs,
        )  # fmt: skip
        if result.stopped:  # Ctrl-C: the student's checkpoint stays; the next start resumes it
            raise KeyboardInterrupt
        run.unlink(missing_ok=True)
        return result

    def run(self, model, schedule: str, kwargs: dict) -> None:
        started = time.perf_counter()
        result = self._distill(model, schedule, schedule, **kwargs)
        self._row(schedule, result.test_accuracy, time.perf_counter() - started, result.history)

    def blockwise(self, model, needed: Sequence[str]) -> None:
        """One Seq-KD run gives both block-wise schedules: the test accuracy when the last block
        is done, and at the end of the fine-tuning."""
        from tnviz.nn import TensorialLayer

        s = self.s
        blocks = [n for n, m in model.named_modules() if isinstance(m, TensorialLayer)]
        last = f"block {blocks[-1]}"
        started = time.perf_counter()
        # The epochs so far (those of a checkpoint this run resumes, then each new one): the
        # block-wise row's curve is the block phases' part of the Seq-KD curve.
        history = _history_of(self._checkpoint("blockwise"))

        def after_blocks(metrics: dict) -> None:
            history.append(metrics)
            if metrics["phase"] == last and metrics["epoch"] == s.block_epochs and "blockwise" in needed:
                acc = metrics["test_acc"] if metrics.get("test_acc") is not None else evaluate(model, self.test)[0]
                self._row("blockwise", acc, time.perf_counter() - started, history)

        result = self._distill(
            model, "seq", "blockwise", callbacks=[after_blocks], block_epochs=s.block_epochs,
            finetune_epochs=s.finetune_epochs if "blockwise+e2e" in needed else 0, block_lr=s.block_lr,
            block_batch_size=s.block_batch_size,
        )  # fmt: skip
        if "blockwise+e2e" in needed:
            self._row("blockwise+e2e", result.test_accuracy, time.perf_counter() - started, result.history)


def _history_of(checkpoint: Path) -> list[dict]:
    """The epochs a student's checkpoint holds (none if there is no readable one: then
    :func:`distill` starts afresh or says what is wrong with it)."""
    if not checkpoint.exists():
        return []
    try:
        return list(load_checkpoint(checkpoint, ("history",), kind="tnviz-distill")["history"])
    except TnvizError:
        return []


def _curve(history: Sequence[dict]) -> list[dict]:
    """A student's test accuracy after each epoch, with its phase: ``epoch`` counts every epoch
    of the run, ``phase_epoch`` those of its phase (None where an epoch was not evaluated)."""
    return [
        {
            "epoch": h["global_epoch"],
            "phase": h["phase"],
            "phase_epoch": h["epoch"],
            "test_acc": None if h.get("test_acc") is None else round(h["test_acc"], 4),
        }
        for h in history
    ]


_PER_RUN = ("formats", "rates", "seeds", "schedules", "inits", "calibration_samples", "fit_steps")


def _fit_of(settings: Settings) -> dict:
    """The data-aware fit's settings, kept in each data-aware row."""
    return {"calibration_samples": settings.calibration_samples, "fit_steps": settings.fit_steps}


def _mean3(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def calibration_images(train, samples: int, seed: int) -> torch.Tensor:
    """``samples`` training images of the split for the data-aware fit, a seeded shuffle (the
    split is sorted by class, so its first images are all zeros); never test images."""
    images = train.tensors[0]
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[:samples]]


def _load_rows(path: Path, signature: dict, fit: dict | None = None) -> list[dict]:
    """The finished rows of an earlier run with the same settings (else none); data-aware rows
    only when their fit had the settings ``fit``."""
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
    needed = {"format", "target_rate", "schedule", "seed", "test_acc"}
    rows = [r for r in data["rows"] if isinstance(r, dict) and needed <= set(r)]
    return [r for r in rows if row_init(r) in ("decompose", "random") or fit is None or r.get("fit") == fit]


_CURVE_KEYS = ("format", "method", "target_rate", "seed", "schedule", "init", "init_acc")


def _split_curves(rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """The rows without their curves (the table's columns, as before), and the curves, each
    named by its row's format, rate, seed and schedule (rows of a run before curves have none)."""
    plain, curves = [], []
    for r in rows:
        plain.append({k: v for k, v in r.items() if k != "curve"})
        if r.get("curve"):
            curves.append({**{k: r.get(k) for k in _CURVE_KEYS}, "points": r["curve"]})
    return plain, curves


def _summarise(rows: list[dict], settings: Settings, teachers: dict, seconds: float, quick: bool) -> dict:
    """Everything the reports show, in one JSON-able value: provenance, settings, the rows, the
    per-cell mean and 95 % interval over seeds, and the claims."""
    cells = []
    for fmt in settings.formats:
        for rate in settings.rates:
            for schedule in settings.schedules:
                for init in dict.fromkeys(init_for(schedule, i) for i in settings.inits):
                    values = cell_values(rows, fmt, rate, schedule, init)
                    if values:
                        cells.append({"format": fmt, "target_rate": rate, "schedule": schedule, "init": init,
                                      **mean_ci([100 * v for v in values.values()])})  # fmt: skip
    plain, curves = _split_curves(rows)
    claims = []
    for init in settings.inits:
        # The TNN-vs-NN claims for the students of each init (scratch rows ride along).
        chosen = [r for r in plain if row_init(r) in (init, "random")]
        lines = claim_lines(chosen, settings.formats, settings.rates, TWINS)
        claims += lines if len(settings.inits) == 1 else [f"[{init} init] {c}" for c in lines]
    claims += init_claim_lines(plain, settings.formats, settings.rates)
    return {
        "provenance": provenance({"setting": "quick" if quick else "full", **asdict(settings)}),
        "teacher_acc": {str(k): v for k, v in teachers.items()},
        "seconds": seconds,
        "rows": plain,
        "cells": cells,
        "claims": claims,
        "curves": curves,
        "inits": _init_table(plain, settings),
    }


def _init_table(rows: Sequence[dict], settings: Settings) -> list[dict]:
    """Per format × rate × init (not scratch): weight error, output error (means over the
    compressed layers), accuracy after initialisation and final accuracy per schedule (%), each
    the mean and 95 % interval over seeds."""
    table = []
    for fmt in settings.formats:
        for rate in settings.rates:
            for init in settings.inits:
                mine = [r for r in rows if r["format"] == fmt and r["target_rate"] == rate and row_init(r) == init]
                if not mine:
                    continue
                per_seed = {r["seed"]: r for r in mine}  # the init's figures are the same under every schedule
                entry = {"format": fmt, "target_rate": rate, "init": init}
                for key, scale in (("weight_error", 1), ("output_error", 1), ("init_acc", 100)):
                    values = [scale * r[key] for r in per_seed.values() if r.get(key) is not None]
                    entry[key] = mean_ci(values) if values else None
                entry["final"] = {}
                for schedule in settings.schedules:
                    values = cell_values(rows, fmt, rate, schedule, init)
                    if values:
                        entry["final"][schedule] = mean_ci([100 * v for v in values.values()])
                table.append(entry)
    return table


def _write(out: Path, data: dict) -> str:
    """Write results.json, results.csv, results.md and the plot; returns the markdown."""
    rows = data["rows"]
    write_text_atomic(out / "results.json", json.dumps(data, indent=1) + "\n")
    if rows:
        with open(out / "results.csv", "w", newline="") as f:
            # Every row's columns (rows resumed from before a column existed lack it).
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            writer.writeheader()
            writer.writerows(rows)
    text = results_markdown(data)
    (out / "results.md").write_text(text)
    plot_results(data, out / "accuracy_vs_rate.png")
    if fig9_selection(data.get("curves", [])):
        curves = {"provenance": data["provenance"], "results": {"teacher_acc": data["teacher_acc"],
                                                                "curves": data["curves"]}}  # fmt: skip
        write_text_atomic(out / "fig9_curves.json", json.dumps(curves, indent=1) + "\n")
        plot_fig9(curves, out / "fig9_test_error.png")
    return text
