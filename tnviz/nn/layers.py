"""Tensorial layers: ``TensorialLinear`` and ``TensorialConv1d/2d/3d`` built from format Diagrams."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from tnviz.core.formats import FORMATS, LayerShape, LayerSpec, build_layer, ranks_for_rate
from tnviz.errors import TnvizError
from tnviz.execute.einsum import plan_for
from tnviz.execute.program import run_plan

__all__ = ["TensorialLinear", "TensorialConv1d", "TensorialConv2d", "TensorialConv3d"]


def _tuple(value: Any, n: int, name: str) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise TnvizError(f"{name}={tuple(value)} has {len(value)} entries; expected {n}", token=name)
        return tuple(value)
    return (value,) * n


class _Tensorial(nn.Module):
    """Common machinery: a format's Diagram with parameters, run through the planner."""

    def _setup(
        self,
        shape: LayerShape,
        format: str,
        rank: Any,
        rate: float | None,
        order: int,
        in_factors: Any,
        out_factors: Any,
        bias: bool,
        optimize: Any,
        conv_options: dict,
        factory: dict,
    ) -> None:
        if format not in FORMATS:
            raise TnvizError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", token=str(format))
        if rank is not None and rate is not None:
            raise TnvizError("give rank= or rate=, not both", token="rate")
        if rate is not None:
            rank = ranks_for_rate(format, shape, rate, order, in_factors, out_factors)
        self.layer_spec: LayerSpec = build_layer(format, shape, rank, order, in_factors, out_factors)
        self.format = format
        self.shape = shape
        self.rate = rate
        self.order = order
        self.optimize = optimize
        self.diagram = self.layer_spec.diagram(**conv_options)
        self.weights = nn.ParameterDict(
            {name: nn.Parameter(torch.empty(size, **factory)) for name, size in self.layer_spec.params.items()}
        )
        self._names = self.diagram.tensor_names
        if bias:
            self.bias = nn.Parameter(torch.empty(shape.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @property
    def ranks(self) -> dict:
        return dict(self.layer_spec.ranks)

    @property
    def achieved_rate(self) -> float:
        """Parameters of the factored weight over those of the dense weight."""
        return self.layer_spec.param_count / self.shape.dense_params

    def reset_parameters(self) -> None:
        """Give the reconstructed weight the variance of ``torch.nn``'s default initialisation
        (kaiming-uniform with a=√5: Var = 1/(3·fan_in)) and the bias its usual range.

        Every factor is drawn from N(0, σ²) with one σ: an entry of the weight sums
        ``bonds`` products of one entry of each of the n factors, so its variance is
        bonds·σ^(2n); σ solves bonds·σ^(2n) = 1/(3·fan_in)."""
        fan_in = self.shape.dense_params // self.shape.out_channels
        target = 1.0 / (3.0 * fan_in)
        params = list(self.weights.values())
        kernel_indices = set(self.diagram.tensor("X").indices) | set(self.diagram.output.indices)
        bonds = 1
        for index in self.diagram.index_names:
            if index not in kernel_indices:
                bonds *= self.diagram.size(index) or 1
        sigma = (target / bonds) ** (1.0 / (2 * len(params)))
        with torch.no_grad():
            for p in params:
                p.normal_(0.0, sigma)
            if self.bias is not None:
                bound = 1.0 / math.sqrt(fan_in)
                self.bias.uniform_(-bound, bound)

    def dense_weight(self) -> torch.Tensor:
        """The reconstructed dense weight, shaped like the ``torch.nn`` twin's."""
        from tnviz.execute.einsum import einsum
        from tnviz.paper_layers import kernel_spec

        spec = kernel_spec(self.layer_spec.spec)
        tensors = [self.weights[n] for n in self._names[1:]]
        return einsum(spec, *tensors)

    def _run(self, x: torch.Tensor, optimize: Any = None) -> torch.Tensor:
        tensors = [x] + [self.weights[n] for n in self._names[1:]]
        shapes = tuple(tuple(t.shape) for t in tensors)
        plan = plan_for(self.diagram, shapes, None, optimize or self.optimize, ("X",), x.element_size())
        return run_plan(plan, tensors)

    def plan(self, x: torch.Tensor | tuple):
        """The plan used for an input of this shape."""
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(x)
        shapes = (shape,) + tuple(tuple(p.shape) for p in (self.weights[n] for n in self._names[1:]))
        return plan_for(self.diagram, shapes, None, self.optimize, ("X",))

    def _extra(self) -> str:
        text = f", format={self.format!r}, ranks={self.ranks}" if self.ranks else f", format={self.format!r}"
        if self.layer_spec.order is not None and self.order != 3:
            text += f", order={self.order}"
        if self.rate is not None:
            text += f", rate={self.rate} (achieved {self.achieved_rate:.3f})"
        if self.bias is None:
            text += ", bias=False"
        if self.optimize != "auto":
            text += f", optimize={self.optimize!r}"
        return text


class TensorialLinear(_Tensorial):
    """A Linear layer whose weight is a tensor network of the given format.

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        format: one of ``tnviz.core.formats.FORMATS`` (``dense svd cp tk tt tr mcp mtk mtt mtr``).
        rank: one rank for all, or ``{rank name: value}``; or
        rate: the fraction of the dense parameters to aim at (ranks chosen to fit).
        order: m, the number of channel factors of a reshaped format.
        in_factors, out_factors: explicit channel factors.
        optimize: the planner setting (``"reconstruct"`` and ``"left-to-right"`` force a strategy).

    Example:
        >>> layer = TensorialLinear(64, 32, format="mtt", rate=0.1)
        >>> layer(torch.randn(5, 64)).shape
        torch.Size([5, 32])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        format: str = "cp",
        rank: Any = None,
        rate: float | None = None,
        order: int = 3,
        in_factors: Any = None,
        out_factors: Any = None,
        optimize: Any = "auto",
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        shape = LayerShape(in_features, out_features, ())
        self._setup(
            shape,
            format,
            rank,
            rate,
            order,
            in_factors,
            out_factors,
            bias,
            optimize,
            {},
            {"device": device, "dtype": dtype},
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise TnvizError(f"input has {x.shape[-1]} features; expected {self.in_features}", token=str(x.shape[-1]))
        lead = x.shape[:-1]
        y = self._run(x.reshape(-1, self.in_features)).reshape(*lead, self.out_features)
        return y + self.bias if self.bias is not None else y

    def plan(self, x: torch.Tensor | tuple):
        """The plan used for an input of this shape (leading dimensions flattened, as in forward)."""
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(x)
        rows = 1
        for v in shape[:-1]:
            rows *= v
        return super().plan((rows, shape[-1]))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + self._extra()


class _TensorialConvNd(_Tensorial):
    _dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        format: str = "cp",
        rank: Any = None,
        rate: float | None = None,
        order: int = 3,
        in_factors: Any = None,
        out_factors: Any = None,
        optimize: Any = "auto",
    ) -> None:
        super().__init__()
        n = self._dims
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding")
        self.dilation = _tuple(dilation, n, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        shape = LayerShape(in_channels, out_channels, self.kernel_size, groups)
        options = {
            "stride": self.stride,
            "dilation": self.dilation,
            "padding_mode": padding_mode,
            "padding": self.padding,
        }
        self._setup(
            shape,
            format,
            rank,
            rate,
            order,
            in_factors,
            out_factors,
            bias,
            optimize,
            options,
            {"device": device, "dtype": dtype},
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self._dims + 2:
            raise TnvizError(
                f"input has {x.dim()} dimensions {tuple(x.shape)}; expected {self._dims + 2} (batch, channels, ...)",
                token=str(tuple(x.shape)),
            )
        if self.format in FORMATS and self.layer_spec.order is not None and x.shape[1] != self.in_channels:
            raise TnvizError(f"input has {x.shape[1]} channels; expected {self.in_channels}", token=str(x.shape[1]))
        y = self._run(x)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, *([1] * self._dims))
        return y

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1,) * self._dims:
            text += f", stride={self.stride}"
        if self.padding not in ((0,) * self._dims, "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text + self._extra()


class TensorialConv1d(_TensorialConvNd):
    """``nn.Conv1d``'s arguments plus ``format``, ``rank``/``rate``, ``order``; see TensorialLinear."""

    _dims = 1


class TensorialConv2d(_TensorialConvNd):
    """``nn.Conv2d``'s arguments plus ``format``, ``rank``/``rate``, ``order``; see TensorialLinear.

    Example:
        >>> layer = TensorialConv2d(64, 64, 3, padding=1, format="mcp", rate=0.1)
        >>> layer(torch.randn(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    _dims = 2


class TensorialConv3d(_TensorialConvNd):
    """``nn.Conv3d``'s arguments plus ``format``, ``rank``/``rate``, ``order``; see TensorialLinear."""

    _dims = 3
