"""Knowledge distillation of a compressed student from its teacher.

Three schedules, as in the paper:

* ``"seq"`` — sequential (Seq-KD): the blocks are trained one after another; block k's loss is
  the MSE between its output and the teacher's same block on the same images, with only that
  block trainable (earlier blocks already distilled, later ones untouched); then optional
  end-to-end fine-tuning with the ``"e2e"`` loss.
* ``"e2e"`` — end to end (E2E-KD): the whole student against the teacher's logits,
  ``alpha·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−alpha)·CE``, plus an optional MSE on
  named feature maps.
* ``"scratch"`` — cross-entropy alone (the teacher is not used).

Runs are deterministic for a seed: epoch e shuffles with seed·1000 + e and reseeds torch's
generator, so a run resumed from its checkpoint repeats the epochs an uninterrupted run would.
A checkpoint is written atomically after every epoch; ``resume=True`` continues from it;
Ctrl-C (or a callback returning False, or ``stop.set()``) ends the run cleanly and returns the
model trained so far. Under ``torchrun`` the student is wrapped in DistributedDataParallel
(NCCL on GPUs, gloo on CPUs) and each process reads its shard of every epoch.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import math
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tnviz.compression.checkpoint import load_checkpoint, load_state_into, save_atomic
from tnviz.compression.training_epoch import StopTraining, agree, call_back, set_trainable, train_epoch
from tnviz.compression.training_state import preserved_state
from tnviz.errors import TnvizError

__all__ = ["distill", "evaluate", "DistillResult", "Phase", "StopTraining", "SCHEDULES"]

SCHEDULES = ("seq", "e2e", "scratch")
_KIND = "tnviz-distill"
_VERSION = 1
EXIT_BARRIER_SECONDS = 60  # how long a rank waits at exit for the others (see _end_process_group)


@dataclass(frozen=True)
class Phase:
    """A stretch of training with one loss and one set of trainable parameters."""

    name: str
    loss: str  # "block" | "kd" | "ce"
    block: str | None
    epochs: int


@dataclass
class DistillResult:
    """What :func:`distill` returns: the student and every epoch's metrics."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    stopped: bool = False
    interrupted: bool = False
    resumed_from: int | None = None

    @property
    def test_accuracy(self) -> float | None:
        """The last epoch's test accuracy."""
        for row in reversed(self.history):
            if row.get("test_acc") is not None:
                return row["test_acc"]
        return None

    def __str__(self) -> str:
        from tnviz.tables import text_table

        head = ("epoch", "phase", "train loss", "train acc", "test acc", "s")
        rows = [
            (
                str(h["global_epoch"]),
                h["phase"],
                f"{h['train_loss']:.4g}",
                "—" if h.get("train_acc") is None else f"{h['train_acc']:.4f}",
                "—" if h.get("test_acc") is None else f"{h['test_acc']:.4f}",
                f"{h['seconds']:.1f}",
            )
            for h in self.history
        ]
        state = " (stopped early)" if self.stopped else ""
        return f"distillation{state}: final test accuracy {self.test_accuracy}\n" + text_table(head, rows)


def _tensorial_layers(model: nn.Module) -> list[str]:
    from tnviz.nn import TensorialLayer

    return [name for name, m in model.named_modules() if isinstance(m, TensorialLayer)]


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 1000, device: Any = None) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``data``, in eval mode."""
    device = device or next(model.parameters()).device
    correct, loss, n = 0, 0.0, 0
    with preserved_state(model), torch.no_grad():  # each submodule's own mode comes back
        model.eval()
        for x, y in DataLoader(data, batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            out = model(x)
            correct += int((out.argmax(1) == y).sum())
            loss += float(F.cross_entropy(out, y, reduction="sum"))
            n += len(y)
    return correct / max(n, 1), loss / max(n, 1)


def _distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not torch.distributed.is_available():
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        atexit.register(_end_process_group)
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def _end_process_group() -> None:
    """At exit, end the process group :func:`_distributed` started, all ranks together: a barrier,
    then ``destroy_process_group``. A rank that exits while another still tears down its gloo
    connections can abort that one ("terminate called without an active exception": 1 in about 5
    two-process runs of tests/compression/test_faults.py without it). Skipped when the script
    ended the group itself. The barrier is gloo's ``monitored_barrier`` with a timeout, and only
    after a clean run (no uncaught exception), so a rank that failed never waits on the others:
    torchrun stops them."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if dist.get_backend() == "gloo" and getattr(sys, "last_value", None) is None:
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=EXIT_BARRIER_SECONDS))
    except RuntimeError:
        pass  # another rank did not come: end this one all the same
    finally:
        dist.destroy_process_group()


def _config(schedule, phases, lr, batch_size, temperature, alpha, seed, world) -> dict:
    return {
        "mode": schedule,  # the key earlier checkpoints have
        "phases": [[p.name, p.loss, p.block or "", p.epochs] for p in phases],
        "lr": [float(v) for v in lr],
        "batch_size": [int(v) for v in batch_size],
        "temperature": float(temperature),
        "alpha": float(alpha),
        "seed": int(seed),
        "world_size": int(world),
    }


def distill(
    student: nn.Module,
    teacher: nn.Module | None,
    train: Dataset,
    test: Dataset | None = None,
    schedule: str = "e2e",
    *,
    epochs: int = 10,
    blocks: Sequence[str] | None = None,
    block_epochs: int = 2,
    finetune_epochs: int = 0,
    lr: float = 1e-3,
    batch_size: int = 64,
    block_lr: float | None = None,
    block_batch_size: int | None = None,
    temperature: float = 4.0,
    alpha: float = 0.9,
    features: Sequence[str] = (),
    feature_weight: float = 0.0,
    seed: int = 0,
    device: Any = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    stop: threading.Event | None = None,
    progress: bool = True,
    eval_batch_size: int = 1000,
    test_every: int = 1,
) -> DistillResult:
    """Train ``student`` from ``teacher`` by knowledge distillation (or from scratch).

    Args:
        student: the model to train (changed in place and returned).
        teacher: the trained network; kept frozen in eval mode (unused for ``"scratch"``).
        train, test: datasets of (input, label); ``test`` is evaluated after every epoch.
        schedule: ``"seq"``, ``"e2e"`` or ``"scratch"`` (see the module docstring).
        epochs: epochs of ``"e2e"``/``"scratch"``.
        blocks: ``"seq"``'s blocks, module names present in both networks, in order (default:
            the student's tensorial layers — or pass stages such as ``["stage1", "stage2"]``).
        block_epochs, finetune_epochs: ``"seq"``'s epochs per block and of the end-to-end
            fine-tuning after them.
        lr, batch_size: Adam's learning rate (cosine-annealed within each phase) and the batch.
        block_lr, block_batch_size: ``"seq"``'s block phases' own (default: ``lr``, ``batch_size``);
            a block's regression wants more, smaller steps than the end-to-end phases.
        temperature, alpha: the KD loss ``alpha·T²·KL + (1−alpha)·CE``.
        features, feature_weight: module names whose outputs are matched by MSE in ``"e2e"``.
        seed: fixes shuffling and any randomness in the data pipeline.
        device: where to train (default: the student's device).
        checkpoint: a file written atomically after every epoch.
        resume: continue from ``checkpoint`` if it exists.
        callbacks: objects with any of ``on_start(info)``, ``on_step(metrics)``,
            ``on_epoch(metrics)``, ``on_end(result)``, or plain functions (called per epoch);
            returning False or raising :class:`StopTraining` ends the run.
        stop: an event that ends the run when set (a Stop button sets it).
        progress: show tqdm progress bars (notebook-aware).
        eval_batch_size, test_every: ``test`` is evaluated every ``test_every`` epochs and after
            the last one (0: after the last one only).

    Returns:
        :class:`DistillResult` with the model, per-epoch metrics and whether it stopped early.

    Example:
        >>> result = distill(student, teacher, train, test, "seq", block_epochs=1)  # doctest: +SKIP
    """
    settings = _Settings(
        schedule, epochs, blocks, block_epochs, finetune_epochs, lr, batch_size,
        lr if block_lr is None else block_lr, batch_size if block_batch_size is None else block_batch_size,
        temperature, alpha, tuple(features), feature_weight, seed, test_every, eval_batch_size,
    )  # fmt: skip
    run = _Run(student, teacher, train, test, settings, device, checkpoint, resume, callbacks, stop, progress)
    return run.execute()


@dataclass(frozen=True)
class _Settings:
    """What a run was asked for: checked once, and (its training part) stored in the
    checkpoint so that a resume with other settings is refused."""

    schedule: str
    epochs: int
    blocks: Sequence[str] | None
    block_epochs: int
    finetune_epochs: int
    lr: float
    batch_size: int
    block_lr: float
    block_batch_size: int
    temperature: float
    alpha: float
    features: tuple[str, ...]
    feature_weight: float
    seed: int
    test_every: int
    eval_batch_size: int

    def validate(self, teacher: nn.Module | None) -> None:
        if self.schedule not in SCHEDULES:
            raise TnvizError(
                f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}", token=repr(self.schedule)
            )
        if self.schedule != "scratch" and teacher is None:
            raise TnvizError(f"schedule {self.schedule!r} needs a teacher", token="teacher")
        for name in ("epochs", "block_epochs", "finetune_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TnvizError(f"{name} must be a non-negative integer, got {value!r}", token=name)
        for name in ("batch_size", "block_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TnvizError(f"{name} must be a positive integer, got {value!r}", token=name)
        for name in ("lr", "block_lr", "temperature"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise TnvizError(f"{name} must be a positive number, got {value!r}", token=name)
        if not isinstance(self.alpha, (int, float)) or not 0.0 <= self.alpha <= 1.0:
            raise TnvizError(f"alpha must be in [0, 1], got {self.alpha!r}", token="alpha")
        if not isinstance(self.test_every, int) or isinstance(self.test_every, bool) or self.test_every < 0:
            raise TnvizError(f"test_every must be a non-negative integer, got {self.test_every!r}", token="test_every")

    def phases(self, blocks: Sequence[str]) -> list[Phase]:
        if self.schedule == "seq":
            out = [Phase(f"block {b}", "block", b, self.block_epochs) for b in blocks]
            if self.finetune_epochs:
                out.append(Phase("fine-tune", "kd", None, self.finetune_epochs))
            return out
        return [Phase(self.schedule, "kd" if self.schedule == "e2e" else "ce", None, self.epochs)]


class _Run:
    """One distillation run: validate, resume, then each phase's epochs, saving each epoch."""

    def __init__(self, student, teacher, train, test, settings: _Settings, device, checkpoint, resume, callbacks,
                 stop, progress) -> None:  # fmt: skip
        settings.validate(teacher)
        if resume and checkpoint is None:
            raise TnvizError("resume=True needs checkpoint=PATH", token="resume")
        self.student, self.teacher, self.train, self.test = student, teacher, train, test
        self.s = settings
        self.callbacks, self.stop, self.progress, self.resume = callbacks, stop, progress, resume
        self.blocks = self._blocks()
        self.rank, self.world = _distributed()
        device = torch.device(device) if device is not None else next(student.parameters()).device
        if self.world > 1 and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", self.rank)))
        self.device = device
        self.phases = settings.phases(self.blocks)
        self.config = _config(
            settings.schedule, self.phases, (settings.lr, settings.block_lr),
            (settings.batch_size, settings.block_batch_size), settings.temperature, settings.alpha, settings.seed,
            self.world,
        )  # fmt: skip
        self.path = Path(checkpoint) if checkpoint is not None else None
        self.result = DistillResult(student)
        self.total_epochs = sum(p.epochs for p in self.phases)

    def _blocks(self) -> list[str]:
        student_modules = dict(self.student.named_modules())
        blocks: list[str] = []
        if self.s.schedule == "seq":
            blocks = list(self.s.blocks) if self.s.blocks is not None else _tensorial_layers(self.student)
            if not blocks:
                raise TnvizError("schedule 'seq' needs blocks: the student has no tensorial layer", token="blocks")
            teacher_modules = dict(self.teacher.named_modules())
            for b in blocks:
                if b not in student_modules or b not in teacher_modules:
                    raise TnvizError(f"block {b!r} is not a module of both the student and the teacher", token=b)
        for f in self.s.features:
            if f not in student_modules or (self.teacher is not None and f not in dict(self.teacher.named_modules())):
                raise TnvizError(f"feature {f!r} is not a module of both networks", token=f)
        return blocks

    def resume_point(self) -> tuple[int, int, dict | None]:
        """(phase, epoch within it, optimizer state) to start from; loads the checkpoint's model."""
        path = self.path
        if not (self.resume and path is not None and path.exists()):
            return 0, 0, None
        state = load_checkpoint(path, ("config", "phase", "epoch", "model", "history"), kind=_KIND)
        if state["config"] != self.config:
            changed = sorted(k for k in self.config if state["config"].get(k) != self.config[k])
            raise TnvizError(
                f"checkpoint {path} was written by a different run (differs in {', '.join(changed)}); "
                "use the same settings or another checkpoint",
                token=str(path),
            )
        load_state_into(self.student, state["model"], str(path))
        self.result.history = list(state["history"])
        self.result.resumed_from = len(self.result.history)
        return int(state["phase"]), int(state["epoch"]), state.get("optimizer")

    def halted(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def save_epoch(self, p_index: int, epoch: int, phase: Phase, optimizer, scheduler) -> None:
        """The checkpoint after an epoch (atomically): where to continue, the model, the history."""
        if self.path is None or self.rank != 0:
            return
        more = epoch + 1 < phase.epochs
        save_atomic(
            {
                "kind": _KIND,
                "version": _VERSION,
                "config": self.config,
                "phase": p_index if more else p_index + 1,
                "epoch": epoch + 1 if more else 0,
                "model": {k: v.detach().cpu() for k, v in self.student.state_dict().items()},
                "optimizer": {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
                if more
                else None,
                "history": self.result.history,
            },
            self.path,
        )

    def run_phase(self, p_index: int, first: int, opt_state: dict | None, frozen: set[int], bar) -> bool:
        """The phase's epochs from ``first``; False when the run stops."""
        s, phase, student, world, device = self.s, self.phases[p_index], self.student, self.world, self.device
        trainable = set_trainable(student, phase, frozen)
        if not trainable:
            raise TnvizError(f"phase {phase.name!r} has no trainable parameter", token=phase.name)
        model = student
        if world > 1:
            model = nn.parallel.DistributedDataParallel(student, device_ids=[device] if device.type == "cuda" else None)
        phase_lr, phase_batch = (s.block_lr, s.block_batch_size) if phase.loss == "block" else (s.lr, s.batch_size)
        optimizer = torch.optim.Adam(trainable, lr=phase_lr)
        steps_per_epoch = math.ceil(len(self.train) / world / phase_batch)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, phase.epochs * steps_per_epoch))
        if opt_state is not None:
            optimizer.load_state_dict(opt_state["optimizer"])
            scheduler.load_state_dict(opt_state["scheduler"])
        for epoch in range(first, phase.epochs):
            if agree(self.halted(), world, device):
                return False
            global_epoch = len(self.result.history)
            metrics, ok = train_epoch(
                model, student, self.teacher, self.train, phase, optimizer, scheduler, device, self.callbacks,
                self.halted, seed=s.seed, global_epoch=global_epoch, batch_size=phase_batch,
                temperature=s.temperature, alpha=s.alpha, features=s.features, feature_weight=s.feature_weight,
                rank=self.rank, world=world,
            )  # fmt: skip
            if not ok:
                return False  # mid-epoch: the checkpoint keeps the last whole epoch
            last = global_epoch + 1 == self.total_epochs
            if self.test is not None and (last or (s.test_every and (global_epoch + 1) % s.test_every == 0)):
                metrics["test_acc"], metrics["test_loss"] = evaluate(student, self.test, s.eval_batch_size, device)
            metrics.update(phase=phase.name, epoch=epoch + 1, global_epoch=global_epoch + 1)
            self.result.history.append(metrics)
            self.save_epoch(p_index, epoch, phase, optimizer, scheduler)
            if world > 1:
                torch.distributed.barrier()
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: round(v, 4) for k, v in metrics.items() if k in ("train_loss", "test_acc")})
            if agree(not call_back(self.callbacks, "on_epoch", dict(metrics)), world, device):
                return False
        return True

    def execute(self) -> DistillResult:
        student, teacher, result = self.student, self.teacher, self.result
        student.to(self.device)
        if teacher is not None:
            teacher.to(self.device)
        start_phase, start_epoch, opt_state = self.resume_point()
        info = {
            "schedule": self.s.schedule,
            "phases": [p.name for p in self.phases],
            "epochs": self.total_epochs,
            "rank": self.rank,
            "world": self.world,
        }
        call_back(self.callbacks, "on_start", info)
        bar = None
        if self.progress and self.rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total_epochs, initial=len(result.history), desc=f"distill {self.s.schedule}",
                       unit="epoch")  # fmt: skip
        # Modes and requires_grad flags come back at the end; parameters the user froze stay frozen.
        restore = contextlib.ExitStack()
        restore.enter_context(preserved_state(student, teacher, grads=True))
        frozen = {id(p) for p in student.parameters() if not p.requires_grad}
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
        try:
            for p_index in range(start_phase, len(self.phases)):
                first = start_epoch if p_index == start_phase else 0
                if first >= self.phases[p_index].epochs:
                    continue
                state = opt_state if p_index == start_phase else None
                if not self.run_phase(p_index, first, state, frozen, bar):
                    result.stopped = True
                    return result
        except KeyboardInterrupt:
            result.stopped = result.interrupted = True
            if self.path is not None and self.rank == 0:
                # The partial epoch goes beside the checkpoint, which stays at the last whole epoch.
                save_atomic(
                    {"kind": "tnviz-model", "model": student.state_dict()}, self.path.with_suffix(".interrupted.pt")
                )
            return result
        finally:
            restore.close()
            if bar is not None:
                bar.close()
            call_back(self.callbacks, "on_end", result)
        return result
