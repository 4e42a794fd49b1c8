"""One epoch of a distillation phase — the loss of its kind (cross-entropy, knowledge
distillation with features, a block matched to the teacher's), the features captured by hooks,
the first layer whose output is not finite — and the callbacks' protocol that every process
agrees on. :func:`~tnviz.compression.distill.distill` runs the phases."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from tnviz.errors import TnvizError

if TYPE_CHECKING:
    from tnviz.compression.distill import Phase

__all__ = ["StopTraining", "train_epoch", "set_trainable", "agree", "call_back", "first_non_finite"]


class StopTraining(Exception):
    """Raise from a callback to end the run after the current step (the checkpoint stays at
    the last finished epoch)."""


class _BlockDone(Exception):
    """Raised by a hook once the block's output is in hand: the rest of the forward is skipped."""


class _Capture:
    """Forward hooks that keep the outputs of named submodules (and, with ``stop``, end the
    forward pass there)."""

    def __init__(self, model: nn.Module, names: Sequence[str], stop: bool = False) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.stop = stop
        modules = dict(model.named_modules())
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name: str):
        def hook(module, args, out) -> None:
            self.outputs[name] = out
            if self.stop:
                raise _BlockDone

        return hook

    def run(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
        try:
            return model(x)
        except _BlockDone:
            return None

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def call_back(callbacks: Sequence[Any], event: str, payload: Any) -> bool:
    """Run one event on every callback; False if one asks to stop."""
    go_on = True
    for cb in callbacks:
        fn = getattr(cb, event, None)
        if fn is None and event == "on_epoch" and callable(cb) and not hasattr(cb, "on_step"):
            fn = cb  # a plain function is an epoch callback
        if fn is None:
            continue
        try:
            if fn(payload) is False:
                go_on = False
        except StopTraining:
            go_on = False
    return go_on


def agree(flag: bool, world: int, device: torch.device) -> bool:
    """True if ``flag`` is set on any process (under DDP every rank must stop together, or the
    others wait for it forever in the next all-reduce)."""
    if world <= 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item())


def first_non_finite(model: nn.Module, x: torch.Tensor) -> str:
    """Where NaN/Inf enters: the input, a parameter, or the first module whose output has it."""
    if not torch.isfinite(x).all():
        return "the input batch holds NaN or Inf"
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            return f"parameter {name} holds NaN or Inf"
    found: list[str] = []

    def hook(name: str):
        def check(module, args, out) -> None:
            if not found and isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
                found.append(name)

        return check

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(x)
    except _BlockDone:  # a block phase's capture hook ends the pass early: what ran was checked
        pass
    finally:
        for h in handles:
            h.remove()
    return (
        f"NaN or Inf first appears in the output of layer {found[0]!r}" if found else "the outputs overflow in the loss"
    )


def set_trainable(student: nn.Module, phase: Phase, frozen: set[int]) -> list[nn.Parameter]:
    """The phase's parameters (never those the user froze), in train mode; the rest frozen."""
    scope = student if phase.block is None else student.get_submodule(phase.block)
    chosen = {id(p) for p in scope.parameters()} - frozen
    for p in student.parameters():
        p.requires_grad_(id(p) in chosen)
    if phase.block is None:
        student.train()
    else:
        student.eval()  # earlier blocks (and their batch norms) stay as they are
        scope.train()
    return [p for p in student.parameters() if id(p) in chosen]


def train_epoch(
    model, student, teacher, train, phase, optimizer, scheduler, device, callbacks, halted: Callable[[], bool], *,
    seed, global_epoch, batch_size, temperature, alpha, features, feature_weight, rank, world,
) -> tuple[dict, bool]:  # fmt: skip
    torch.manual_seed(seed * 1000 + global_epoch)  # data augmentation and dropout, reproducibly
    generator = torch.Generator().manual_seed(seed * 1000 + global_epoch)
    if world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        sampler.set_epoch(global_epoch)
        loader = DataLoader(train, batch_size=batch_size, sampler=sampler)
    else:
        loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator)
    watched = [phase.block] if phase.loss == "block" else list(features) if feature_weight else []
    # A block's loss needs the networks only up to the block; DDP needs whole forward passes.
    early = phase.loss == "block" and world == 1
    s_cap = _Capture(student, watched, stop=early)
    t_cap = _Capture(teacher, watched, stop=early) if teacher is not None else None
    total_loss, correct, seen, started = 0.0, 0, 0, time.perf_counter()
    steps = len(loader)
    try:
        for step, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            if teacher is not None and phase.loss != "ce":
                with torch.no_grad():
                    t_out = t_cap.run(teacher, x)
            out = s_cap.run(model, x)
            if phase.loss == "block":
                loss = F.mse_loss(s_cap.outputs[phase.block], t_cap.outputs[phase.block])
            elif phase.loss == "ce":
                loss = F.cross_entropy(out, y)
            else:
                T = temperature
                kd = F.kl_div(
                    F.log_softmax(out / T, 1), F.log_softmax(t_out / T, 1), log_target=True, reduction="batchmean"
                )
                loss = alpha * T * T * kd + (1 - alpha) * F.cross_entropy(out, y)
                for f in watched:
                    loss = loss + feature_weight * F.mse_loss(s_cap.outputs[f], t_cap.outputs[f])
            if agree(not bool(torch.isfinite(loss)), world, device):  # before backward's all-reduce
                if torch.isfinite(loss):
                    raise TnvizError(
                        f"the loss became NaN or Inf on another process in phase {phase.name!r}", token=phase.name
                    )
                where = first_non_finite(student, x)
                raise TnvizError(
                    f"the loss became {float(loss.detach())} in phase {phase.name!r} at step {step + 1}; "
                    f"{where}; lower the learning rate (the checkpoint keeps the last good epoch)",
                    token=phase.name,
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            n = len(y)
            total_loss += float(loss.detach()) * n
            if out is not None:
                correct += int((out.argmax(1) == y).sum())
            seen += n
            step_metrics = {"phase": phase.name, "step": step + 1, "steps": steps, "loss": float(loss.detach()),
                            "global_epoch": global_epoch + 1, "lr": scheduler.get_last_lr()[0]}  # fmt: skip
            if agree(not call_back(callbacks, "on_step", step_metrics) or halted(), world, device):
                return {}, False
    finally:
        s_cap.close()
        if t_cap is not None:
            t_cap.close()
    metrics = {
        "train_loss": total_loss / max(seen, 1),
        "train_acc": None if early else correct / max(seen, 1),
        "seconds": time.perf_counter() - started,
        "test_acc": None,
        "test_loss": None,
    }
    return metrics, True
