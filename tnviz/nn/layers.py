"""Tensorial layers: ``TensorialLinear`` and ``TensorialConv1d/2d/3d``, each a
:class:`~tnviz.TensorNetwork` over its format's diagram with the input ``X``."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tnviz.core.formats import DEFAULT_FORMAT, BuiltLayer, LayerConfig, get_format
from tnviz.core.plan import STRATEGIES
from tnviz.errors import TnvizError
from tnviz.execute.module import TensorNetwork
from tnviz.nn.fast import ConvGeometry, FactoredConv, KernelBuilder, conv_macs, memory_format_of

# optimize settings the layers understand beyond the planner's: a strategy forced by name,
# or "measure" (time the candidates once per input signature).
_STRATEGY_NAMES = ("dense", "factored", "plan")
_LAYER_SETTINGS = ("measure", *_STRATEGY_NAMES)
# optimize="auto" runs another convolution strategy than "dense" only when estimated below this
# share of it (a Linear layer's plans are matmuls, as efficient as their estimate says: no margin).
AUTO_MARGIN = 0.6

__all__ = [
    "TensorialLayer",
    "TensorialLinear",
    "TensorialConv1d",
    "TensorialConv2d",
    "TensorialConv3d",
    "TENSORIAL_LAYERS",
    "tensorial_class",
]


def _tuple(value: Any, n: int, name: str) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise TnvizError(f"{name}={tuple(value)} has {len(value)} entries; expected {n}", token=name)
        return tuple(value)
    return (value,) * n


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
    gets ``torch.nn``'s default variance 1/(3·fan_in)), a bias, the dense ``weight`` it
    stands for, and ``from_dense``."""

    _auto_margin = AUTO_MARGIN

    def _setup(
        self,
        config: LayerConfig,
        format: str,
        rank: Any,
        rate: float | None,
        bias: bool,
        optimize: Any,
        conv_options: dict,
        factory: dict,
    ) -> None:
        self.built, self.rate = _build(config, format, rank, rate)
        self.format = format
        self.config = config
        self.order = config.order
        if isinstance(optimize, str) and optimize not in (*STRATEGIES, *_LAYER_SETTINGS):
            # checked here, not at the first forward, and naming the layers' own settings too
            raise TnvizError(
                f"unknown optimize={optimize!r}; expected one of {', '.join((*STRATEGIES, *_LAYER_SETTINGS))} "
                "or a path of pairs",
                token=optimize,
            )
        super().__init__(self.built.diagram(**conv_options), ("X",), optimize=optimize, **factory)
        self._kernel = KernelBuilder(self.built.spec)
        self._factored: FactoredConv | None = None
        # (input shape, dtype, device, memory format, training) -> strategy name, for "auto"
        # and "measure": chosen once per input signature, as cudnn.benchmark does.
        self._choices: dict[tuple, str] = {}
        self._kernel_cache: tuple[tuple, torch.Tensor] | None = None
        self.measurements: dict[tuple, dict[str, float]] = {}
        if bias:
            self.bias = nn.Parameter(torch.empty(config.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self._reset_bias()

    @property
    def shape(self) -> LayerConfig:
        """Deprecated: the layer's configuration is :attr:`config` (``shape`` read like a tensor's)."""
        warnings.warn("layer.shape is deprecated; use layer.config", DeprecationWarning, 2)
        return self.config

    @property
    def layer_spec(self) -> BuiltLayer:
        """Deprecated alias of :attr:`built`."""
        warnings.warn("layer.layer_spec is deprecated; use layer.built", DeprecationWarning, 2)
        return self.built

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
        self._reset_bias()

    def _reset_bias(self) -> None:
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
        gradients flow to the factors)."""
        return self.dense_weight()

    def dense_weight(self) -> torch.Tensor:
        """The reconstructed dense weight, shaped like the ``torch.nn`` twin's."""
        return self._kernel(self._params())

    def _params(self) -> list[torch.Tensor]:
        return [self.weights[n] for n in self._order[1:]]

    # -- execution strategies -------------------------------------------------------------
    #
    # A layer runs one of: "dense" (reconstruct the kernel, then one F.linear / F.conv call),
    # "factored" (hand-written F.conv sequence of the factored convolutions), or a planner
    # plan ("plan": the planner's own choice; "left-to-right"). optimize="auto" picks by the
    # estimate below, optimize="measure" by timing; any other setting is the planner's.

    def plan(self, *inputs: torch.Tensor | tuple) -> Any:
        """The planner's plan for inputs of these shapes (the layer-only settings "measure",
        "dense", "factored" and "plan" plan as "auto")."""
        if self.optimize not in _LAYER_SETTINGS:
            return super().plan(*inputs)
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else tuple(t) for t in inputs]
        from tnviz.execute.einsum import plan_for

        return plan_for(self.diagram, self._shapes(shapes), None, "auto", self.inputs)

    def _planned(self, x: torch.Tensor, optimize: Any) -> torch.Tensor:
        from tnviz.execute.einsum import plan_for
        from tnviz.execute.program import run_plan

        tensors = [x] + self._params()
        try:
            plan = plan_for(
                self.diagram, tuple(tuple(t.shape) for t in tensors), None, optimize, ("X",), x.element_size()
            )
        except TnvizError as err:
            raise err.with_context(spec=self.diagram.to_spec(), shapes=f"X={tuple(x.shape)}") from None
        y = run_plan(plan, tensors)
        memory_format = memory_format_of(x)
        if memory_format is not torch.contiguous_format:  # the plan's reshapes lose channels_last
            y = y.contiguous(memory_format=memory_format)
        return y

    def _dense_kernel(self, memory_format: torch.memory_format) -> torch.Tensor:
        """The reconstructed kernel in ``memory_format``. When no gradient is recorded the
        kernel is cached until a parameter changes: an optimizer step, load_state_dict and any
        in-place edit bump the parameters' version counters; a new tensor has a new storage."""
        params = self._params()
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return self._kernel(params, memory_format)  # autograd keeps it for the backward pass
        key = (
            memory_format,
            torch.is_inference_mode_enabled(),
            tuple((p.data_ptr(), p._version, p.dtype, p.device, p.shape) for p in params),
        )
        if self._kernel_cache is not None and self._kernel_cache[0] == key:
            return self._kernel_cache[1]
        w = self._kernel(params, memory_format)
        self._kernel_cache = (key, w)
        return w

    def _dense(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _add_bias(self, y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if bias is None:
            return y
        return y + bias.reshape(-1, *([1] * (y.dim() - 2)))

    def strategies(
        self, x: torch.Tensor, bias: torch.Tensor | None = None
    ) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """The strategies this layer can run ``x`` with (name → function of the flattened input
        that returns the output, plus ``bias`` when given: fused into the last F.linear / F.conv
        call by "dense" and "factored", as ``torch.nn`` fuses it; added after a plan)."""
        out: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"dense": lambda x: self._dense(x, bias)}
        factored = self._factored
        if factored is not None:
            out["factored"] = lambda x: factored(x, dict(zip(self._order[1:], self._params())), bias)
        out["plan"] = lambda x: self._add_bias(self._planned(x, "auto"), bias)
        out["left-to-right"] = lambda x: self._add_bias(self._planned(x, "left-to-right"), bias)
        return out

    def _signature(self, x: torch.Tensor) -> tuple:
        grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self._params()))
        return (tuple(x.shape), x.dtype, str(x.device), memory_format_of(x), grad)

    def estimate(self, x: torch.Tensor | tuple) -> dict[str, float]:
        """Each strategy's estimated cost (multiply-adds, weighted by how well the calls run)
        for an input of this shape, as ``optimize="auto"`` compares them."""
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(x)
        grad = not isinstance(x, torch.Tensor) or self._signature(x)[-1]
        params = self._params()
        shapes = [tuple(p.shape) for p in params]
        self._kernel._plan(shapes)
        # The reconstruction's small einsums run a few times less efficiently than one big
        # GEMM; with no gradient recorded the cached kernel makes it free after the first call.
        rebuild = 2.0 * self._kernel.macs if grad else 0.0
        out = {"dense": rebuild + self._dense_macs(shape)}
        if self._factored is not None:
            named = dict(zip(self._order[1:], shapes))
            # 1×1 and depthwise convolutions move more memory per multiply-add than a dense
            # 3×3 convolution: in NCHW (oneDNN reorders each activation) measured about 2× less
            # efficient, in channels_last about as efficient (tr at rate 0.2: 0.60 of dense).
            cl = isinstance(x, torch.Tensor) and memory_format_of(x) is not torch.contiguous_format
            out["factored"] = (1.0 if cl else 2.0) * self._factored.macs(named, shape)
            return out  # the planner's plan of these formats is the same sequence, less well laid out
        plan = self.plan(shape)
        if plan.approach != "reconstruct":  # the planner's reconstruct is "dense", done worse
            # Plan FLOPs count a multiply-add as 2; its small steps run about 2× less efficiently.
            # Its permutes and reshapes turn a channels_last activation into NCHW and back:
            # measured (mtk conv at rates 0.02–0.2, 2 CPU threads, glibc malloc and tcmalloc)
            # 1.4–2.3× slower against channels_last dense than in NCHW (3× chose dense for mtk
            # at 10 %, 1.4× slower than its plan).
            cl = isinstance(x, torch.Tensor) and memory_format_of(x) is not torch.contiguous_format
            out["plan"] = float(plan.flops) * (2.0 if cl else 1.0)
        return out

    def _dense_macs(self, shape: tuple) -> int:
        raise NotImplementedError

    def chosen_strategy(self, x: torch.Tensor) -> str:
        """The strategy ``optimize="auto"`` or ``"measure"`` runs ``x`` with (choosing it now
        if this input signature is new)."""
        if self.optimize in _STRATEGY_NAMES:
            return self.optimize
        key = (self.optimize, *self._signature(x))
        name = self._choices.get(key)
        if name is None:
            if self.optimize == "measure":
                name = self._measure(x, key)
            else:
                costs = self.estimate(x)
                name = min(costs, key=costs.__getitem__)
                # The sequences of small steps run 2–4× less efficiently than their multiply-adds
                # say, by shape (mtk's plan at rate 0.2: estimated 0.54 of dense, measured 0.75;
                # tr's grouped sequence at 0.2: estimated 0.65, measured about 1), so auto leaves
                # "dense" only for a clear win.
                if costs[name] > self._auto_margin * costs["dense"]:
                    name = "dense"
            self._choices[key] = name
        return name

    def _measure(self, x: torch.Tensor, key: tuple, candidates: int = 3, repeats: int = 3) -> str:
        """Time the ``candidates`` best-estimated strategies on ``x`` (forward, and backward when
        gradients are recorded; the gradients are returned, never accumulated into ``.grad``),
        keep the fastest. The host waits for the device here only, once per input signature."""
        costs = self.estimate(x)
        names = sorted(costs, key=costs.__getitem__)[:candidates]
        runs = self.strategies(x)
        grad = key[-1]
        params = [p for p in self._params() if p.requires_grad]
        probe = x.detach().requires_grad_(x.requires_grad)
        times: dict[str, float] = {}

        def once(name: str) -> None:
            y = runs[name](probe)
            if grad:
                wrt = [t for t in [probe, *params] if t.requires_grad]
                torch.autograd.grad(y, wrt, torch.ones_like(y), allow_unused=True)

        for name in names:
            once(name)  # warm-up: allocator, kernel choice, the plan's compilation
            best = math.inf
            for _ in range(repeats):
                _sync(x.device)
                start = time.perf_counter()
                once(name)
                _sync(x.device)
                best = min(best, time.perf_counter() - start)
            times[name] = best
        self.measurements[key] = times
        return min(times, key=times.__getitem__)

    def _run(self, x: torch.Tensor, optimize: Any = None, bias: torch.Tensor | None = None) -> torch.Tensor:
        """The network on ``x`` plus ``bias`` (when given), with the layer's planner setting or
        ``optimize`` (a strategy name of :meth:`strategies` is accepted too)."""
        setting = self.optimize if optimize is None else optimize
        if isinstance(setting, str) and setting in _STRATEGY_NAMES:
            runs = self.strategies(x, bias)
            if setting not in runs:
                raise TnvizError(
                    f"format {self.format!r} has no {setting!r} strategy here; expected one of {', '.join(runs)}",
                    token=setting,
                )
            return _keep_format(x, runs[setting](x))
        if setting in ("auto", "measure"):
            saved, self.optimize = self.optimize, setting
            try:
                name = self.chosen_strategy(x)
            finally:
                self.optimize = saved
            return _keep_format(x, self.strategies(x, bias)[name](x))
        return self._add_bias(self._planned(x, setting), bias)

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
        if type(module) is not expected:
            raise TnvizError(
                f"{cls.__name__}.from_dense takes an nn.{expected.__name__}, got {type(module).__name__}",
                token=type(module).__name__,
            )
        if init not in ("decompose", "random"):
            raise TnvizError(f"init must be 'decompose' or 'random', got {init!r}", token=repr(init))
        layer = cls._like(module, format, rate, rank, **layer_kwargs)
        if init == "random":
            return layer
        from tnviz.nn.decompose import decompose_into

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
        optimize: ``"auto"`` (default: the strategy of least estimated cost — ``"dense"``,
            reconstruct the kernel then one dense call, its kernel cached under ``torch.no_grad``
            until a parameter changes; ``"factored"``, the factored convolution as a sequence of
            F.conv calls that keeps channels_last; ``"plan"``, the planner's plan), ``"measure"``
            (time the best few once per input shape, dtype, device, memory format and grad mode,
            keep the fastest, as cudnn.benchmark does; see ``layer.measurements``), one of those
            strategy names to force it, or a planner setting (``"reconstruct"``,
            ``"left-to-right"``, …) to run the planner's plan of that setting.

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
        optimize: Any = "auto",
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
        if x.shape[-1] != self.in_features:
            raise TnvizError(f"input has {x.shape[-1]} features; expected {self.in_features}", token=str(x.shape[-1]))
        lead = x.shape[:-1]
        return self._run(x.reshape(-1, self.in_features), bias=self.bias).reshape(*lead, self.out_features)

    def plan(self, x: torch.Tensor | tuple):
        """The plan used for an input of this shape (leading dimensions flattened, as in forward)."""
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(x)
        return super().plan((math.prod(shape[:-1]), shape[-1]))

    _auto_margin = 1.0

    def _dense(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        return torch.nn.functional.linear(x, self._dense_kernel(torch.contiguous_format), bias)

    def _dense_macs(self, shape: tuple) -> int:
        return math.prod(shape[:-1]) * self.in_features * self.out_features

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
        optimize: Any = "auto",
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
        self._geometry = ConvGeometry(self.kernel_size, self.stride, self.padding, self.dilation, padding_mode)
        if groups == 1:
            from tnviz.nn.fast import factored_conv

            self._factored = factored_conv(format, self.built.spec, self._order[1:], self._geometry)

    def _dense(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        w = self._dense_kernel(memory_format_of(x))
        return self._geometry.conv(x, w, tuple(range(self._dims)), self.groups, bias)

    def _dense_macs(self, shape: tuple) -> int:
        g = self._geometry
        spatial = [g.out_len(i, n) for i, n in enumerate(shape[2:])]
        return conv_macs(shape[0], self.in_channels, self.out_channels, self.kernel_size, spatial, self.groups)

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
        if self.built.order is not None and x.shape[1] != self.in_channels:
            raise TnvizError(f"input has {x.shape[1]} channels; expected {self.in_channels}", token=str(x.shape[1]))
        return self._run(x, bias=self.bias)

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


_Tensorial = TensorialLayer  # the earlier, private name


def _keep_format(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` in ``x``'s memory format (a no-op when a strategy kept it, as they all try to)."""
    memory_format = memory_format_of(x)
    if memory_format is torch.contiguous_format or y.is_contiguous(memory_format=memory_format):
        return y
    return y.contiguous(memory_format=memory_format)


def _sync(device: torch.device) -> None:
    """Wait for the device (timing in optimize="measure" only)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# The one map from a dense torch layer to the tensorial layer that replaces it.
TENSORIAL_LAYERS: dict[type, type[TensorialLayer]] = {
    nn.Linear: TensorialLinear,
    nn.Conv1d: TensorialConv1d,
    nn.Conv2d: TensorialConv2d,
    nn.Conv3d: TensorialConv3d,
}


def tensorial_class(module: nn.Module) -> type[TensorialLayer]:
    """The tensorial layer class that replaces ``module`` (an ``nn.Linear`` or ``nn.Conv1d/2d/3d``)."""
    cls = TENSORIAL_LAYERS.get(type(module))
    if cls is None:
        raise TnvizError(
            f"expected nn.Linear or nn.Conv1d/2d/3d, got {type(module).__name__}", token=type(module).__name__
        )
    return cls
