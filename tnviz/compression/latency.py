"""Inference latency measured on the user's example input: compressed against original, per layer
and for the whole model, and the fastest of several layers (``format="auto"``); and a model's FLOPs
on it.

Timed as the benchmarks time: after warm-up calls, the functions run round-robin (each round times
every one back to back, in a rotating order), and the ratio to the reference is taken within each
round, its median over rounds reported — a shared machine's slow drift cancels out. Figures of a
report, not promises: another machine, thread count or batch gives others.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["relative_latency", "fastest", "seconds", "model_flops", "ROUNDS"]

ROUNDS = 7  # timed rounds after two warm-up calls each


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _runner(module: nn.Module, x) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            module(*x) if isinstance(x, tuple) else module(x)

    return run


def _rounds(fns: dict[str, Callable[[], None]], rounds: int, device: torch.device) -> list[dict[str, float]]:
    for fn in fns.values():
        fn()
        fn()
    keys, out = list(fns), []
    for k in range(rounds):
        times = {}
        for key in keys[k % len(keys) :] + keys[: k % len(keys)]:
            _sync(device)
            start = time.perf_counter()
            fns[key]()
            _sync(device)
            times[key] = time.perf_counter() - start
        out.append(times)
    return out


def relative_latency(new: nn.Module, old: nn.Module, x, rounds: int = ROUNDS) -> float:
    """``new``'s inference time on ``x`` over ``old``'s (median of per-round ratios), both in eval
    mode for the measurement and restored after."""
    modes = (new.training, old.training)
    new.eval()
    old.eval()
    device = x[0].device if isinstance(x, tuple) else x.device
    try:
        timed = _rounds({"old": _runner(old, x), "new": _runner(new, x)}, rounds, device)
    finally:
        new.train(modes[0])
        old.train(modes[1])
    return statistics.median(r["new"] / r["old"] for r in timed)


def seconds(module: nn.Module, x, rounds: int = ROUNDS) -> float:
    """``module``'s inference time on ``x`` in seconds (median over rounds), in eval mode for the
    measurement and restored after."""
    training = module.training
    module.eval()
    device = x[0].device if isinstance(x, tuple) else x.device
    try:
        timed = _rounds({"module": _runner(module, x)}, rounds, device)
    finally:
        module.train(training)
    return statistics.median(r["module"] for r in timed)


def fastest(candidates: dict[str, nn.Module], x, rounds: int = ROUNDS) -> tuple[str, dict[str, float]]:
    """(the name of the fastest module on ``x``, each one's time over the first one's)."""
    first = next(iter(candidates))
    device = x.device
    timed = _rounds({name: _runner(m.eval(), x) for name, m in candidates.items()}, rounds, device)
    ratios = {name: statistics.median(r[name] / r[first] for r in timed) for name in candidates}
    return min(ratios, key=ratios.__getitem__), ratios


def model_flops(model: nn.Module, example) -> int:
    """The FLOPs of one inference of ``model`` on ``example``, as torch's FlopCounterMode counts them
    (matrix products and convolutions: 2 per multiply-add, as :func:`~tnviz.nn.pricing.price_layer`),
    but for tnviz's layers (``TensorNetwork``), each counted by the plan it runs: the counter misses
    the steps a plan runs as broadcast products (a contraction over an index of size 1, a grouped
    layer's channel mixing: a Tucker Conv2d with groups=4 at ranks 1 ran 2.88 M FLOPs, of which the
    counter saw 2.36 M), so the budget that prices options by their plans and the rate it reports
    count alike. Counted with autograd on: without it, torch's attention and transformer layers take
    their fused fast path, whose one kernel the counter does not see (an encoder counted 30× fewer
    FLOPs than its compressed copy, which does not take it)."""
    from torch.utils.flop_counter import FlopCounterMode

    from tnviz.execute.module import TensorNetwork

    counter = FlopCounterMode(display=False)
    started: list[int] = []
    correction = [0]

    def before(module: nn.Module, args) -> None:
        started.append(counter.get_total_flops())

    def after(module: nn.Module, args, output) -> None:
        counted = counter.get_total_flops() - started.pop()
        if not started:  # the outermost tnviz layer: its plan holds any inside it
            correction[0] += module.plan(*args).flops - counted

    hooks = []
    for module in model.modules():
        if isinstance(module, TensorNetwork):
            hooks += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    training = model.training
    model.eval()
    try:
        with torch.enable_grad(), counter:
            model(example)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() + correction[0]
