"""``cost_table``: the paper's complexity table, computed for a layer shape; and
``formula_table``: the same table in closed form (the paper's formulas, derived from tnviz's
own diagrams in :mod:`tnviz.core.formats.complexity`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tnviz.core.formats import FORMATS, LayerConfig, channel_factors, get_format, ranks_for_rate
from tnviz.core.formats.complexity import ASSUMPTIONS, COMPLEXITY, complexity, factor
from tnviz.errors import TnvizError
from tnviz.nn.pricing import EXECUTION_OBJECTIVE, LayerPrice, price_layer
from tnviz.tables import html_table, text_table

__all__ = ["cost_table", "CostTable", "formula_table", "FormulaTable"]


@dataclass(frozen=True)
class CostRow:
    format: str
    target: float
    ranks: dict
    params: int
    param_ratio: float
    flops: int
    flop_ratio: float
    approach: str
    price: LayerPrice | None = field(default=None, repr=False, compare=False)
    # With formulas=True, where the layer meets the formulas' assumptions (else None): the
    # closed-form parameters and sequential FLOPs, and the planner's FLOPs for that order.
    formula_params: int | None = None
    formula_flops: int | None = None
    sequential_flops: int | None = None


@dataclass(frozen=True)
class CostTable:
    """Rows of format × rate with ranks, parameters, FLOPs and their ratios to dense.

    Every row is a :func:`~tnviz.nn.pricing.price_layer` price: the FLOPs and the plan are
    those of the plan the layer runs (``objective``, ``"time"`` by default).

    Prints as a text table; shows as HTML in a notebook.
    """

    shape: LayerConfig
    input_shape: tuple[int, ...]
    rows: tuple[CostRow, ...]
    dense_flops: int
    objective: str = EXECUTION_OBJECTIVE
    formulas: bool = False

    def _lines(self) -> list[tuple[str, ...]]:
        out = []
        for r in self.rows:
            ranks = ", ".join(f"{k}={v}" for k, v in r.ranks.items()) or "—"
            line = (
                r.format,
                f"{r.target:g}" if r.target else "—",
                ranks,
                f"{r.params:,}",
                f"{r.param_ratio:.4f}",
                f"{r.flops / 1e6:,.1f}M",
                f"{r.flop_ratio:.3f}",
                r.approach,
            )
            if self.formulas:
                line += (
                    "—" if r.formula_params is None else f"{r.formula_params:,}",
                    "—" if r.formula_flops is None else f"{r.formula_flops / 1e6:,.2f}M",
                    "—" if r.sequential_flops is None else f"{r.sequential_flops / 1e6:,.2f}M",
                )
            out.append(line)
        return out

    def _head(self) -> tuple[str, ...]:
        return _HEAD + _FORMULA_HEAD if self.formulas else _HEAD

    def _title(self) -> str:
        kernel = "×".join(map(str, self.shape.kernel_size)) or "linear"
        title = (
            f"layer {self.shape.in_channels}→{self.shape.out_channels}, kernel {kernel}, "
            f"input {tuple(self.input_shape)}; dense: {self.shape.dense_params:,} params, "
            f"{self.dense_flops / 1e6:,.1f}M FLOPs; plans for objective {self.objective!r} (what the layers run)"
        )
        if self.formulas:
            title += (
                "; formula columns: the closed forms of formula_table() (× batch) and the planner's FLOPs for "
                "their sequential order, — where the layer is outside their assumptions (unequal ranks, N ≠ nᵐ, …)"
            )
        return title

    def __str__(self) -> str:
        return "  " + self._title() + "\n" + text_table(self._head(), self._lines())

    def _repr_html_(self) -> str:
        return html_table(self._head(), self._lines(), caption=self._title())


_HEAD = ("format", "rate", "ranks", "params", "params/dense", "FLOPs", "FLOPs/dense", "plan")
_FORMULA_HEAD = ("params (formula)", "seq. FLOPs (formula)", "seq. FLOPs (planner)")


@dataclass(frozen=True)
class FormulaTable:
    """The complexity table in closed form: per format the parameter and FLOP formulas of
    :data:`tnviz.core.formats.complexity.COMPLEXITY`, and their values at one point.

    Prints as a text table; shows as HTML in a notebook.
    """

    N: int
    m: int
    D: int
    k: int
    R: int
    formats: tuple[str, ...]

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(format, params formula, params, FLOPs formula, FLOPs) per format."""
        out = []
        for name in self.formats:
            row = complexity(name)
            params = row.params_fn(N=self.N, m=self.m, k=self.k, R=self.R)
            flops = row.flops_fn(N=self.N, m=self.m, D=self.D, k=self.k, R=self.R)
            paper = get_format(row.format).paper_name if row.format != "dense" else "original"
            out.append((paper, row.params, f"{params:,}", row.flops, f"{flops / 1e6:,.2f}M"))
        return out

    def _title(self) -> str:
        return (
            f"closed forms under {ASSUMPTIONS}; FLOPs 2 per multiply-add, sequential order (the spec's, "
            f"Diagram.plan(optimize='left-to-right')); values at N={self.N}, m={self.m}, D={self.D}, "
            f"k={self.k}, R={self.R}"
        )

    def _head(self) -> tuple[str, ...]:
        return ("format", "params (formula)", "params", "FLOPs (formula, sequential order)", "FLOPs")

    def __str__(self) -> str:
        return "  " + self._title() + "\n" + text_table(self._head(), self.rows())

    def _repr_html_(self) -> str:
        return html_table(self._head(), self.rows(), caption=self._title())


def formula_table(
    N: int = 64,
    m: int = 3,
    D: int = 32,
    k: int = 3,
    R: int = 4,
    formats: Sequence[str] = ("dense", "mcp", "mtk", "mtt", "mtr"),
) -> FormulaTable:
    """The paper's complexity table in closed form, evaluated at one point.

    Args:
        N: channels in and out (an m-th power: N = nᵐ).
        m: the number of channel factors of the reshaped formats.
        D: the spatial size of the input and output maps (D×D, same padding, stride 1).
        k: the kernel size (k×k).
        R: every rank.
        formats: rows, of ``"dense"``, ``"mcp"``, ``"mtk"``, ``"mtt"``, ``"mtr"``.

    Returns:
        A :class:`FormulaTable` (prints as a table).

    Example:
        >>> print(formula_table(formats=("mcp",)))  # doctest: +ELLIPSIS
          closed forms under ...
        ...TNN-mCP  R·(m·N^(2/m) + k²)  228 ...
    """
    for name in formats:
        complexity(name)  # an unknown name is a clear error
    COMPLEXITY["mcp"].flops_fn(N=N, m=m, D=D, k=k, R=R)  # N = nᵐ, and D, k, R positive integers
    return FormulaTable(N, m, D, k, R, tuple(formats))


def _formula_values(
    name: str, shape: LayerConfig, x_shape: tuple, padding, order: int, p: LayerPrice
) -> tuple[int | None, int | None, int | None]:
    """(formula params, formula FLOPs × batch, planner's sequential FLOPs), or Nones where the
    layer is outside the formulas' assumptions."""
    none = (None, None, None)
    if name not in COMPLEXITY or shape.in_channels != shape.out_channels:
        return none
    kernel, spatial = shape.kernel_size, x_shape[2:]
    if len(kernel) != 2 or kernel[0] != kernel[1] or len(set(spatial)) != 1:
        return none
    k, D, N = kernel[0], spatial[0], shape.in_channels
    if not (padding == "same" or (isinstance(padding, int) and 2 * padding == k - 1)):
        return none
    ranks = set(p.ranks.values())
    if len(ranks) > 1:
        return none
    R = ranks.pop() if ranks else 1
    m = order if get_format(name).reshaped else 1
    try:
        n = factor(N, m)
    except TnvizError:
        return none
    if channel_factors(N, m) != (n,) * m:
        return none
    row = COMPLEXITY[name]
    batch = x_shape[0]
    return (
        row.params_fn(N=N, m=m, k=k, R=R),
        batch * row.flops_fn(N=N, m=m, D=D, k=k, R=R),
        p.plan.left_to_right_flops,
    )


def _grid(name: str, shape: LayerConfig, rates: Sequence[float], ranks: Sequence[int] | None) -> list[tuple]:
    """(rate, ranks) of each row of format ``name``: one per rate a rank fits, or per rank given
    (``dense``: one row, no ranks)."""
    if ranks is not None:
        return [(0, None)] if name == "dense" else [(0, R) for R in ranks]
    grid = []
    for rate in rates:
        try:
            grid.append((rate, ranks_for_rate(name, shape, rate)))
        except TnvizError:
            continue  # no rank fits this budget
    return grid


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
    *,
    ranks: Sequence[int] | None = None,
    formulas: bool = False,
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
        ranks: instead of ``rates``, price each format at these ranks, every rank of a row
            equal (the formulas' assumption; ``dense`` gets one row).
        formulas: add three columns: the closed-form parameters and FLOPs of
            :func:`formula_table` (FLOPs × batch, for the sequential order), and the planner's
            FLOPs for that order (:attr:`Plan.left_to_right_flops`, equal to the formula);
            ``—`` where the layer is outside the formulas' assumptions (see
            :mod:`tnviz.core.formats.complexity`: in = out = nᵐ channels, a square kernel,
            a square input kept by same padding, equal ranks, a format of the table).

    Returns:
        A :class:`CostTable` (prints as a table).

    Example:
        >>> print(cost_table(64, 64, 3, formats=("cp",), rates=(0.1,)))  # doctest: +ELLIPSIS
          layer 64→64, kernel 3×3, ...
    """
    kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    shape = LayerConfig(in_channels, out_channels, kernel, order=order)
    spatial = tuple(input_size)[: len(kernel)] if kernel else ()
    x_shape = (batch, in_channels, *spatial)
    options = {"padding": padding} if kernel else {}

    def price(format: str, ranks) -> LayerPrice:
        return price_layer(
            format, shape, ranks, order=order, input_shape=x_shape, conv_options=options, objective=objective
        )

    dense = price("dense", None)
    dense_flops = dense.flops
    if ranks is not None:
        for R in ranks:
            if not isinstance(R, int) or isinstance(R, bool) or R < 1:
                raise TnvizError(f"rank {R!r} must be a positive integer", token=repr(R))
    rows = []
    for name in formats:
        if name not in FORMATS:
            raise TnvizError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}", token=str(name))
        for rate, rank in _grid(name, shape, rates, ranks):
            p = price(name, rank)
            extra = _formula_values(name, shape, x_shape, padding, order, p) if formulas else (None, None, None)
            rows.append(
                CostRow(name, rate, p.ranks, p.params, p.rate, p.flops, p.flops / dense_flops, p.approach, p, *extra)
            )
    return CostTable(shape, x_shape, tuple(rows), dense_flops, objective, formulas)
