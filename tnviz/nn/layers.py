"""Tensorial layers: ``TensorialLinear`` and ``TensorialConv1d/2d/3d``, each a
:class:`~tnviz.TensorNetwork` over its format's diagram with the input ``X``."""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from tnviz.core.diagram import Diagram
from tnviz.core.formats import DEFAULT_FORMAT, BuiltLayer, LayerConfig, get_format, kernel_structure
from tnviz.core.optimize import LayerOptimize
from tnviz.errors import TnvizError
from tnviz.execute.module import TensorNetwork, _ints
from tnviz.nn.decompose import decompose_into

__all__ = [
    "TensorialLayer",
    "TensorialLinear",
    "TensorialConv1d",
    "TensorialConv2d",
    "TensorialConv3d",
    "TENSORIAL_LAYERS",
    "tensorial_class",
    "from_dense",
]


def _tuple(value: Any, n: int, name: str) -> tuple:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n:
        raise TnvizError(f"{name}={values} has {len(values)} entries; expected {n}", token=name)
    for v in values:
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}{_KEYWORD_ONLY}")
    return tuple(int(v) for v in values)


# torch.nn's positional arguments come first; a format name given positionally lands in one of them.
_KEYWORD_ONLY = " (format, rank and rate are keyword-only: format='cp')"


def _check_bias(bias: Any) -> bool:
    if not isinstance(bias, (bool, numbers.Integral)):
        raise TypeError(f"bias must be True or False, got {bias!r}{_KEYWORD_ONLY}")
    return bool(bias)


def _build(config: LayerConfig, format: str, rank: Any, rate: float | None) -> tuple[BuiltLayer, float | None]:
    fmt = get_format(format)
    if rank is not None and rate is not None:
        raise TnvizError("give rank= or rate=, not both", token="rate")
    if rate is not None:
        rank = fmt.ranks_for_rate(config, rate)
    return fmt.build(config, rank), rate


class TensorialLayer(TensorNetwork):
    """The base class of the tensorial layers (``isinstance(m, TensorialLayer)`` finds them).

    What they share: a format's diagram as a :class:`TensorNetwork` (the input ``X``, every
    other tensor a parameter, initialised by TensorNetwork's one rule: the composed weight
    gets ``torch.nn``'s default variance 1/(3·fan_in)), a bias (TensorNetwork's, fused into
    the last call), the dense ``weight`` it stands for, and ``from_dense``. Forward runs the
    plan :meth:`plan` prints, chosen and executed by the engine every drawn network uses."""

    def _setup(
        self,
        config: LayerConfig,
        format: str,
        rank: Any,
        rate: float | None,
        bias: bool,
        optimize: LayerOptimize,
        conv_options: dict,
        factory: dict,
    ) -> None:
        self.built, self.rate = _build(config, format, rank, rate)
        self.format = format
        self.config = config
        self.order = config.order
        super().__init__(
            self.built.diagram(**conv_options), ("X",), bias=_check_bias(bias), optimize=optimize, **factory
        )
        # the dense kernel in torch.nn's layout, (out, in / groups, *kernel), planned like any diagram
        self._kernel_diagram = Diagram.from_spec(kernel_structure(self.built.structure))

    @property
    def ranks(self) -> dict:
        return dict(self.built.ranks)

    @property
    def format_object(self):
        """The registered :class:`~tnviz.core.formats.Format` of this layer."""
        return get_format(self.format)

    @property
    def achieved_rate(self) -> float:
        """Parameters of the factored weight over those of the dense weight."""
        return self.built.param_count / self.config.dense_params

    def reset_parameters(self) -> None:
        """The factors by :meth:`TensorNetwork.reset_parameters` (the composed weight gets
        variance 1/(3·fan_in), as ``torch.nn``), the bias uniform in ±1/√fan_in, as ``torch.nn``."""
        super().reset_parameters()
        bias = self._parameters.get("bias")
        if bias is not None:
            bound = 1.0 / math.sqrt(self.config.dense_params // self.config.out_channels)
            with torch.no_grad():
                bias.uniform_(-bound, bound)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "weight":  # torch.nn would register a parameter of that name beside the property
            raise AttributeError(
                f"{type(self).__name__}.weight is read-only: it is computed from the factors in "
                "layer.weights (set those, or build the layer with from_dense)"
            )
        super().__setattr__(name, value)

    @property
    def weight(self) -> torch.Tensor:
        """The dense weight this layer stands for, in ``torch.nn``'s layout ((out, in) for
        Linear, (out, in / groups, *kernel) for Conv), computed from the factors (read-only:
        gradients flow to the factors); inside :meth:`weight_held`, the one computed there."""
        held = self.__dict__.get("_held_weight")
        return held if held is not None else self.dense_weight()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_held_weight", None)  # a copy taken inside weight_held holds nothing of the call
        return state

    @contextlib.contextmanager
    def weight_held(self) -> Iterator[torch.Tensor]:
        """``weight`` computed once for the block, the same tensor on every read within it: for a
        caller that reads it several times in one computation (torch's attention reads its
        projections' weights up to four times a forward, each read a rebuild). Not kept after."""
        outer = self.__dict__.get("_held_weight")  # a hold inside a hold keeps the outer one
        held = self.__dict__["_held_weight"] = outer if outer is not None else self.dense_weight()
        try:
            yield held
        finally:
            if outer is None:
                self.__dict__.pop("_held_weight", None)

    def dense_weight(self) -> torch.Tensor:
        """The reconstructed dense weight, shaped like the ``torch.nn`` twin's."""
        from tnviz.execute.einsum import einsum

        params = [self.weights[n] for n in self._order[1:]]
        return einsum(self._kernel_diagram, *params)

    def _extra(self) -> str:
        text = f", format={self.format!r}, ranks={self.ranks}" if self.ranks else f", format={self.format!r}"
        if self.built.order is not None and self.order != 3:
            text += f", order={self.order}"
        if self.rate is not None:
            text += f", rate={self.rate} (achieved {self.achieved_rate:.3f})"
        if self.bias is None:
            text += ", bias=False"
        if self.optimize != "auto":
            text += f", optimize={self.optimize!r}"
        return text

    # -- building from a trained dense layer -------------------------------------------
    @classmethod
    def _like(cls, module: nn.Module, format: str, rate: float | None, rank: Any, **kwargs: Any) -> TensorialLayer:
        raise NotImplementedError

    @classmethod
    def from_dense(
        cls,
        module: nn.Module,
        format: str = DEFAULT_FORMAT,
        rate: float | None = None,
        rank: Any = None,
        *,
        init: str = "decompose",
        n_iter_max: int = 200,
        random_state: int = 0,
        **layer_kwargs: Any,
    ) -> TensorialLayer:
        """A tensorial layer with ``module``'s configuration (stride, padding, dilation, groups,
        padding_mode, bias, device, dtype), its factors decomposing ``module``'s weight.

        Args:
            module: the dense layer this class replaces (``nn.Linear`` for TensorialLinear, …).
            format, rate, rank: as for the layer.
            init: ``"decompose"`` (the weight decomposed with tensorly; ``reconstruction_error``
                = ‖W − Ŵ‖ / ‖W‖ is set on the layer) or ``"random"`` (fresh factors and bias,
                as if trained from scratch).
            n_iter_max, random_state: for the iterative decompositions (CP-ALS, HOOI).
            **layer_kwargs: further layer arguments (``order``, ``in_factors``, ``optimize``, …).

        Example:
            >>> conv = nn.Conv2d(16, 16, 3, padding=1)
            >>> layer = TensorialConv2d.from_dense(conv, format="tk", rate=0.5)
            >>> round(layer.reconstruction_error, 2) < 1
            True
        """
        expected = {v: k for k, v in TENSORIAL_LAYERS.items()}[cls]
        if dense_base(module) is not expected:
            overrides = " (a subclass with its own forward)" if isinstance(module, expected) else ""
            raise TnvizError(
                f"{cls.__name__}.from_dense takes an nn.{expected.__name__}, got {type(module).__name__}{overrides}",
                token=type(module).__name__,
            )
        if init not in ("decompose", "random"):
            raise TnvizError(f"init must be 'decompose' or 'random', got {init!r}", token=repr(init))
        layer = cls._like(module, format, rate, rank, **layer_kwargs)
        if init == "random":
            return layer
        decompose_into(layer, module, n_iter_max, random_state)
        return layer


class TensorialLinear(TensorialLayer):
    """A Linear layer whose weight is a tensor network of the given format.

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        format: one of ``tnviz.core.formats.FORMATS`` (``dense svd cp tk tt tr mcp mtk mtt mtr btd``;
            default ``DEFAULT_FORMAT``, ``"mtt"``).
        rank: one rank for all, or ``{rank name: value}``; or
        rate: the fraction of the dense parameters to aim at (ranks chosen to fit).
        order: m, the number of channel factors of a reshaped format.
        in_factors, out_factors: explicit channel factors.
        optimize: as :class:`~tnviz.TensorNetwork`: ``"auto"`` (default: the planner's plan,
            or with no gradient recorded the cheaper of it and the kernel reconstructed once and
            cached until a parameter changes), ``"measure"`` (time the candidate plans once per
            input signature, keep the fastest; see ``layer.measurements``), or a planner setting
            (``"reconstruct"``, ``"left-to-right"``, …) or path.

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
        format: str = DEFAULT_FORMAT,
        rank: Any = None,
        rate: float | None = None,
        order: int = 3,
        in_factors: Any = None,
        out_factors: Any = None,
        optimize: LayerOptimize = "auto",
    ) -> None:
        self.in_features, self.out_features = in_features, out_features
        config = LayerConfig(in_features, out_features, (), 1, order, in_factors, out_factors)
        self._setup(config, format, rank, rate, bias, optimize, {}, {"device": device, "dtype": dtype})

    @classmethod
    def _like(cls, module, format, rate, rank, **kwargs):
        weight = module.weight
        return cls(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            device=weight.device,
            dtype=weight.dtype,
            format=format,
            rate=rate,
            rank=rank,
            **kwargs,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _ints(x.shape[-1:])[0] != self.in_features:
            raise TnvizError(f"input has {x.shape[-1]} features; expected {self.in_features}", token=str(x.shape[-1]))
        lead = x.shape[:-1]
        return self._run_network((x.reshape(-1, self.in_features),)).reshape(*lead, self.out_features)

    def plan(self, x: torch.Tensor | tuple):
        """The plan used for this input, or an input of this shape (leading dimensions flattened,
        as in forward; a tensor's dtype, layout and the grad mode now count, as in forward)."""
        if isinstance(x, torch.Tensor):
            return super().plan(x.reshape(-1, x.shape[-1]))
        shape = tuple(x)
        return super().plan((math.prod(shape[:-1]), shape[-1]))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + self._extra()


class _TensorialConvNd(TensorialLayer):
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
        format: str = DEFAULT_FORMAT,
        rank: Any = None,
        rate: float | None = None,
        order: int = 3,
        in_factors: Any = None,
        out_factors: Any = None,
        optimize: LayerOptimize = "auto",
    ) -> None:
        n = self._dims
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding")
        self.dilation = _tuple(dilation, n, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        config = LayerConfig(in_channels, out_channels, self.kernel_size, groups, order, in_factors, out_factors)
        options = {
            "stride": self.stride,
            "dilation": self.dilation,
            "padding_mode": padding_mode,
            "padding": self.padding,
        }
        self._setup(config, format, rank, rate, bias, optimize, options, {"device": device, "dtype": dtype})

    @classmethod
    def _like(cls, module, format, rate, rank, **kwargs):
        weight = module.weight
        return cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            device=weight.device,
            dtype=weight.dtype,
            format=format,
            rate=rate,
            rank=rank,
            **kwargs,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self._dims + 2:
            raise TnvizError(
                f"input has {x.dim()} dimensions {tuple(x.shape)}; expected {self._dims + 2} (batch, channels, ...)",
                token=str(tuple(x.shape)),
            )
        if self.built.order is not None and _ints(x.shape[1:2])[0] != self.in_channels:
            raise TnvizError(f"input has {x.shape[1]} channels; expected {self.in_channels}", token=str(x.shape[1]))
        return self._run_network((x,))

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


# The one map from a dense torch layer to the tensorial layer that replaces it.
TENSORIAL_LAYERS: dict[type, type[TensorialLayer]] = {
    nn.Linear: TensorialLinear,
    nn.Conv1d: TensorialConv1d,
    nn.Conv2d: TensorialConv2d,
    nn.Conv3d: TensorialConv3d,
}


def dense_base(module: nn.Module) -> type[nn.Module] | None:
    """The ``torch.nn`` layer class of :data:`TENSORIAL_LAYERS` that ``module`` computes as: the
    class itself or a subclass that keeps its ``forward`` (as attention's ``out_proj``); None for
    anything else, a subclass with a forward of its own included (replacing it would drop that)."""
    for base in TENSORIAL_LAYERS:
        if isinstance(module, base) and type(module).forward is base.forward:
            return base
    return None


def tensorial_class(module: nn.Module) -> type[TensorialLayer]:
    """The tensorial layer class that replaces ``module`` (an ``nn.Linear`` or ``nn.Conv1d/2d/3d``,
    or a subclass that keeps its forward)."""
    base = dense_base(module)
    if base is None:
        overrides = " (a subclass with its own forward)" if isinstance(module, tuple(TENSORIAL_LAYERS)) else ""
        raise TnvizError(
            f"expected nn.Linear or nn.Conv1d/2d/3d, got {type(module).__name__}{overrides}",
            token=type(module).__name__,
        )
    return TENSORIAL_LAYERS[base]


def from_dense(
    module: nn.Module,
    format: str = DEFAULT_FORMAT,
    rate: float | None = None,
    rank: Any = None,
    order: int = 3,
    n_iter_max: int = 200,
    random_state: int = 0,
    **layer_kwargs: Any,
) -> TensorialLayer:
    """A tensorial layer whose factors decompose ``module``'s weight: the function form of
    ``TensorialLinear/Conv1d/2d/3d.from_dense``, picking the class from the module's type.

    Args:
        module: an ``nn.Linear`` or ``nn.Conv1d/2d/3d`` (its stride, padding, dilation,
            groups, padding_mode and bias are kept).
        format, rate, rank, order: as for the tensorial layers.
        n_iter_max, random_state: for the iterative decompositions (CP-ALS, HOOI).
        **layer_kwargs: further layer arguments (``in_factors``, ``optimize``, ``init``, ...).

    Returns:
        The layer, with ``reconstruction_error`` = ‖W − Ŵ‖ / ‖W‖ set on it.

    Raises:
        TnvizError: an unsupported module, or a decomposition that would need more than
            ``tnviz.nn.decompose.MEMORY_LIMIT_BYTES``.

    Example:
        >>> from torch import nn
        >>> conv = nn.Conv2d(16, 16, 3, padding=1)
        >>> layer = from_dense(conv, format="tk", rate=0.5)
        >>> round(layer.reconstruction_error, 2) < 1
        True
    """
    cls = tensorial_class(module)
    return cls.from_dense(
        module,
        format,
        rate,
        rank,
        n_iter_max=n_iter_max,
        random_state=random_state,
        order=order,
        **layer_kwargs,
    )
