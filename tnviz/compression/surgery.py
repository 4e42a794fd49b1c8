"""Model surgery: replace a network's Linear and Conv layers by tensorial ones."""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import torch
from torch import nn

from tnviz.compression.calibrate import (
    DEFAULT_MEMORY,
    DEFAULT_SAMPLES,
    DEFAULT_STEPS,
    calibration_inputs,
    fit_layer,
    output_error,
    record_layers,
    weight_error,
)
from tnviz.compression.training_state import preserved_state
from tnviz.core.formats import DEFAULT_FORMAT
from tnviz.errors import TnvizError
from tnviz.nn.pricing import LayerPrice, price_layer
from tnviz.tables import html_table, text_table

__all__ = ["compress", "fit_to_teacher", "Compressed", "CompressionReport", "LayerReport", "compressible_layers"]

_DENSE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class LayerReport:
    """One replaced layer: what it became and what it costs (FLOPs per sample; None without
    an example input).

    ``price`` is the layer's :func:`~tnviz.nn.pricing.price_layer` price for the whole
    example batch (the figures RankExplorer and ``cost_table`` show for that input);
    ``flops`` and ``dense_flops`` are its FLOPs divided by the batch size."""

    name: str
    kind: str
    format: str
    ranks: dict
    dense_params: int
    params: int
    dense_flops: int | None
    flops: int | None
    error: float | None
    price: LayerPrice | None = field(default=None, repr=False, compare=False)
    # ‖f(x) − y‖ / ‖y‖: the layer's outputs inside the student (on the inputs the compressed
    # layers before it give it) against the teacher layer's outputs, over the calibration
    # samples (None without calibration data).
    output_error: float | None = None
    # Seconds the data-aware fit took (None unless init="activations").
    fit_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.params / self.dense_params

    @property
    def strategy(self) -> str | None:
        """The plan's approach for the example input (None without one)."""
        return self.price.strategy if self.price is not None else None


@dataclass(frozen=True)
class CompressionReport:
    """Per-layer and total figures of a compression.

    ``rate`` is the compressed layers' parameters over their dense parameters (what ``rate=``
    targets); ``model_rate`` is the whole model's parameters over the original model's. Each
    layer's ``error`` is its weight error ‖W − Ŵ‖ / ‖W‖ (after the fit for ``init="activations"``)
    and ``output_error`` its outputs' relative error on the calibration activations (when
    ``calibration=`` was given, whatever the init)."""

    format: str
    target_rate: float | None
    layers: tuple[LayerReport, ...]
    kept: tuple[str, ...]
    model_params: int
    original_params: int
    init: str = "decompose"
    notes: tuple[str, ...] = field(default=())

    @property
    def rate(self) -> float:
        dense = sum(r.dense_params for r in self.layers)
        return sum(r.params for r in self.layers) / dense if dense else 1.0

    @property
    def model_rate(self) -> float:
        return self.model_params / self.original_params

    def rows(self) -> list[dict[str, Any]]:
        """One dict per replaced layer (for CSV or a DataFrame)."""
        return [
            {
                "layer": r.name,
                "kind": r.kind,
                "format": r.format,
                "ranks": " ".join(f"{k}={v}" for k, v in r.ranks.items()),
                "dense_params": r.dense_params,
                "params": r.params,
                "rate": r.rate,
                "dense_flops": r.dense_flops,
                "flops": r.flops,
                "plan": r.strategy,
                "reconstruction_error": r.error,
                "output_error": r.output_error,
                "fit_seconds": r.fit_seconds,
            }
            for r in self.layers
        ]

    _HEAD = ("layer", "kind", "format", "ranks", "params", "dense", "rate", "FLOPs/dense", "plan", "weight err.",
             "output err.")  # fmt: skip

    @property
    def output_error(self) -> float | None:
        """The compressed layers' mean output error (None without calibration data)."""
        values = [r.output_error for r in self.layers]
        return None if not values or None in values else sum(values) / len(values)  # type: ignore[arg-type,misc]

    @property
    def weight_error(self) -> float | None:
        """The compressed layers' mean weight error (None for ``init="random"``)."""
        values = [r.error for r in self.layers]
        return None if not values or None in values else sum(values) / len(values)  # type: ignore[arg-type,misc]

    @property
    def flops(self) -> int | None:
        """FLOPs per sample of the compressed layers (None without an example input)."""
        values = [r.flops for r in self.layers]
        return None if not values or None in values else sum(values)  # type: ignore[arg-type]

    @property
    def dense_flops(self) -> int | None:
        """FLOPs per sample of the same layers dense (None without an example input)."""
        values = [r.dense_flops for r in self.layers]
        return None if not values or None in values else sum(values)  # type: ignore[arg-type]

    @property
    def objective(self) -> str | None:
        """The planner objective the FLOPs were counted for (None without an example input)."""
        prices = [r.price for r in self.layers if r.price is not None]
        return prices[0].objective if prices else None

    def table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """(header, rows of cell text): the per-layer table that ``str()`` and the widgets show.

        Example:
            >>> head, rows = report.table()  # doctest: +SKIP
        """
        return self._HEAD, self._cells()

    def summary(self) -> str:
        """The one-paragraph summary printed above the table (rates, kept layers, FLOPs' objective)."""
        return self._summary()

    def _cells(self) -> list[tuple[str, ...]]:
        out = []
        for r in self.layers:
            flops = f"{r.flops / r.dense_flops:.3f}" if r.flops and r.dense_flops else "—"
            error = "—" if r.error is None else f"{r.error:.3g}"
            out_error = "—" if r.output_error is None else f"{r.output_error:.3g}"
            ranks = " ".join(f"{k}={v}" for k, v in r.ranks.items()) or "—"
            plan = r.strategy or "—"
            out.append(
                (
                    r.name,
                    r.kind,
                    r.format,
                    ranks,
                    f"{r.params:,}",
                    f"{r.dense_params:,}",
                    f"{r.rate:.4f}",
                    flops,
                    plan,
                    error,
                    out_error,
                )
            )
        return out

    def _summary(self) -> str:
        target = "" if self.target_rate is None else f" (target {self.target_rate:g})"
        kept = ", ".join(self.kept) or "none"
        if self.objective is not None:
            flops = f" FLOPs planned for objective {self.objective!r} (what the layers run)."
        else:
            flops = " FLOPs: pass example_input= to count them."
        return (
            f"{self.format}, init={self.init}: compressed layers keep {self.rate:.4f} of their parameters{target}; "
            f"the whole model {self.model_params:,} of {self.original_params:,} ({self.model_rate:.4f}). "
            f"Kept dense: {kept}." + flops
        )

    def __str__(self) -> str:
        lines = [self._summary(), text_table(self._HEAD, self._cells())]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(self._HEAD, self._cells(), caption=self._summary())


class Compressed(NamedTuple):
    """``(model, report)`` as returned by :func:`compress`."""

    model: nn.Module
    report: CompressionReport


def compressible_layers(model: nn.Module) -> list[str]:
    """Names of the Linear and Conv1d/2d/3d modules, in registration order."""
    return [name for name, m in model.named_modules() if type(m) in _DENSE_TYPES]


def _select(
    model: nn.Module, skip: Sequence[str] | str | None, include: Sequence[str] | str | None
) -> tuple[list, list]:
    names = compressible_layers(model)
    if not names:
        raise TnvizError("the model has no nn.Linear or nn.Conv1d/2d/3d layer to compress", token=type(model).__name__)
    modules = dict(model.named_modules())

    def patterns(value, what):
        if value is None:
            return None
        items = [value] if isinstance(value, str) else list(value)
        for p in items:
            if not isinstance(p, str):
                raise TnvizError(f"{what} takes module names or glob patterns, got {p!r}", token=repr(p))
            if not fnmatch.filter(names, p):
                raise TnvizError(
                    f"{what} pattern {p!r} matches no compressible layer; the layers are {', '.join(names)}", token=p
                )
        return items

    include_p, skip_p = patterns(include, "include"), patterns(skip, "skip")
    if include_p is not None:
        chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in include_p)]
    else:
        # The paper keeps the first convolution and the last linear layer dense: they are small
        # and the accuracy is most sensitive to them.
        convs = [n for n in names if not isinstance(modules[n], nn.Linear)]
        linears = [n for n in names if isinstance(modules[n], nn.Linear)]
        default_skip = set(convs[:1]) | set(linears[-1:])
        chosen = [n for n in names if n not in default_skip]
    if skip_p is not None:
        chosen = [n for n in chosen if not any(fnmatch.fnmatchcase(n, p) for p in skip_p)]
    if not chosen:
        if include is None and skip is None:
            raise TnvizError(
                f"by default the first convolution and the last Linear stay dense, and this model has no other layer "
                f"({', '.join(names)}); name the layers to compress with include=",
                token=names[0],
            )
        raise TnvizError("no layer left to compress after include/skip", token=str(skip or include))
    return chosen, [n for n in names if n not in chosen]


def _input_shapes(model: nn.Module, names: Sequence[str], example: torch.Tensor) -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    modules = dict(model.named_modules())

    def record(name: str):
        def hook(module, args, out) -> None:  # returns None: the output is left alone
            shapes.setdefault(name, (tuple(args[0].shape), tuple(out.shape)))

        return hook

    hooks = [modules[n].register_forward_hook(record(n)) for n in names]
    try:
        with preserved_state(model), torch.no_grad():
            model.eval()
            model(example)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        shape = tuple(example.shape) if isinstance(example, torch.Tensor) else type(example).__name__
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TnvizError(f"example_input {shape} does not run through the model: {first}", token=str(shape)) from None
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def compress(
    model: nn.Module,
    format: str = DEFAULT_FORMAT,
    rate: float | None = None,
    rank: Any = None,
    *,
    order: int = 3,
    init: str = "decompose",
    skip: Sequence[str] | str | None = None,
    include: Sequence[str] | str | None = None,
    example_input: torch.Tensor | None = None,
    calibration: Any = None,
    calibration_samples: int = DEFAULT_SAMPLES,
    fit_steps: int = DEFAULT_STEPS,
    calibration_memory: int = DEFAULT_MEMORY,
    **layer_kwargs: Any,
) -> Compressed:
    """A compressed copy of ``model``: its Linear and Conv layers in a tensorial format.

    Args:
        model: any ``nn.Module``; it is not changed.
        format: one of ``tnviz.core.formats.FORMATS`` (``cp tk tt tr`` and the reshaped
            ``mcp mtk mtt mtr``; also ``svd``, ``btd``); default ``DEFAULT_FORMAT`` (``"mtt"``).
        rate: the fraction of each replaced layer's parameters to keep (ranks are chosen per
            layer by the exact formulas), or ``rank`` for fixed ranks.
        order: m, the channel factors of a reshaped format.
        init: ``"decompose"`` (tensorly decomposition of the trained weights, the paper's
            initialisation), ``"activations"`` (the decomposition, then each layer fitted to
            reproduce the teacher layer's outputs on ``calibration`` activations; see
            :mod:`tnviz.compression.calibrate`) or ``"random"`` (``reset_parameters``, as if
            trained from scratch).
        skip, include: module names or glob patterns (``"stage*.conv1"``). By default every
            Linear/Conv layer but the first convolution and the last Linear is replaced.
        example_input: one input batch; with it the report gives FLOPs per sample, priced by
            :func:`~tnviz.nn.pricing.price_layer` for the layer's input in that batch.
        calibration: input batches (a tensor, an iterable of tensors, or a DataLoader of
            ``(x, y)``): training inputs, never test ones. Needed for ``init="activations"``;
            with any init it gives each layer's ``output_error`` in the report.
        calibration_samples: the first this many calibration samples are used (the report
            notes when more were offered).
        fit_steps: L-BFGS iterations per layer for ``init="activations"``.
        calibration_memory: bytes the recorded activations may take; above it compress refuses
            with an estimate instead of exhausting memory.
        **layer_kwargs: passed to each tensorial layer (``optimize``, ``in_factors``, …).

    Returns:
        :class:`Compressed` ``(model, report)``; the report prints a per-layer table.

    Raises:
        TnvizError: naming the layer, when no rank fits its budget or a decomposition is refused.

    Example:
        >>> from tnviz.compression import LeNet5
        >>> student, report = compress(LeNet5(), format="mtt", rate=0.1)
        >>> round(report.rate, 2) <= 0.1
        True
    """
    from tnviz.nn import tensorial_class

    if not isinstance(model, nn.Module):
        raise TnvizError(f"compress takes an nn.Module, got {type(model).__name__}", token=type(model).__name__)
    if init not in ("decompose", "activations", "random"):
        raise TnvizError(f"init must be 'decompose', 'activations' or 'random', got {init!r}", token=repr(init))
    if not isinstance(fit_steps, int) or isinstance(fit_steps, bool) or fit_steps < 0:
        raise TnvizError(f"fit_steps must be a non-negative integer, got {fit_steps!r}", token=repr(fit_steps))
    if (rate is None) == (rank is None):
        raise TnvizError("give exactly one of rate= and rank=", token="rate" if rate is None else "rank")
    chosen, kept = _select(model, skip, include)
    student = copy.deepcopy(model)
    modules = dict(student.named_modules())
    aliases: dict[int, list[str]] = {}
    for alias, module in student.named_modules(remove_duplicate=False):
        aliases.setdefault(id(module), []).append(alias)
    shapes = _input_shapes(model, chosen, example_input) if example_input is not None else {}
    calib = None
    if init == "activations" or calibration is not None:
        calib = calibration_inputs(calibration, calibration_samples)
        # The teacher layers' inputs and outputs: the fit's targets and the output error's data.
        _, teacher_out, run_order = record_layers(model, chosen, calib.inputs, outputs=True, memory=calibration_memory)
    decompose = "random" if init == "random" else "decompose"
    layers, built = [], {}
    for name in chosen:
        dense = modules[name]
        try:
            new = tensorial_class(dense).from_dense(
                dense, format, rate, rank, init=decompose, order=order, **layer_kwargs
            )
            error = new.reconstruction_error if init != "random" else None
        except TnvizError as err:  # the layer's name, so a user knows which one
            raise TnvizError(f"layer {name!r} ({_kind(dense)}): {err.message}", token=name) from None
        new.train(dense.training)
        for alias in aliases[id(dense)]:  # a module registered under several names is one layer
            _replace(student, alias, new)
        built[name] = new
        dense_flops = flops = price = None
        if name in shapes:
            in_shape = shapes[name][0]
            price = price_layer(new, input_shape=in_shape)
            dense_flops, flops = price.dense_flops // in_shape[0], price.flops // in_shape[0]
        layers.append(
            LayerReport(
                name,
                _kind(dense),
                format,
                new.ranks,
                dense.weight.numel(),
                new.built.param_count,
                dense_flops,
                flops,
                error,
                price,
            )
        )
    notes: list[str] = []
    if calib is not None:
        layers, note = _calibrate(
            model, student, layers, calib, init == "activations", fit_steps, calibration_memory,
            calibration_samples, (teacher_out, run_order),
        )  # fmt: skip
        notes.append(note)
    count = lambda m: sum(p.numel() for p in m.parameters())
    report = CompressionReport(
        format, rate, tuple(layers), tuple(kept), count(student), count(model), init, tuple(notes)
    )
    return Compressed(student, report)


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
    layers, note = _calibrate(
        teacher, student, report.layers, calib, True, fit_steps, calibration_memory, calibration_samples, None
    )
    return Compressed(student, replace(report, layers=tuple(layers), init="activations", notes=(note,)))


def _calibrate(
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
    names = [r.name for r in layers]
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
        for r in layers
    ]
    note = (
        f"output errors on {len(calib.inputs)} calibration samples"
        + (f" (capped at calibration_samples={samples}; more were given)" if calib.capped else "")
        + (f"; each layer fitted by at most {fit_steps} L-BFGS steps" if fit else "")
    )
    return out, note


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}→{module.out_features}"
    k = "×".join(map(str, module.kernel_size))
    return f"{type(module).__name__} {module.in_channels}→{module.out_channels} {k}"
