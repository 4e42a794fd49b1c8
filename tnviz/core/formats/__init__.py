"""Tensorial layer formats, one file each, in a registry (standard library only).

A *format* turns a layer configuration — input channels S, output channels T, kernel size
(empty for a Linear layer), groups, and for the reshaped formats the channel factors — and
ranks into a spec with every parameter bound:

* ``dense``: the layer's own weight ``K[t, s, x, y]``.
* ``svd``: a rank-R factorisation of the (T, S·kernel) matrix.
* ``cp``, ``tk``, ``tt``, ``tr``: the paper's NN-CP/TK/TT/TR baselines.
* ``mcp``, ``mtk``, ``mtt``, ``mtr``: the reshaped TNN layers of Su et al.: channels factored
  row-major into ``order`` balanced factors (64 = 4·4·4), then CP, Tucker, TT or TR across the
  factor pairs (sₗ, tₗ) with the spatial kernel as its own factor or core.
* ``btd``: the block-term decomposition, a sum of B Tucker-2 blocks.

A format is a :class:`~tnviz.core.formats.base.Format` subclass in a module of this package
that sets ``FORMAT``; the modules are discovered when the package loads, so a new format is
one new file (and its decomposer in ``tnviz.nn.decomposers``). Every format has an exact
parameter formula, checked against the built diagram, and :func:`ranks_for_rate` picks ranks
for a target fraction of the dense parameters.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence

from tnviz.core.conv_options import ConvOptions
from tnviz.core.formats.base import (
    BuiltLayer,
    FlopContext,
    Format,
    LayerConfig,
    channel_factors,
    kernel_spec,
    kernel_structure,
)
from tnviz.errors import TnvizError

__all__ = [
    "FORMATS",
    "RESHAPED",
    "DEFAULT_FORMAT",
    "Format",
    "LayerConfig",
    "BuiltLayer",
    "get_format",
    "build_layer",
    "param_count",
    "ranks_for_rate",
    "channel_factors",
    "flop_count",
    "formats_table",
    "kernel_spec",
    "kernel_structure",
    "paper_layer",
]

# The format every entry point uses when none is named: the layers, from_dense, compress,
# the widgets and the command line.
DEFAULT_FORMAT = "mtt"


def _discover() -> dict[str, Format]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if isinstance(fmt, Format):
            found.append(fmt)
    return {f.name: f for f in sorted(found, key=lambda f: (f.listing, f.name))}


FORMATS: dict[str, Format] = _discover()
RESHAPED = tuple(name for name, f in FORMATS.items() if f.reshaped)


def get_format(name: str) -> Format:
    """The registered format called ``name``."""
    fmt = FORMATS.get(name) if isinstance(name, str) else None
    if fmt is None:
        raise TnvizError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}", token=str(name))
    return fmt


def _checked(config: LayerConfig) -> LayerConfig:
    if not isinstance(config, LayerConfig):
        raise TnvizError(f"expected a LayerConfig, got {type(config).__name__}", token=type(config).__name__)
    return config


def build_layer(format: str, config: LayerConfig, rank: int | dict | None = None) -> BuiltLayer:
    """Build a format's spec and sizes for a layer.

    Args:
        format: a name of :data:`FORMATS`.
        config: the :class:`LayerConfig`.
        rank: one rank for all, or ``{rank name: value}``.

    Returns:
        A :class:`BuiltLayer`; ``Diagram.parse(ls.spec, sizes=ls.sizes)`` is the bound layer.

    Example:
        >>> build_layer("mcp", LayerConfig(64, 64, (3, 3)), rank=8).spec
        'X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y'
    """
    return get_format(format).build(_checked(config), rank)


def param_count(format: str, config: LayerConfig, rank: int | dict | None = None) -> int:
    """The number of parameters of a format, by its closed-form formula.

    With S, T the channels, K = ∏ kernel lengths, H_i the kernel lengths, (sₗ, tₗ) the
    channel factors and r… the ranks:

    ====== =============================================================
    dense  S·T·K
    svd    R·(S·K + T)
    cp     R·(S + Σ H_i + T)
    tk     S·P + P·Q·K + Q·T
    tt     S·r₁ + Σ_i r_i·H_i·r_{i+1} + r_{n+1}·T
    tr     r₀·S·r₁ + Σ_i r_i·H_i·r_{i+1} + r_{n+1}·T·r₀
    mcp    R·(Σ sₗtₗ + K)                (Linear: R·Σ sₗtₗ)
    mtk    Σ sₗpₗ + ∏pₗ·∏qₗ·K + Σ qₗtₗ
    mtt    Σ r_{l-1}·sₗtₗ·r_l + r_m·K    (r₀ = 1; Linear: r_m = 1, no K)
    mtr    Σ r_{l-1}·sₗtₗ·r_l + r_m·K·r₀ (Linear: the last core closes on r₀)
    btd    B·(S·P + P·Q·K + Q·T)
    ====== =============================================================
    """
    return get_format(format).param_count(_checked(config), rank)


def ranks_for_rate(format: str, config: LayerConfig, rate: float) -> dict:
    """Ranks giving the most parameters not above ``rate`` × the dense layer's (see
    :meth:`Format.ranks_for_rate` for the policy).

    Raises:
        TnvizError: when even rank 1 exceeds the budget, or the rate is not in (0, 1].
    """
    return get_format(format).ranks_for_rate(_checked(config), rate)


def flop_count(
    format: str,
    config: LayerConfig,
    rank: int | dict | None,
    batch: int,
    lengths: Sequence[int] = (),
    padding: Sequence[int] | int = 0,
    stride: Sequence[int] | int = 1,
    dilation: Sequence[int] | int = 1,
    *,
    optimize: str = "left-to-right",
) -> int:
    """FLOPs of one forward pass by closed-form formula; 2 per multiply-add, 1 per product
    that sums nothing (an outer product).

    ``optimize="left-to-right"`` applies the factors one by one to the activations, in spec
    order (as the planner's ``optimize="left-to-right"``); ``optimize="reconstruct"`` first rebuilds the dense
    kernel by contracting the parameters in spec order (a chain), then runs one dense
    convolution. The planner's ``optimize="reconstruct"`` merges the parameters in the best
    order, so its FLOPs are at most this figure.

    With N the batch, Lᵢ the input and Oᵢ the output lengths, Hᵢ the kernel lengths and
    ``∏`` over the spatial axes (axes before i already convolved, after i not yet):

    ====== ==================================================================================
    dense  2·N·T·S·∏Oᵢ·Hᵢ
    svd    2·N·R·S·∏OᵢHᵢ + 2·N·∏Oᵢ·R·T
    cp     2·N·∏Lᵢ·S·R + Σᵢ 2·N·R·∏ⱼ<ᵢOⱼ·∏ⱼ>ᵢLⱼ·OᵢHᵢ + 2·N·∏Oᵢ·R·T
    tk     2·N·∏Lᵢ·S·P + 2·N·P·Q·∏OᵢHᵢ + 2·N·∏Oᵢ·Q·T
    tt     2·N·∏Lᵢ·S·r₁ + Σᵢ 2·N·rᵢ·rᵢ₊₁·∏ⱼ<ᵢOⱼ·∏ⱼ>ᵢLⱼ·OᵢHᵢ + 2·N·∏Oᵢ·r_{n+1}·T
    tr     as tt with r₀ carried along every step (a factor r₀ on each term), and r₀ summed
           in the last
    btd    2·N·∏Lᵢ·S·B·P + 2·N·B·P·Q·∏OᵢHᵢ + 2·N·∏Oᵢ·B·Q·T
    ====== ==================================================================================

    Reconstruction, with K = ∏Hᵢ, S = ∏sₖ, T = ∏tₖ, then the dense term 2·N·T·S·∏OᵢHᵢ:

    ====== ==================================================================================
    svd    2·R·S·K·T
    cp     Σᵢ R·S·∏ⱼ≤ᵢHⱼ + 2·R·S·K·T
    tk     2·S·P·Q·K + 2·S·Q·K·T
    tt     Σᵢ 2·S·∏ⱼ<ᵢHⱼ·rᵢ·Hᵢ·rᵢ₊₁ + 2·S·K·r_{n+1}·T (tr: a factor r₀ on each term)
    mcp    Σₖ₌₂..ₘ R·∏ⱼ≤ₖsⱼtⱼ + 2·R·S·T·K (Linear: the last product sums r, so 2×)
    mtk    Σₖ 2·∏ⱼ<ₖsⱼ·∏ⱼ≥ₖpⱼ·Q·K·sₖ + Σₖ 2·S·∏ⱼ<ₖtⱼ·∏ⱼ≥ₖqⱼ·K·tₖ (G first, then U₁…Uₘ, V₁…Vₘ)
    mtt    Σₖ₌₂..ₘ 2·∏ⱼ≤ₖsⱼtⱼ·rₖ₋₁·rₖ + 2·S·T·rₘ·K (Linear: no rₘ, no last term)
    mtr    as mtt with a factor r₀ on each term; r₀ is summed in the last
    btd    2·B·S·P·Q·K + 2·B·S·Q·K·T
    ====== ==================================================================================

    The reshaped formats have no formula here; their left-to-right (spec-order) counts are in
    :mod:`tnviz.core.formats.complexity`, where each step contracts one channel factor.
    """
    fmt = get_format(format)
    config = _checked(config)
    if optimize not in ("left-to-right", "reconstruct"):
        raise TnvizError(
            f"unknown optimize={optimize!r}; expected 'left-to-right' or 'reconstruct'", token=repr(optimize)
        )
    if fmt.reshaped and optimize != "reconstruct":
        raise TnvizError(
            f"no left-to-right FLOP formula for the reshaped format {format!r}; use optimize='reconstruct' "
            "or Diagram.plan",
            token=format,
        )
    if config.groups != 1:
        return config.groups * flop_count(
            format, config.per_group(), rank, batch, lengths, padding, stride, dilation, optimize=optimize
        )
    ctx = _flop_context(config, batch, lengths, padding, stride, dilation)
    built = fmt.build(config, rank)
    dense = 2 * ctx.N * ctx.T * ctx.S * ctx.OH
    if fmt.name == "dense":
        return dense
    if optimize == "reconstruct":
        return fmt.reconstruct_flops(built, ctx.H) + dense
    flops = fmt.left_to_right_flops(built, ctx)
    if flops is None:
        raise TnvizError(f"format {format!r} has no left-to-right FLOP formula; use Diagram.plan", token=format)
    return flops


def _flop_context(config: LayerConfig, batch, lengths, padding, stride, dilation) -> FlopContext:
    n = len(config.kernel_size)
    if len(lengths) != n:
        raise TnvizError(f"{len(lengths)} input lengths for a {n}-D kernel", token=str(tuple(lengths)))

    def per_axis(value, name):
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
        if len(values) != n:
            raise TnvizError(f"{name} has {len(values)} entries; expected {n}", token=name)
        return values

    pads, strides, dils = per_axis(padding, "padding"), per_axis(stride, "stride"), per_axis(dilation, "dilation")
    Lin = tuple(lengths)
    H = config.kernel_size
    for name, values, low in (("stride", strides, 1), ("dilation", dils, 1), ("length", Lin, 1)):
        for v in values:
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise TnvizError(f"{name} {v!r} must be an integer >= {low}", token=name)
    options = []
    for i, p in enumerate(pads):
        if p == "valid":
            p = 0
        elif p != "same" and not (isinstance(p, int) and not isinstance(p, bool) and p >= 0):
            raise TnvizError(f"bad padding {p!r}; expected a non-negative int, 'same' or 'valid'", token=repr(p))
        options.append(ConvOptions(padding=p if p == "same" else (p, p), stride=strides[i], dilation=dils[i]))
    Lout = tuple(options[i].output_length(Lin[i], [H[i]]) for i in range(n))
    if any(o < 1 for o in Lout):
        raise TnvizError(f"output lengths {Lout}: the kernel {H} does not fit the input {Lin}", token=str(Lin))
    return FlopContext(config.in_channels, config.out_channels, batch, H, Lin, Lout)


def formats_table() -> list[tuple[str, str, str, bool]]:
    """``(name, paper name, description, reshaped)`` per registered format, in listing order —
    what help texts and widgets show."""
    return [(f.name, f.paper_name, f.description, f.reshaped) for f in FORMATS.values()]


def paper_layer(name: str, batch: int = 32, length: int = 32) -> BuiltLayer:
    """A format's layer as the paper draws it (Fig. 5 and the baselines): 64 → 64 channels,
    3×3, with the ranks of the format's ``paper_example`` (near 10 % of the dense
    parameters)."""
    fmt = get_format(name)
    example = dict(fmt.paper_example)
    rank = example.pop("rank", None)
    return fmt.build(LayerConfig(64, 64, (3, 3), **example), rank)
