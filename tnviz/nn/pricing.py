"""``price_layer``: one layer's parameters and FLOPs, priced the way the layer runs.

The one pricing function behind :func:`~tnviz.nn.cost_table`, the compression reports
(:func:`tnviz.compress`) and the widgets (RankExplorer, TradeoffExplorer): they all show the
figures of the same plan, so one layer has one price wherever it is shown.

The FLOPs are those of the plan the layer executes: tensorial layers (every
:class:`~tnviz.TensorNetwork`) plan with ``optimize="auto"`` under the ``"time"`` objective
(:meth:`Diagram.plan`'s default), so that is :data:`EXECUTION_OBJECTIVE`, the default here.
``objective="flops"`` prices the FLOP-minimal plan instead (what no layer runs unless asked).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tnviz.core.formats import LayerConfig, get_format
from tnviz.core.optimize import LayerOptimize
from tnviz.core.plan import OBJECTIVES
from tnviz.errors import TnvizError
from tnviz.nn.layers import TensorialLayer
from tnviz.tables import html_table, text_table

__all__ = ["price_layer", "LayerPrice", "EXECUTION_OBJECTIVE", "max_rank_within"]

# What the layers plan with at execution: TensorNetwork.forward -> plan_for -> Diagram.plan,
# whose objective defaults to "time" (estimated run time: FLOPs over efficiency plus memory).
EXECUTION_OBJECTIVE = "time"


@dataclass(frozen=True)
class LayerPrice:
    """The price of one layer for one input shape: parameters and FLOPs, beside the dense
    layer's, with the plan's approach and the objective it was planned for.

    Prints itself as a small table (text, or HTML in a notebook).

    Attributes:
        format: the format's name.
        config: the layer's :class:`~tnviz.core.formats.LayerConfig`.
        ranks: ``{rank name: value}``.
        input_shape: the shape of the input ``X`` the FLOPs are counted for (batch first).
        params, dense_params: parameters of this layer and of the dense layer.
        flops, dense_flops: FLOPs of one forward pass over ``input_shape`` (2 per multiply-add).
        approach: the plan's approach (``"reconstruct"``, ``"factor by factor"``, ``"mixed"``, …).
        objective: what the plan minimised (``"time"``: what the layers run).
        optimize: the planner setting.
        plan: the :class:`~tnviz.core.plan.Plan` (its ``diagram`` is bound to ``input_shape``).
    """

    format: str
    config: LayerConfig
    ranks: dict
    input_shape: tuple[int, ...]
    params: int
    dense_params: int
    flops: int
    dense_flops: int
    approach: str
    objective: str
    optimize: LayerOptimize = "auto"
    plan: Any = field(default=None, repr=False, compare=False)

    @property
    def rate(self) -> float:
        """Parameters over the dense layer's."""
        return self.params / self.dense_params

    @property
    def flop_ratio(self) -> float:
        """FLOPs over the dense layer's."""
        return self.flops / self.dense_flops if self.dense_flops else float("nan")

    @property
    def batch(self) -> int:
        """The input's batch size (its first dimension)."""
        return self.input_shape[0]

    @property
    def diagram(self) -> Any:
        """The layer's diagram with every size bound, the input's included (for drawings
        whose every leg carries its size)."""
        return self.plan.diagram if self.plan is not None else None

    def rows(self) -> list[tuple[str, str]]:
        """(quantity, value) rows, as the widgets and ``str()`` show them."""
        ranks = ", ".join(f"{k}={v}" for k, v in self.ranks.items()) or "—"
        return [
            ("format", self.format),
            ("ranks", ranks),
            ("parameters", f"{self.params:,} of {self.dense_params:,}"),
            ("compression rate", f"{self.rate:.4f}"),
            ("FLOPs", f"{self.flops / 1e6:,.1f} M of {self.dense_flops / 1e6:,.1f} M ({self.flop_ratio:.3f})"),
            ("plan", self.approach),
            ("planned for", f"objective {self.objective!r}, input {self.input_shape}"),
        ]

    def __str__(self) -> str:
        return text_table(("", "value"), self.rows())

    def _repr_html_(self) -> str:
        return html_table(("", "value"), self.rows())


def price_layer(
    format: Any,
    config: LayerConfig | None = None,
    rank: int | dict | None = None,
    *,
    rate: float | None = None,
    order: int | None = None,
    input_shape: Sequence[int] | None = None,
    input_size: int | Sequence[int] = 32,
    batch: int = 1,
    conv_options: Mapping[str, Any] | None = None,
    optimize: LayerOptimize = "auto",
    objective: str = EXECUTION_OBJECTIVE,
) -> LayerPrice:
    """Parameters, FLOPs, approach of one layer, and the dense layer's, for one input.

    Args:
        format: a format name (``"mtt"``, …) with ``config`` and ``rank`` or ``rate``; or a
            built tensorial layer (``TensorialConv2d``, …), whose configuration, ranks,
            convolution options and planner setting are used.
        config: the layer's :class:`~tnviz.core.formats.LayerConfig` .
        rank: one rank for all, or ``{rank name: value}``; or
        rate: the fraction of the dense parameters (ranks by ``ranks_for_rate``).
        order: overrides ``config.order`` (m of the reshaped formats).
        input_shape: the input ``X``'s full shape, batch first (a Linear's leading
            dimensions are flattened into one, as its forward does); default
            ``(batch, in_channels, input_size…)``.
        input_size, batch: the default input: ``input_size`` per kernel axis (an int for all).
        conv_options: ``stride``, ``padding``, ``dilation``, ``padding_mode`` of a
            convolution; default ``{"padding": "same"}``.
        optimize: the planner setting (``"auto"``, as the layers).
        objective: ``"time"`` (default, :data:`EXECUTION_OBJECTIVE`: the plan the layers
            run) or ``"flops"``.

    Returns:
        A :class:`LayerPrice` (prints as a table).

    Raises:
        TnvizError: naming the bad token and what was expected: an unknown format or
            objective; no ``config`` for a format name; ``rank`` and ``rate`` both or neither
            (a format with ranks); a rank or rate out of range; an ``input_shape`` that is
            not positive integers, of the wrong length or channels, or disagrees with
            ``batch``/``input_size``; a ``batch`` or ``input_size`` that is not positive
            integers; ``conv_options`` that are not a mapping of convolution options (or
            given for a Linear); for a built layer, any of ``config``, ``rank``, ``rate``,
            ``order``, ``conv_options`` or another ``optimize`` (the layer's own are used).

    Example:
        >>> from tnviz.core.formats import LayerConfig
        >>> price = price_layer("cp", LayerConfig(64, 64, (3, 3)), rank=8, batch=32)
        >>> price.params, price.objective
        (1072, 'time')
    """
    if objective not in OBJECTIVES:
        raise TnvizError(
            f"unknown objective={objective!r}; expected one of {', '.join(OBJECTIVES)}", token=repr(objective)
        )
    if not isinstance(format, str):
        given = {"config": config, "rank": rank, "rate": rate, "order": order, "conv_options": conv_options}
        return _price_module(format, input_shape, input_size, batch, objective, given, optimize)
    return _price_format(
        format, config, rank, rate, order, input_shape, input_size, batch, conv_options, optimize, objective
    )


def _price_format(format, config, rank, rate, order, input_shape, input_size, batch, conv_options, optimize, objective):
    """:func:`price_layer` of a format by name (its arguments checked there but these)."""
    if not isinstance(config, LayerConfig):
        raise TnvizError(
            f"price_layer needs config= (a LayerConfig), got {type(config).__name__}", token=type(config).__name__
        )
    fmt = get_format(format)
    if order is not None:
        config = replace(config, order=order)
    if rank is not None and rate is not None:
        raise TnvizError("give rank= or rate=, not both", token="rate")
    if rate is not None:
        rank = fmt.ranks_for_rate(config, rate)
    built = fmt.build(config, rank)
    x_shape = _input_shape(config, input_shape, input_size, batch)
    options = _conv_options(config, conv_options)
    plan = built.diagram(**options).plan({"X": x_shape}, optimize=optimize, objective=objective)
    dense_flops = _dense_flops(config, x_shape, options, objective)
    return LayerPrice(
        format,
        config,
        dict(built.ranks),
        x_shape,
        built.param_count,
        config.dense_params,
        plan.flops,
        dense_flops,
        plan.approach,
        objective,
        optimize,
        plan,
    )


def _positive_int(value: Any) -> bool:
    """An int (a numpy or torch integer too, not a bool) of at least 1."""
    if isinstance(value, bool):
        return False
    try:
        return operator.index(value) >= 1
    except TypeError:
        return False


def _input_sizes(input_size: Any, n: int) -> tuple[int, ...]:
    """``input_size`` checked: one positive int for every kernel axis, or one per axis."""
    if not isinstance(input_size, (tuple, list)):
        if not _positive_int(input_size):
            raise TnvizError(
                f"input_size must be a positive integer or one per kernel axis, got {input_size!r}",
                token=repr(input_size),
            )
        return (operator.index(input_size),) * n
    sizes = tuple(input_size)
    for v in sizes:
        if not _positive_int(v):
            raise TnvizError(f"input_size {sizes}: {v!r} is not a positive integer", token=repr(v))
    if len(sizes) < n:
        raise TnvizError(f"input_size {sizes} has fewer lengths than the kernel's {n} axes", token=str(sizes))
    return tuple(operator.index(v) for v in sizes[:n])


def _input_shape(config: LayerConfig, input_shape: Any, input_size: int | Sequence[int], batch: int) -> tuple[int, ...]:
    n = len(config.kernel_size)
    if not _positive_int(batch):
        raise TnvizError(f"batch must be a positive integer, got {batch!r}", token=repr(batch))
    sizes = _input_sizes(input_size, n)
    if input_shape is None:
        return (operator.index(batch), config.in_channels, *sizes)
    if getattr(input_shape, "ndim", 1) != 1:  # a tensor or an array, not its shape
        raise TnvizError(
            f"input_shape must be a shape, got a {type(input_shape).__name__} of shape "
            f"{tuple(getattr(input_shape, 'shape', ()))}; pass its .shape",
            token=type(input_shape).__name__,
        )
    if isinstance(input_shape, (str, bytes, Mapping)) or not isinstance(input_shape, Iterable):
        raise TnvizError(
            "input_shape must be a sequence of positive integers (batch, channels"
            + (", one length per kernel axis)" if n else ")")
            + f", got {input_shape!r}",
            token=repr(input_shape),
        )
    shape = tuple(input_shape)
    for v in shape:
        if not _positive_int(v):
            raise TnvizError(f"input_shape {shape}: {v!r} is not a positive integer", token=repr(v))
    shape = tuple(operator.index(v) for v in shape)
    given_batch = shape[0] if shape else None
    if n == 0 and len(shape) > 2:  # a Linear flattens its leading dimensions
        shape = (math.prod(shape[:-1]), shape[-1])
    if len(shape) != n + 2:
        raise TnvizError(
            f"input_shape {shape} has {len(shape)} dimensions; expected {n + 2} (batch, channels"
            + (", one length per kernel axis)" if n else ")"),
            token=str(shape),
        )
    if shape[1] != config.in_channels:
        raise TnvizError(
            f"input_shape {shape} has {shape[1]} channels; expected the layer's in_channels {config.in_channels}",
            token=str(shape),
        )
    if batch != 1 and batch != given_batch:
        raise TnvizError(
            f"batch={batch!r} disagrees with input_shape {tuple(input_shape)} (batch {given_batch}); give one of them",
            token="batch",
        )
    if n and input_size != 32 and sizes != shape[2:]:
        raise TnvizError(
            f"input_size={input_size!r} disagrees with input_shape {shape} (lengths {shape[2:]}); give one of them",
            token="input_size",
        )
    return shape


def _conv_options(config: LayerConfig, conv_options: Any) -> dict:
    """The convolution options: ``{"padding": "same"}`` by default; none for a Linear."""
    if conv_options is None:
        return {"padding": "same"} if config.kernel_size else {}
    if not isinstance(conv_options, Mapping):
        raise TnvizError(
            f"conv_options must be a dict of stride, padding, dilation, padding_mode; got {conv_options!r}",
            token=repr(conv_options),
        )
    if not config.kernel_size and conv_options:
        key = next(iter(conv_options))
        raise TnvizError(
            f"conv_options {key!r} applies to a convolution; this layer is a Linear (no kernel_size)", token=str(key)
        )
    return dict(conv_options)


def _dense_flops(config: LayerConfig, x_shape: tuple[int, ...], options: dict, objective: str) -> int:
    built = get_format("dense").build(config)
    return built.diagram(**options).plan({"X": x_shape}, objective=objective).flops


def _price_module(
    layer: Any,
    input_shape: Any,
    input_size: Any,
    batch: int,
    objective: str,
    given: Mapping[str, Any],
    optimize: LayerOptimize,
) -> LayerPrice:
    """The price of a built tensorial layer: its own diagram and planner setting."""
    if not isinstance(layer, TensorialLayer):
        raise TnvizError(
            f"price_layer takes a format name or a tensorial layer, got {type(layer).__name__}",
            token=type(layer).__name__,
        )
    kind = type(layer).__name__
    for name, value in given.items():
        if value is not None:
            raise TnvizError(
                f"price_layer of a built {kind} takes its {name} from the layer; got {name}={value!r}, expected none",
                token=name,
            )
    if optimize != "auto" and optimize != layer.optimize:
        raise TnvizError(
            f"price_layer of a built {kind} plans with the layer's optimize={layer.optimize!r}; got "
            f"optimize={optimize!r}",
            token="optimize",
        )
    config = layer.config
    x_shape = _input_shape(config, input_shape, input_size, batch)
    options = {}
    if config.kernel_size:
        options = {
            "stride": layer.stride,
            "dilation": layer.dilation,
            "padding_mode": layer.padding_mode,
            "padding": layer.padding,
        }
    if objective == EXECUTION_OBJECTIVE:
        plan = layer.plan(x_shape)  # the plan forward runs (in training: gradients recorded)
    else:
        plan = layer.diagram.plan({"X": x_shape}, objective=objective)
    return LayerPrice(
        layer.format,
        config,
        dict(layer.built.ranks),
        x_shape,
        layer.built.param_count,
        config.dense_params,
        plan.flops,
        _dense_flops(config, x_shape, options, objective),
        plan.approach,
        objective,
        layer.optimize,
        plan,
    )


def max_rank_within(format: str, config: LayerConfig, budget: int | None = None, limit: int = 1 << 16) -> int | None:
    """The largest single rank (one value for every rank of the format) whose parameter count
    stays within ``budget`` (default: the dense layer's, i.e. rate ≤ 1).

    Args:
        format: a format name.
        config: the layer's configuration (``order`` included).
        budget: the most parameters allowed.
        limit: the largest rank tried.

    Returns:
        The rank, or None where even rank 1 exceeds the budget, or the format has no ranks.

    Example:
        >>> from tnviz.core.formats import LayerConfig
        >>> max_rank_within("cp", LayerConfig(64, 64, (3, 3)))  # 134·r ≤ 36,864
        275
    """
    fmt = get_format(format)
    budget = config.dense_params if budget is None else budget
    if not fmt.rank_names(config, len(fmt.factors(config)[0])):
        return None

    def fits(r: int) -> bool:
        return fmt.param_count(config, r) <= budget

    if not fits(1):
        return None
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:  # fits(lo), not fits(hi) (or past the limit)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
