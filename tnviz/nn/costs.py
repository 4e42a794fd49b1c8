"""``cost_table``: the paper's complexity table, computed for a layer shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tnviz.core.formats import FORMATS, LayerShape, ranks_for_rate
from tnviz.errors import TnvizError
from tnviz.nn.pricing import EXECUTION_OBJECTIVE, LayerPrice, price_layer
from tnviz.tables import html_table, text_table

__all__ = ["cost_table", "CostTable"]


@dataclass(frozen=True)
class CostRow:
    format: str
    target: float
    ranks: dict
    params: int
    param_ratio: float
    flops: int
    flop_ratio: float
    strategy: str
    price: LayerPrice | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CostTable:
    """Rows of format × rate with ranks, parameters, FLOPs and their ratios to dense.

    Every row is a :func:`~tnviz.nn.pricing.price_layer` price: the FLOPs and the plan are
    those of the plan the layer runs (``objective``, ``"time"`` by default).

    Prints as a text table; shows as HTML in a notebook.
    """

    shape: LayerShape
    input_shape: tuple[int, ...]
    rows: tuple[CostRow, ...]
    dense_flops: int
    objective: str = EXECUTION_OBJECTIVE

    def _lines(self) -> list[tuple[str, ...]]:
        out = []
        for r in self.rows:
            ranks = ", ".join(f"{k}={v}" for k, v in r.ranks.items()) or "—"
            out.append(
                (
                    r.format,
                    f"{r.target:g}" if r.target else "—",
                    ranks,
                    f"{r.params:,}",
                    f"{r.param_ratio:.4f}",
                    f"{r.flops / 1e6:,.1f}M",
                    f"{r.flop_ratio:.3f}",
                    r.strategy,
                )
            )
        return out

    def _title(self) -> str:
        kernel = "×".join(map(str, self.shape.kernel)) or "linear"
        return (
            f"layer {self.shape.in_channels}→{self.shape.out_channels}, kernel {kernel}, "
            f"input {tuple(self.input_shape)}; dense: {self.shape.dense_params:,} params, "
            f"{self.dense_flops / 1e6:,.1f}M FLOPs; plans for objective {self.objective!r} (what the layers run)"
        )

    def __str__(self) -> str:
        return "  " + self._title() + "\n" + text_table(_HEAD, self._lines())

    def _repr_html_(self) -> str:
        return html_table(_HEAD, self._lines(), caption=self._title())


_HEAD = ("format", "rate", "ranks", "params", "params/dense", "FLOPs", "FLOPs/dense", "plan")


def cost_table(
    in_channels: int,
    out_channels: int,
    kernel_size: Sequence[int] | int = (3, 3),
    formats: Sequence[str] = ("cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr"),
    rates: Sequence[float] = (0.02, 0.05, 0.1),
    input_size: Sequence[int] = (32, 32),
    batch: int = 1,
    order: int = 3,
    padding: int | str = "same",
    objective: str = EXECUTION_OBJECTIVE,
) -> CostTable:
    """Ranks, parameters, FLOPs and both ratios to dense for each format and rate.

    Each row is priced by :func:`~tnviz.nn.pricing.price_layer`, as RankExplorer, the
    compression reports and TradeoffExplorer price a layer.

    Args:
        in_channels, out_channels: the layer's channels.
        kernel_size: kernel lengths (``()`` for a Linear layer), or one int for a square kernel.
        formats, rates: the grid to price; a rate too small for rank 1 is left out.
        input_size, batch: the input the FLOPs are counted for (the planner's chosen plan).
        order: m for the reshaped formats.
        padding: the convolution padding.
        objective: the planner's objective; default ``"time"``, the plan the layers run.

    Returns:
        A :class:`CostTable` (prints as a table).

    Example:
        >>> print(cost_table(64, 64, 3, formats=("cp",), rates=(0.1,)))  # doctest: +ELLIPSIS
          layer 64→64, kernel 3×3, ...
    """
    kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    shape = LayerShape(in_channels, out_channels, kernel)
    spatial = tuple(input_size)[: len(kernel)] if kernel else ()
    x_shape = (batch, in_channels, *spatial)
    options = {"padding": padding} if kernel else {}

    def price(format: str, ranks) -> LayerPrice:
        return price_layer(
            format, shape, ranks, order=order, input_shape=x_shape, conv_options=options, objective=objective
        )

    dense = price("dense", None)
    dense_flops = dense.flops
    rows = []
    for name in formats:
        if name not in FORMATS:
            raise TnvizError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}", token=str(name))
        for rate in rates:
            try:
                ranks = ranks_for_rate(name, shape, rate, order)
            except TnvizError:
                continue  # no rank fits this budget
            p = price(name, ranks)
            rows.append(CostRow(name, rate, p.ranks, p.params, p.rate, p.flops, p.flops / dense_flops, p.strategy, p))
    return CostTable(shape, x_shape, tuple(rows), dense_flops, objective)
