"""Model surgery: replace a network's Linear and Conv layers by tensorial ones."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tnviz.compression.budget import BUDGETS, GRID, allocate, error_curve
from tnviz.compression.calibrate import (
    DEFAULT_MEMORY,
    DEFAULT_SAMPLES,
    DEFAULT_STEPS,
    calibrate_layers,
    calibration_inputs,
    record_layers,
)
from tnviz.compression.inventory import Candidate, KeptModule, in_model_order, inventory, select
from tnviz.compression.latency import fastest, model_flops, relative_latency, seconds
from tnviz.compression.report import Compressed, CompressionReport, LayerReport
from tnviz.compression.training_state import preserved_state
from tnviz.core.formats import DEFAULT_FORMAT, FORMATS
from tnviz.errors import TnvizError
from tnviz.nn.attention import TensorialMultiheadAttention, as_linear
from tnviz.nn.decompose import decompose_into, decomposition_bytes, decomposition_limit, decomposition_seconds
from tnviz.nn.layers import tensorial_class
from tnviz.nn.pricing import LayerPrice, price_layer

AUTO_FORMAT = "auto"  # format="auto": per layer, the fastest format at the rate, timed on the example input

__all__ = [
    "AUTO_FORMAT",
    "compress",
    "KeptModule",
    "compressible_layers",
    "modules_and_aliases",
    "install_layer",
    "dense_of",
]


def compressible_layers(model: nn.Module) -> list[str]:
    """Names of what :func:`compress` can replace, in registration order: the Linear and
    Conv1d/2d/3d modules (subclasses that keep torch.nn's forward included; depthwise convolutions
    not) and each ``nn.MultiheadAttention``'s packed ``<name>.in_proj_weight``."""
    return [c.name for c in inventory(model)[0]]


def _input_shapes(model: nn.Module, names: Sequence[str], example: torch.Tensor) -> dict[str, tuple]:
    """The input and output shapes of the modules ``names`` on ``example`` (an attention's: its
    query's, given by position or keyword)."""
    shapes: dict[str, tuple] = {}
    modules = dict(model.named_modules())

    def record(name: str):
        def hook(module, args, kwargs, out) -> None:  # returns None: the output is left alone
            first = args[0] if args else kwargs.get("query", kwargs.get("input"))
            result = out[0] if isinstance(out, tuple) else out
            shapes.setdefault(name, (tuple(first.shape), tuple(result.shape)))

        return hook

    hooks = [modules[n].register_forward_hook(record(n), with_kwargs=True) for n in dict.fromkeys(names)]
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
    progress: bool = False,
    budget: str = "layer",
    **layer_kwargs: Any,
) -> Compressed:
    """A compressed copy of ``model``: its Linear and Conv layers in a tensorial format.

    Args:
        model: any ``nn.Module``; it is not changed.
        format: one of ``tnviz.core.formats.FORMATS`` (``cp tk tt tr`` and the reshaped
            ``mcp mtk mtt mtr``; also ``svd``, ``btd``); default ``DEFAULT_FORMAT`` (``"mtt"``); or
            ``"auto"``: per layer, the format that runs fastest at ``rate`` on that layer's input in
            ``example_input`` (every format timed; :mod:`tnviz.compression.latency`), or with a
            whole-model budget the format and ranks the allocation chooses (see ``budget``).
        rate: the fraction of parameters to keep — of each replaced layer's (``budget="layer"``:
            ranks chosen per layer by the exact formulas) or of the whole model's
            (``budget="model"``) — or ``rank`` for fixed ranks.
        order: m, the channel factors of a reshaped format.
        init: ``"decompose"`` (tensorly decomposition of the trained weights, the paper's
            initialisation), ``"activations"`` (the decomposition, then each layer fitted to
            reproduce the teacher layer's outputs on ``calibration`` activations; see
            :mod:`tnviz.compression.calibrate`) or ``"random"`` (``reset_parameters``, as if
            trained from scratch).
        skip, include: module names or glob patterns (``"stage*.conv1"``). By default every
            Linear/Conv layer but the first convolution and the last Linear is replaced.
        example_input: one input batch; with it the report gives FLOPs per sample, priced by
            :func:`~tnviz.nn.pricing.price_layer` for the layer's input in that batch, and each
            layer's and the whole model's inference time over the original's, measured on it.
        calibration: input batches (a tensor, an iterable of tensors, or a DataLoader of
            ``(x, y)``): training inputs, never test ones. Needed for ``init="activations"``;
            with any init it gives each layer's ``output_error`` in the report.
        calibration_samples: the first this many calibration samples are used (the report
            notes when more were offered).
        fit_steps: L-BFGS iterations per layer for ``init="activations"``.
        calibration_memory: bytes the recorded activations may take; above it compress refuses
            with an estimate instead of exhausting memory.
        progress: a tqdm bar over the layers, naming the one being decomposed.
        budget: ``"layer"`` (every compressed layer keeps ``rate`` of its parameters),
            ``"model"`` (the whole model keeps ``rate`` of its parameters, spent across the
            layers where each buys the largest drop in weight error: :mod:`tnviz.compression.budget`;
            each layer is decomposed at ``budget.GRID``'s rates to find its error curve) or
            ``"flops"`` (the same, for the whole model's FLOPs on ``example_input``, which it needs)
            or ``"latency"`` (for its inference time on ``example_input``: every layer and each of
            its options timed there, so it takes longer; the report's ``latency`` is the result).
            With a whole-model budget, ``format="auto"`` puts every format's error curve together,
            so that the allocation chooses each layer's format with its ranks.
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
    _check_arguments(model, init, fit_steps, rate, rank, budget, example_input, format)
    started = time.perf_counter()
    chosen, kept = select(model, skip, include)
    student = copy.deepcopy(model)
    modules, aliases = modules_and_aliases(student)
    hooked = [_hooked(c) for c in chosen]
    shapes = _input_shapes(model, hooked, example_input) if example_input is not None else {}
    # Every layer's shape and ranks first, nothing decomposed yet: a layer no rank fits stays
    # dense with the reason, and a decomposition that cannot fit in memory is refused now,
    # naming the largest, rather than after the layers before it have run.
    planned, refused = _plan_layers(chosen, modules, shapes, format, budget, rate, rank, order, layer_kwargs)
    if not planned:
        raise TnvizError(
            "no layer can be compressed at this setting: "
            + "; ".join(f"layer {c.name!r} ({c.kind}): {why}" for c, why in refused),
            token=refused[0][0].name,
        )
    kept = list(kept) + [KeptModule(c.name, c.kind, c.params, f"no rank fits: {why}") for c, why in refused]
    estimated = None
    if init != "random" and budget == "layer":  # a whole-model budget leaves out the settings too large
        _check_decomposition_memory(planned)
        estimated = sum(decomposition_seconds(layer) for _, _, layer in planned)
    decomposed = False
    original_flops = model_flops(model, example_input) if example_input is not None else None
    if budget != "layer":
        planned, estimated = _spend_whole_model_budget(
            model, example_input, original_flops, budget, rate, shapes, planned, format, order, layer_kwargs, progress
        )
        decomposed = True
    calib = None
    hookable = [c.name for c, _, _ in planned if c.attention is None]
    if init == "activations" or calibration is not None:
        calib = calibration_inputs(calibration, calibration_samples)
        # The teacher layers' inputs and outputs: the fit's targets and the output error's data.
        _, teacher_out, run_order = record_layers(
            model, hookable, calib.inputs, outputs=True, memory=calibration_memory
        )
    bar = _progress_bar(len(planned), None if decomposed else estimated) if progress else None
    decompose = init != "random" and not decomposed
    layers = _install_planned(student, planned, modules, aliases, shapes, decompose, init != "random", bar)
    notes: list[str] = []
    if calib is not None:
        layers, note = calibrate_layers(
            model, student, layers, calib, init == "activations", fit_steps, calibration_memory,
            calibration_samples, (teacher_out, run_order),
        )  # fmt: skip
        notes.append(note)
    count = lambda m: sum(p.numel() for p in m.parameters())
    kept = in_model_order(model, kept)
    if rate is not None and budget == "layer":
        notes += _kept_note(count(student) / max(1, count(model)), rate, kept)
    latency = relative_latency(student, model, example_input) if example_input is not None else None
    flops_rate = model_flops(student, example_input) / max(1, original_flops) if original_flops is not None else None
    report = CompressionReport(
        format, rate, tuple(layers), tuple(kept), count(student), count(model), init, tuple(notes), budget, latency,
        flops_rate, estimated, time.perf_counter() - started if estimated is not None else None,
    )  # fmt: skip
    return Compressed(student, report)


def _install_planned(student, planned, modules, aliases, shapes, decompose, measured, bar) -> list[LayerReport]:
    """Each planned layer decomposed from its dense one (``decompose``), put in the student in
    its place (every alias of it), and reported (its reconstruction error where ``measured``)."""
    layers = []
    for c, dense, new in planned:
        if bar is not None:
            bar.set_description(c.name)
            bar.update()
        if decompose:
            try:
                decompose_into(new, dense)
            except TnvizError as err:  # the layer's name, so a user knows which one
                raise TnvizError(f"layer {c.name!r} ({c.kind}): {err.message}", token=c.name) from None
        new.train(dense.training)
        install_layer(student, modules, aliases, c, new)
        layers.append(_layer_report(c, new, dense, modules, shapes, new.reconstruction_error if measured else None))
    if bar is not None:
        bar.close()
    return layers


def _kept_note(model_rate: float, rate: float, kept: Sequence[KeptModule]) -> list[str]:
    """Why the whole model keeps much more than ``rate`` asked of each layer: what stayed dense."""
    if model_rate <= 1.5 * rate or not kept:
        return []
    largest = max(kept, key=lambda k: k.params)
    return [
        f"the whole model keeps {model_rate:.3f} of its parameters against the {rate:g} asked of each compressed "
        f"layer: the modules kept as they were hold {sum(k.params for k in kept):,} (the largest, "
        f"{largest.name or 'the model'}: {largest.params:,}, {largest.reason})"
    ]


def _check_arguments(model, init, fit_steps, rate, rank, budget, example_input, format) -> None:
    """compress's arguments, refused before anything runs."""
    if not isinstance(model, nn.Module):
        raise TnvizError(f"compress takes an nn.Module, got {type(model).__name__}", token=type(model).__name__)
    if init not in ("decompose", "activations", "random"):
        raise TnvizError(f"init must be 'decompose', 'activations' or 'random', got {init!r}", token=repr(init))
    if not isinstance(fit_steps, int) or isinstance(fit_steps, bool) or fit_steps < 0:
        raise TnvizError(f"fit_steps must be a non-negative integer, got {fit_steps!r}", token=repr(fit_steps))
    if (rate is None) == (rank is None):
        raise TnvizError("give exactly one of rate= and rank=", token="rate" if rate is None else "rank")
    if budget not in BUDGETS:
        raise TnvizError(f"budget must be one of {', '.join(map(repr, BUDGETS))}, got {budget!r}", token=repr(budget))
    if budget != "layer" and (rate is None or init == "random"):
        raise TnvizError(
            f"budget={budget!r} spends a rate= over the layers by their decomposition errors: it needs rate= and a "
            "decomposing init",
            token="budget",
        )
    if budget in ("flops", "latency") and example_input is None:
        raise TnvizError(
            f"budget={budget!r} measures the model on an input: it needs example_input=", token="example_input"
        )
    if format == AUTO_FORMAT and budget == "layer" and (example_input is None or rate is None):
        raise TnvizError(
            "format='auto' times every format on each layer's input: it needs example_input= and rate= "
            "(or a whole-model budget, which chooses formats by their error curves)",
            token="auto",
        )


def _plan_layers(
    chosen: list, modules: dict, shapes: dict, format: str, budget: str, rate, rank, order: int, layer_kwargs: dict
) -> tuple[list[tuple[Candidate, nn.Module, Any]], list[tuple[Candidate, str]]]:
    """Every chosen layer's tensorial layer, undecomposed (a whole-model budget's at its largest
    setting: what the memory check weighs), and the layers no rank fits, with the reason."""
    planned: list[tuple[Candidate, nn.Module, Any]] = []
    refused: list[tuple[Candidate, str]] = []
    for c in chosen:
        dense = dense_of(modules[c.module_name], c)
        try:
            # the budget's largest setting for a whole-model budget: what the memory check weighs
            layer_rate = max(GRID) if budget != "layer" else rate
            if format == AUTO_FORMAT and budget == "layer":
                layer = _fastest_format(c, dense, shapes, rate, order, layer_kwargs)
            else:  # a whole-model budget's auto weighs every format later; the default one stands in here
                planned_format = DEFAULT_FORMAT if format == AUTO_FORMAT else format
                layer = tensorial_class(dense)._like(
                    dense, planned_format, layer_rate, rank, order=order, **layer_kwargs
                )
        except TnvizError as err:
            refused.append((c, err.message))
            continue
        planned.append((c, dense, layer))
    return planned, refused


def _layer_report(c: Candidate, new: nn.Module, dense: nn.Module, modules: dict, shapes: dict, error) -> LayerReport:
    """The report's row of one compressed layer: its FLOPs and latency on its input in the
    example, where there is one."""
    dense_flops = flops = price = latency = None
    where = _hooked(c)
    if where in shapes:
        in_shape = shapes[where][0]
        batch = _batch_size(modules[where], in_shape)
        price = price_layer(new, input_shape=in_shape)
        dense_flops, flops = price.dense_flops // batch, _runs_flops(new, c, in_shape, price) // batch
        if c.attention is None:  # an attention's projections run inside torch's attention
            latency = relative_latency(new, dense, _example_for(dense, in_shape))
    return LayerReport(
        c.name,
        c.kind,
        new.format,
        new.ranks,
        c.params,
        new.built.param_count,
        dense_flops,
        flops,
        error,
        price,
        attention=c.attention,
        latency=latency,
    )


def _spend_whole_model_budget(
    model: nn.Module,
    example_input: Any,
    original_flops: int | None,
    budget: str,
    rate: float,
    shapes: dict,
    planned: list,
    format: str,
    order: int,
    layer_kwargs: dict,
    progress: bool,
) -> tuple[list, float]:
    """:func:`_spend` with what the whole model may keep (``rate`` of its parameters, FLOPs or
    seconds) less what compression leaves alone."""
    cost, dense_cost = _budget_costs(budget, shapes, planned)
    if budget == "latency":
        total = seconds(model, example_input)
    else:
        total = original_flops if budget == "flops" else sum(p.numel() for p in model.parameters())
    if budget == "flops":
        fixed = _flops_left_alone(model, example_input, planned, cost)
    else:
        fixed = total - sum(dense_cost(layer, c) for c, _, layer in planned)
    return _spend(planned, rate * total - fixed, cost, budget, format, order, layer_kwargs, progress)


def _spend(
    planned: list, available: float, cost, budget: str, format: str, order: int, layer_kwargs: dict, progress: bool
) -> tuple[list, float]:
    """The layers at the ranks a whole-model budget buys (decomposed), and the seconds their error
    curves' decompositions were estimated to take before the first began: ``available``
    parameters or FLOPs for the compressed layers together, ``cost(layer, candidate)`` one setting's."""
    curves = []
    formats = [f for f in FORMATS if f != "dense"] if format == AUTO_FORMAT else [format]
    estimated = sum(_curve_seconds(dense, formats, order, layer_kwargs) for _, dense, _ in planned)
    bar = _progress_bar(len(planned), estimated) if progress else None
    for c, dense, _ in planned:
        if bar is not None:
            bar.set_description(f"{c.name} (error curve)")
            bar.update()

        def build(rate: float, fmt: str, dense=dense):
            layer = tensorial_class(dense)._like(dense, fmt, rate, None, order=order, **layer_kwargs)
            if decomposition_bytes(layer) > decomposition_limit():  # this setting is not an option
                raise TnvizError(f"rate {rate:g} needs more memory to decompose than allowed", token=str(rate))
            return layer

        def fit(layer, c=c, dense=dense) -> float:
            try:
                decompose_into(layer, dense)
            except TnvizError as err:
                raise TnvizError(f"layer {c.name!r} ({c.kind}): {err.message}", token=c.name) from None
            return layer.reconstruction_error

        # format="auto": every format's options together, the allocation choosing among them too
        curve = []
        for fmt in formats:
            try:
                curve += error_curve(lambda rate, fmt=fmt: build(rate, fmt), fit, lambda layer, c=c: cost(layer, c))
            except TnvizError:
                if len(formats) == 1:
                    raise
                # auto: a format whose decomposition fails on this layer is no option
        if not curve:
            raise TnvizError(
                f"layer {c.name!r} ({c.kind}): no rate of budget.GRID fits it, within the memory a decomposition "
                "may take (tnviz.nn.decompose.MEMORY_LIMIT_BYTES); leave it out with skip=",
                token=c.name,
            )
        curves.append(curve)
    if bar is not None:
        bar.close()
    try:
        choice = allocate(curves, available, {"flops": "FLOPs", "latency": "seconds"}.get(budget, "parameters"))
    except TnvizError as err:
        rest = "the biases and the modules kept as they are" if budget == "model" else "the modules kept as they are"
        raise TnvizError(
            f"budget={budget!r}: {err.message} — {rest} already take the rest; raise rate= or compress more "
            "layers (include=)",
            token="rate",
        ) from None
    return [(c, dense, curve[k].layer) for (c, dense, _), curve, k in zip(planned, curves, choice)], estimated


def _curve_seconds(dense: nn.Module, formats: list[str], order: int, layer_kwargs: dict) -> float:
    """The estimated seconds of a layer's error curves: every format's options over ``GRID``
    (built on the meta device: no memory, nothing decomposed), distinct ranks once, as
    :func:`error_curve` decomposes them."""
    meta = copy.deepcopy(dense).to("meta")
    total, seen = 0.0, set()
    for fmt in formats:
        for rate in GRID:
            try:
                layer = tensorial_class(meta)._like(meta, fmt, rate, None, order=order, **layer_kwargs)
            except TnvizError:
                continue
            key = (fmt, tuple(sorted(layer.ranks.items())))
            if key not in seen and decomposition_bytes(layer) <= decomposition_limit():
                seen.add(key)
                total += decomposition_seconds(layer)
    return total


def _example_for(dense: nn.Module, in_shape: tuple) -> torch.Tensor:
    """A random input of the layer's recorded shape (seeded: the timing needs values, not these)."""
    weight = dense.weight
    return torch.randn(in_shape, generator=torch.Generator().manual_seed(0), dtype=weight.dtype).to(weight.device)


def _fastest_format(c: Candidate, dense: nn.Module, shapes: dict, rate: float, order: int, layer_kwargs: dict):
    """The layer (undecomposed) in the format that runs fastest on this layer's input at ``rate``:
    every format that fits the rate, timed round-robin (``format="auto"``)."""
    layers = {}
    why = []
    for name in FORMATS:
        try:
            layers[name] = tensorial_class(dense)._like(dense, name, rate, None, order=order, **layer_kwargs)
        except TnvizError as err:
            why.append(f"{name}: {err.message}")
    if not layers:
        raise TnvizError("no format fits this rate (" + "; ".join(why[:3]) + ")", token=c.name)
    where = c.module_name if c.attention is None else c.attention
    if c.attention is not None or where not in shapes:  # no input of its own to time: the default format
        return layers.get(DEFAULT_FORMAT) or next(iter(layers.values()))
    name, _ = fastest(layers, _example_for(dense, shapes[where][0]))
    return layers[name]


def _progress_bar(total: int, estimated: float | None):
    """A bar over the layers; ``estimated``: the decompositions' seconds, estimated before the first."""
    try:
        from tqdm.auto import tqdm
    except ImportError as err:  # tqdm comes with the compress extra
        raise TnvizError(f"progress=True needs tqdm (pip install 'tnviz[compress]'): {err}", token="progress") from None
    postfix = None if estimated is None else f"decompositions estimated at about {estimated:.3g} s"
    return tqdm(total=total, unit="layer", leave=False, postfix=postfix)


def modules_and_aliases(model: nn.Module) -> tuple[dict[str, nn.Module], dict[int, list[str]]]:
    """The modules by name, and every name each module is registered under."""
    aliases: dict[int, list[str]] = {}
    for alias, module in model.named_modules(remove_duplicate=False):
        aliases.setdefault(id(module), []).append(alias)
    return dict(model.named_modules()), aliases


def install_layer(student: nn.Module, modules: dict, aliases: dict, c: Candidate, layer: nn.Module) -> None:
    """Put the tensorial ``layer`` where ``c`` was, under every name the module has (a module
    registered twice is one layer); an attention's projection goes into a copy of its attention."""
    original = modules[c.module_name]
    replacement = TensorialMultiheadAttention.around(original, layer) if c.is_projection else layer
    for alias in aliases[id(original)]:
        _replace(student, alias, replacement)


def dense_of(module: nn.Module, candidate: Candidate) -> nn.Module:
    """The Linear/Conv whose weight is decomposed: the layer, or a Linear holding an attention's
    packed input projection."""
    return as_linear(module.in_proj_weight.detach()) if candidate.is_projection else module


def _budget_costs(budget: str, shapes: dict, planned: list):
    """(cost, dense_cost) of a whole-model budget, each ``f(layer, candidate)``: a tensorial
    layer's parameters, FLOPs on its input in the example (``budget="flops"``) or seconds there
    (``budget="latency"``: the dense layer timed once, each option's time over it measured), and
    the dense layer's it replaces. An attention's packed projection is timed as a Linear on the
    attention's input."""
    if budget == "latency":
        dense_by_name = {c.name: dense for c, dense, _ in planned}
        example = {c.name: _example_for(dense, shapes[_hooked(c)][0]) for c, dense, _ in planned}
        dense_seconds = {c.name: seconds(dense, example[c.name]) for c, dense, _ in planned}

        def cost(layer, c: Candidate) -> float:
            return relative_latency(layer, dense_by_name[c.name], example[c.name]) * dense_seconds[c.name]

        def dense_cost(layer, c: Candidate) -> float:
            return dense_seconds[c.name]

    elif budget == "flops":

        def cost(layer, c: Candidate) -> float:
            in_shape = shapes[_hooked(c)][0]
            return _runs_flops(layer, c, in_shape, price_layer(layer, input_shape=in_shape))

        def dense_cost(layer, c: Candidate) -> float:
            return price_layer(layer, input_shape=shapes[_hooked(c)][0]).dense_flops

    else:

        def cost(layer, c: Candidate) -> float:
            return layer.built.param_count

        def dense_cost(layer, c: Candidate) -> float:
            return c.params

    return cost, dense_cost


def _flops_left_alone(model: nn.Module, example_input: Any, planned: list, cost) -> int:
    """The FLOPs of ``model`` on ``example_input`` that no compressed layer's option prices:
    counted on the model with the planned layers in place (undecomposed: FLOPs do not depend on
    the values), less what their options cost. Not the original's FLOPs less the dense layers':
    around a compressed projection torch's attention leaves its fused path for one whose
    products the counter sees (an encoder's attention: 1.05 M FLOPs counted as it was, 1.49 M
    compressed)."""
    placeholder = copy.deepcopy(model)
    modules, aliases = modules_and_aliases(placeholder)
    for c, _, layer in planned:
        install_layer(placeholder, modules, aliases, c, copy.deepcopy(layer))
    return model_flops(placeholder, example_input) - sum(cost(layer, c) for c, _, layer in planned)


def _runs_flops(layer: nn.Module, c: Candidate, in_shape: tuple, price: LayerPrice) -> int:
    """The FLOPs the layer runs on an input of ``in_shape``: its plan's (``price``), but for an
    attention's projections, whose weights torch's attention reads as dense ones: each rebuilt from
    the factors, then the dense product (the plan's reconstruct FLOPs; the factor-by-factor plan
    priced an encoder's packed projections at 0.08 of what they run)."""
    return layer.plan(in_shape).reconstruct_flops if c.attention is not None else price.flops


def _hooked(c: Candidate) -> str:
    """The module whose input the candidate's layer sees (an attention's projection: the attention's)."""
    return c.module_name if c.attention is None else c.attention


def _batch_size(module: nn.Module, in_shape: tuple) -> int:
    """Samples in an input of this shape: its first dimension, or for an attention that is not
    batch_first its second (an unbatched (L, E) query is one sample)."""
    if isinstance(module, nn.MultiheadAttention):
        if len(in_shape) == 2:
            return 1
        return in_shape[0] if module.batch_first else in_shape[1]
    return in_shape[0]


def _check_decomposition_memory(planned: Sequence[tuple[Candidate, nn.Module, Any]]) -> None:
    """Refuse before the first decomposition when the largest would not fit in memory."""
    c, _, layer = max(planned, key=lambda item: decomposition_bytes(item[2]))
    need, limit = decomposition_bytes(layer), decomposition_limit()
    if need > limit:
        raise TnvizError(
            f"layer {c.name!r} ({c.kind}): decomposing it at ranks {layer.ranks} needs about {need / 2**30:.1f} GiB, "
            f"more than the {limit / 2**30:.1f} GiB allowed (tnviz.nn.decompose.MEMORY_LIMIT_BYTES, and the memory "
            f"budget); nothing was decomposed. Lower rate= or leave it out with skip={c.name!r}",
            token=c.name,
        )
