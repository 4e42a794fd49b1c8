"""Data-aware initialisation: fit each compressed layer to its teacher layer's outputs.

``compress(..., init="activations", calibration=batches)`` starts every compressed layer from
the weight decomposition (``init="decompose"``) and then fits it, by a short full-batch L-BFGS
run, to reproduce the teacher layer's outputs on recorded calibration activations, minimising
the relative output error ‖f(x) − y‖² / ‖y‖².

Design choices (and why):

* **Targets** ``y`` are the teacher layer's outputs on the teacher's own inputs (recorded with
  forward hooks on the teacher, in eval mode).
* **Inputs** ``x`` are the *student's* inputs to that layer: the layers are fitted in the
  order the teacher runs them, and each one sees the inputs its already-fitted predecessors
  produce, so a layer can make up for the error upstream (as sequential post-training
  compression does). The first compressed layer sees exactly the teacher's inputs.
* The reported **output error** of a layer, for every init, is that of its outputs *inside the
  student* (on the inputs the compressed layers before it give it) against the teacher layer's
  outputs: what the rest of the network sees, and what the fit minimises. (On the teacher's
  inputs a fitted later layer can look worse than the decomposition, since it was fitted to
  make up for the error upstream: measured for CP fc1 at 2 %.)
* **L-BFGS** (strong-Wolfe line search) rather than Adam: the problem is a smooth least squares
  over factors whose scales differ by orders of magnitude between formats, and a line search
  needs no learning rate per format. The decomposition is kept when the fit does not improve
  on it (the fit can only lower the fitted loss).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from tnviz.compression.report import Compressed, LayerReport
from tnviz.compression.training_state import preserved_state
from tnviz.errors import TnvizError

__all__ = [
    "CalibrationSet",
    "calibration_inputs",
    "record_layers",
    "fit_layer",
    "output_error",
    "weight_error",
    "calibrate_layers",
    "fit_to_teacher",
]

# The defaults compress() uses: enough samples for a layer's outputs to pin its few thousand
# factor entries down, and few enough steps for a LeNet-5 layer to fit in about a second.
DEFAULT_SAMPLES = 512
DEFAULT_STEPS = 100
# Refuse, with the estimate, rather than record activations larger than this.
DEFAULT_MEMORY = 2 * 1024**3
_CHUNK = 256  # samples per forward pass while recording (bounds the intermediate activations)


@dataclass(frozen=True)
class CalibrationSet:
    """The calibration inputs compress() uses, and how many were offered."""

    inputs: torch.Tensor
    capped: bool  # True when more samples were offered than used


def calibration_inputs(calibration: object, max_samples: int = DEFAULT_SAMPLES) -> CalibrationSet:
    """The first ``max_samples`` input samples of ``calibration``: one tensor batch, an iterable
    of tensor batches, or a DataLoader yielding ``(x, y)`` (``x`` is used). Stops reading as soon
    as it has enough, so a whole training DataLoader is not consumed."""
    if calibration is None:
        raise TnvizError(
            "init='activations' needs calibration= input batches (an iterable of tensors or a DataLoader "
            "of (x, y)); use training images, never test ones",
            token="calibration",
        )
    if not isinstance(max_samples, int) or isinstance(max_samples, bool) or max_samples < 1:
        raise TnvizError(
            f"calibration_samples must be a positive integer, got {max_samples!r}", token=repr(max_samples)
        )
    batches = [calibration] if isinstance(calibration, torch.Tensor) else calibration
    if not isinstance(batches, Iterable):
        raise TnvizError(
            f"calibration must be a tensor, an iterable of tensors or a DataLoader, got {type(calibration).__name__}",
            token=type(calibration).__name__,
        )
    taken: list[torch.Tensor] = []
    count, capped = 0, False
    it = iter(batches)
    for item in it:
        x = item[0] if isinstance(item, (tuple, list)) and item else item
        if not isinstance(x, torch.Tensor):
            raise TnvizError(
                f"calibration batches must be tensors or (x, y) pairs, got {type(item).__name__}",
                token=type(item).__name__,
            )
        integer = not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool  # token ids
        if x.dim() == 0 or not (x.is_floating_point() or integer):
            raise TnvizError(
                f"a calibration batch must be a floating-point tensor (or integer token ids) with a batch dimension, "
                f"got shape {tuple(x.shape)} of {x.dtype}",
                token=str(tuple(x.shape)),
            )
        if taken and x.shape[1:] != taken[0].shape[1:]:
            raise TnvizError(
                f"calibration batches disagree in shape: {tuple(taken[0].shape)} then {tuple(x.shape)}",
                token=str(tuple(x.shape)),
            )
        if count + len(x) >= max_samples:
            # exactly enough so far: one more batch means more was offered than used
            capped = count + len(x) > max_samples or next(it, None) is not None
            taken.append(x[: max_samples - count])
            count = max_samples
            break
        taken.append(x)
        count += len(x)
    if count == 0:
        raise TnvizError("calibration is empty: it yielded no sample", token="calibration")
    return CalibrationSet(torch.cat(taken).detach(), capped)


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def record_layers(
    model: nn.Module, names: Sequence[str], x: torch.Tensor, *, outputs: bool, memory: int = DEFAULT_MEMORY
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """The inputs (and, with ``outputs``, the outputs) of the modules ``names`` while ``model``
    runs on ``x`` in eval mode, and the names in the order they ran. Refuses, with an estimate,
    when the recording would exceed ``memory`` bytes."""
    modules = dict(model.named_modules())
    inputs: dict[str, list] = {n: [] for n in names}
    outs: dict[str, list] = {n: [] for n in names}
    order: list[str] = []

    def hook(name: str):
        def record(module, args, out) -> None:  # returns None: the output is left alone
            if name not in order:
                order.append(name)
            inputs[name].append(args[0].detach())
            if outputs:
                outs[name].append(out.detach())

        return record

    device = _device_of(model)
    hooks = [modules[n].register_forward_hook(hook(n)) for n in names]
    try:
        with preserved_state(model), torch.no_grad():
            model.eval()
            first = True
            for start in range(0, len(x), _CHUNK):
                model(x[start : start + _CHUNK].to(device))
                if first:  # the estimate from the first chunk, before recording the rest
                    first = False
                    per_sample = sum(t.numel() * t.element_size() for v in (inputs, outs) for ts in v.values()
                                     for t in ts) / min(_CHUNK, len(x))  # fmt: skip
                    need = per_sample * len(x)
                    if need > memory:
                        raise TnvizError(
                            f"recording the layers' activations for {len(x)} calibration samples would take "
                            f"about {_size(need)} (limit {_size(memory)}); pass fewer with "
                            f"calibration_samples= (at most {max(1, int(memory // per_sample))})",
                            token="calibration_samples",
                        )
    except TnvizError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        shape = str(tuple(x.shape[1:]))
        raise TnvizError(
            f"calibration samples of shape {shape} do not run through the model: {first_line}", token=shape
        ) from None
    finally:
        for h in hooks:
            h.remove()
    chunks = -(-len(x) // _CHUNK)
    for n in names:
        if len(inputs[n]) != chunks:  # a shared module runs several times per pass: no one input
            raise TnvizError(
                f"layer {n!r} ran {len(inputs[n])} times on {chunks} batch(es); init='activations' needs each "
                "compressed layer to run once per forward pass",
                token=n,
            )
    joined_in = {n: torch.cat(v) for n, v in inputs.items()}
    joined_out = {n: torch.cat(v) for n, v in outs.items()} if outputs else {}
    return joined_in, joined_out, order


def _size(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def _relative(pred: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    return (pred - want).pow(2).sum() / want.pow(2).sum().clamp_min(torch.finfo(want.dtype).tiny)


def output_error(layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """‖layer(x) − y‖ / ‖y‖ (the relative error of the layer's outputs)."""
    with preserved_state(layer), torch.no_grad():
        layer.eval()
        pred = torch.cat([layer(x[s : s + _CHUNK]) for s in range(0, len(x), _CHUNK)])
    return float(_relative(pred, y).sqrt())


def weight_error(layer: nn.Module, dense: nn.Module) -> float:
    """‖W − Ŵ‖ / ‖W‖ of a tensorial layer against the dense layer it replaces."""
    with torch.no_grad():
        want = dense.weight.detach()
        return float((layer.weight - want).norm() / want.norm())


def fit_layer(layer: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = DEFAULT_STEPS) -> tuple[float, float]:
    """Fit ``layer``'s parameters (factors and bias) in place so that ``layer(x) ≈ y``, by at most
    ``steps`` L-BFGS iterations on the whole set; returns (seconds, the fitted relative squared
    error). The starting parameters are kept when the fit ends no better (or not finite)."""
    started = time.perf_counter()
    params = [p for p in layer.parameters() if p.requires_grad]
    if steps <= 0 or not params:
        return 0.0, float("nan")
    start = [p.detach().clone() for p in params]
    with torch.no_grad():
        before = float(_relative(layer(x), y))
    optimizer = torch.optim.LBFGS(
        params, lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
        tolerance_grad=1e-9, tolerance_change=1e-12,
    )  # fmt: skip

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = _relative(layer(x), y)
        loss.backward()
        return loss

    with preserved_state(layer), torch.enable_grad():
        layer.train()
        optimizer.step(closure)
    with torch.no_grad():
        after = float(_relative(layer(x), y))
        if not after < before:  # NaN or no better: the decomposition stays
            for p, s in zip(params, start):
                p.copy_(s)
            after = before
    for p in params:
        p.grad = None
    return time.perf_counter() - started, after


def fit_to_teacher(
    compressed: Compressed,
    teacher: nn.Module,
    calibration: Any,
    *,
    calibration_samples: int = DEFAULT_SAMPLES,
    fit_steps: int = DEFAULT_STEPS,
    calibration_memory: int = DEFAULT_MEMORY,
) -> Compressed:
    """Data-aware initialisation of a student :func:`compress` decomposed from ``teacher``: a copy
    whose compressed layers are fitted to the teacher layers' outputs, exactly what
    ``compress(teacher, ..., init="activations", calibration=...)`` returns, without decomposing
    again (so that one decomposition serves both initialisations).

    Example:
        >>> decomposed = compress(teacher, format="mtt", rate=0.05)  # doctest: +SKIP
        >>> fitted, report = fit_to_teacher(decomposed, teacher, images)  # doctest: +SKIP
    """
    if not isinstance(compressed, Compressed):
        raise TnvizError(
            f"fit_to_teacher takes what compress returns, (model, report), got {type(compressed).__name__}",
            token=type(compressed).__name__,
        )
    student, report = compressed
    if report.init != "decompose":
        raise TnvizError(
            f"fit_to_teacher starts from a decomposed student (init='decompose'), got init={report.init!r}",
            token=report.init,
        )
    if not isinstance(fit_steps, int) or isinstance(fit_steps, bool) or fit_steps < 0:
        raise TnvizError(f"fit_steps must be a non-negative integer, got {fit_steps!r}", token=repr(fit_steps))
    calib = calibration_inputs(calibration, calibration_samples)
    student = copy.deepcopy(student)
    layers, note = calibrate_layers(
        teacher, student, report.layers, calib, True, fit_steps, calibration_memory, calibration_samples, None
    )
    return Compressed(student, replace(report, layers=tuple(layers), init="activations", notes=(note,)))


def calibrate_layers(
    teacher: nn.Module,
    student: nn.Module,
    layers: Sequence[LayerReport],
    calib: Any,
    fit: bool,
    fit_steps: int,
    memory: int,
    samples: int,
    recorded: tuple | None,
) -> tuple[list[LayerReport], str]:
    """The layer reports with output errors (and, with ``fit``, the layers fitted first), and the note."""
    # torch's attention reads its projections' weights and calls neither module: no hook sees them
    names = [r.name for r in layers if r.attention is None]
    if recorded is None:
        _, teacher_out, run_order = record_layers(teacher, names, calib.inputs, outputs=True, memory=memory)
    else:
        teacher_out, run_order = recorded
    built = {n: student.get_submodule(n) for n in names}
    fitted: dict[str, float] = {}
    if fit:
        # In the order the teacher runs them, each layer fitted on the inputs the student (with
        # the layers before it already fitted) gives it: it can make up for their error.
        for name in run_order:
            student_in, _, _ = record_layers(student, [name], calib.inputs, outputs=False, memory=memory)
            fitted[name], _ = fit_layer(built[name], student_in[name], teacher_out[name], fit_steps)
    # The output error inside the student: each layer on the inputs the student gives it,
    # against the teacher layer's outputs (what the rest of the network then sees).
    student_in, _, _ = record_layers(student, names, calib.inputs, outputs=False, memory=memory)
    out = [
        replace(
            r,
            error=weight_error(built[r.name], teacher.get_submodule(r.name)) if fit else r.error,
            output_error=output_error(built[r.name], student_in[r.name], teacher_out[r.name]),
            fit_seconds=fitted.get(r.name),
        )
        if r.name in built
        else r
        for r in layers
    ]
    note = (
        f"output errors on {len(calib.inputs)} calibration samples"
        + (f" (capped at calibration_samples={samples}; more were given)" if calib.capped else "")
        + (f"; each layer fitted by at most {fit_steps} L-BFGS steps" if fit else "")
    )
    return out, note
