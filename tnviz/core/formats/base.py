"""What every layer format shares: the layer configuration, the built layer, and the
:class:`Format` base class a format file subclasses (standard library only)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from tnviz.core.spec import Operand, Spec, format_spec
from tnviz.core.spec_parser import parse_spec
from tnviz.errors import TnvizError

__all__ = [
    "SPATIAL",
    "LayerConfig",
    "BuiltLayer",
    "Format",
    "FlopContext",
    "channel_factors",
    "spatial",
    "balanced_ranks",
    "kernel_spec",
    "kernel_structure",
]

SPATIAL = ("x", "y", "z")


@dataclass(frozen=True)
class LayerConfig:
    """One layer's configuration, everything a format needs besides its ranks: channels in
    and out, the kernel size (``()`` for Linear), the channel groups (as ``nn.Conv2d(groups=)``)
    and, for the reshaped formats, the number of channel factors ``order`` (m) or the factors
    themselves.

    Example:
        >>> LayerConfig(64, 64, (3, 3)).dense_params
        36864
    """

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...] = ()
    groups: int = 1
    order: int = 3
    in_factors: tuple[int, ...] | None = None
    out_factors: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        # Lists from users become tuples, so that configurations compare and hash.
        object.__setattr__(self, "kernel_size", tuple(self.kernel_size))
        for name in ("in_factors", "out_factors"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))

    @property
    def dense_params(self) -> int:
        total = self.in_channels * self.out_channels // self.groups
        for k in self.kernel_size:
            total *= k
        return total

    def per_group(self) -> LayerConfig:
        """The configuration of one group's layer."""
        g = self.groups
        if not isinstance(g, int) or g < 1 or self.in_channels % g or self.out_channels % g:
            raise TnvizError(
                f"groups={g} must divide in_channels={self.in_channels} and out_channels={self.out_channels}",
                token="groups",
            )
        return replace(self, in_channels=self.in_channels // g, out_channels=self.out_channels // g, groups=1)


@dataclass(frozen=True)
class BuiltLayer:
    """A built format: its spec (the parsed structure; :attr:`spec` prints it), the sizes that
    bind every parameter, the ranks used."""

    format: str
    structure: Spec
    sizes: dict
    ranks: dict
    order: int | None
    in_factors: tuple[int, ...]
    out_factors: tuple[int, ...]

    @cached_property
    def spec(self) -> str:
        """The spec as text (named form)."""
        return format_spec(self.structure, compact=False)

    @cached_property
    def params(self) -> dict[str, tuple[int, ...]]:
        """``{parameter tensor: shape}`` (built once: a BuiltLayer is immutable)."""
        d = self.diagram()
        return {name: d.shape(name) for name in d.tensor_names[1:]}  # type: ignore[misc]

    @property
    def param_count(self) -> int:
        return sum(math.prod(shape) for shape in self.params.values())

    def diagram(self, **conv_options):
        """The Diagram, every parameter bound (the input X stays free)."""
        from tnviz.core.diagram import Diagram

        return Diagram.from_spec(self.structure, sizes=self.sizes, **conv_options)


def channel_factors(n: int, order: int) -> tuple[int, ...]:
    """``n`` as a product of ``order`` balanced factors, largest first (64, 3 -> (4, 4, 4)).

    Prime factors go, largest first, to the currently smallest factor.

    Example:
        >>> channel_factors(512, 3), channel_factors(48, 2), channel_factors(10, 3)
        ((8, 8, 8), (8, 6), (5, 2, 1))
    """
    if n < 1 or order < 1:
        raise TnvizError(f"cannot factor {n} into {order} factors", token=str(n))
    primes, m, p = [], n, 2
    while m > 1:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    factors = [1] * order
    for q in sorted(primes, reverse=True):
        k = factors.index(min(factors))
        factors[k] *= q
    return tuple(sorted(factors, reverse=True))


def _check_factors(name: str, channels: int, factors: Sequence[int]) -> tuple[int, ...]:
    if math.prod(factors) != channels or any(f < 1 for f in factors):
        raise TnvizError(
            f"{name} factors {tuple(factors)} multiply to {math.prod(factors)}; expected {channels}",
            token=str(tuple(factors)),
        )
    return tuple(factors)


def spatial(config: LayerConfig) -> tuple[str, ...]:
    """The spatial index names of a layer: x, y, z for its kernel axes."""
    if len(config.kernel_size) > len(SPATIAL):
        raise TnvizError(
            f"{len(config.kernel_size)}-D kernels are not supported; at most 3", token=str(config.kernel_size)
        )
    return SPATIAL[: len(config.kernel_size)]


@dataclass(frozen=True)
class FlopContext:
    """What the closed-form FLOP formulas of one forward pass need (one group's layer)."""

    S: int
    T: int
    N: int
    H: tuple[int, ...]
    Lin: tuple[int, ...]
    Lout: tuple[int, ...]

    @property
    def PO(self) -> int:
        return math.prod(self.Lout)

    @property
    def PL(self) -> int:
        return math.prod(self.Lin)

    @property
    def OH(self) -> int:
        return math.prod(o * h for o, h in zip(self.Lout, self.H))

    def axis_step(self, i: int) -> int:
        """Spatial positions times kernel taps while convolving axis i (earlier axes already
        convolved, later ones not yet)."""
        return math.prod(self.Lout[:i]) * math.prod(self.Lin[i + 1 :]) * self.Lout[i] * self.H[i]


class Format:
    """A layer format: a subclass per file in :mod:`tnviz.core.formats` declares its names and
    ranks, builds its diagram, counts parameters and FLOPs in closed form; rate → ranks and
    the rank caps have defaults here.

    Class attributes:
        name: the short name (``"cp"``), used by ``format=`` everywhere.
        listing: position in :data:`~tnviz.core.formats.FORMATS` (tables list formats in this order).
        reshaped: whether the channels are factored into ``order`` factors (the TNN layers).
        title: the drawing title.
        paper_name: the row name in Su et al.'s tables (``"NN-CP"``, ``"TNN-mCP"``).
        twin: for a reshaped format, the classic low-rank format it is compared with.
        description: one line for help texts.
        paper_example: the ranks and configuration of the paper's 64 → 64, 3×3 example.
    """

    name: str = ""
    listing: int = 100
    reshaped: bool = False
    title: str = ""
    paper_name: str = ""
    twin: str | None = None
    description: str = ""
    # The layer of the paper's figures (64 → 64 channels, 3×3): rank and configuration
    # (e.g. ``{"rank": 27}``, ``{"rank": 4, "order": 2}``), near 10 % of the dense parameters.
    paper_example: dict = {}

    # -- what a format file defines ------------------------------------------------
    def rank_names(self, config: LayerConfig, m: int) -> tuple[str, ...]:
        """The names of the ranks for this layer (``m`` channel factors when reshaped)."""
        raise NotImplementedError

    def operands(
        self, config: LayerConfig, ranks: dict, s_f: tuple[int, ...], t_f: tuple[int, ...]
    ) -> tuple[list[str], dict, dict]:
        """(operands after X as spec text, sizes of the rank indices, {tensor: the kernel axes it holds})."""
        raise NotImplementedError

    def count_params(self, config: LayerConfig, ranks: dict, s_f: tuple[int, ...], t_f: tuple[int, ...]) -> int:
        """The parameter count in closed form (one group's layer)."""
        raise NotImplementedError

    def reconstruct_flops(self, built: BuiltLayer, H: Sequence[int]) -> int:
        """FLOPs of rebuilding the dense kernel by contracting the parameters in spec order."""
        raise NotImplementedError

    def left_to_right_flops(self, built: BuiltLayer, ctx: FlopContext) -> int | None:
        """FLOPs of applying the factors one by one in spec order; None where no planner would
        (the reshaped formats start with outer products of the activations)."""
        return None

    def rank_caps(self, config: LayerConfig, names: Sequence[str], s_f: tuple[int, ...], t_f: tuple[int, ...]) -> dict:
        """Largest useful value of each rank; by default the size of the weight (so a rate
        near 1 cannot ask for absurd ranks). Tucker-like formats cap by their modes."""
        return {n: max(config.dense_params, 1) for n in names}

    def check(self, config: LayerConfig, m: int) -> None:
        """Refuse a configuration the format cannot build (a clear TnvizError)."""

    # -- shared machinery ------------------------------------------------------------
    def factors(self, config: LayerConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The channel factors (sₗ) and (tₗ) of a reshaped format; (S,) and (T,) otherwise."""
        if not self.reshaped:
            return (config.in_channels,), (config.out_channels,)
        order = config.order
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise TnvizError(f"order must be a positive integer, got {order!r}", token=str(order))
        s_f = (
            _check_factors("in_factors", config.in_channels, config.in_factors)
            if config.in_factors
            else channel_factors(config.in_channels, order)
        )
        self.check(config, len(s_f))
        t_f = (
            _check_factors("out_factors", config.out_channels, config.out_factors)
            if config.out_factors
            else channel_factors(config.out_channels, len(s_f))
        )
        if len(s_f) != len(t_f):
            raise TnvizError(
                f"{len(s_f)} input factors but {len(t_f)} output factors; expected as many", token=str(tuple(t_f))
            )
        return tuple(s_f), tuple(t_f)

    def resolve_ranks(self, config: LayerConfig, m: int, rank: int | dict | None) -> dict:
        """``rank`` (one value for all, or ``{name: value}``) checked against this format's ranks."""
        names = self.rank_names(config, m)
        if not names:
            return {}
        if rank is None:
            raise TnvizError(f"format {self.name!r} needs rank= or rate=", token=self.name)
        if isinstance(rank, dict):
            unknown = set(rank) - set(names)
            if unknown:
                bad = sorted(unknown)[0]
                raise TnvizError(f"rank names {bad!r}; format {self.name!r} has ranks {', '.join(names)}", token=bad)
            missing = [n for n in names if n not in rank]
            if missing:
                raise TnvizError(
                    f"rank for {missing[0]!r} missing; format {self.name!r} has ranks {', '.join(names)}",
                    token=missing[0],
                )
            ranks = dict(rank)
        else:
            ranks = {n: rank for n in names}
        for n, v in ranks.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise TnvizError(f"rank {n}={v!r} must be a positive integer", token=n)
        return ranks

    def build(self, config: LayerConfig, rank: int | dict | None = None) -> BuiltLayer:
        """The spec and sizes of this format for a layer (see :func:`tnviz.core.formats.build_layer`)."""
        if config.groups != 1:
            return _grouped(self.build(config.per_group(), rank), config.groups)
        sp = spatial(config)
        s_f, t_f = self.factors(config)
        if self.reshaped:
            m = len(s_f)
            x_modes = f"b ({' '.join(f's{k}' for k in range(1, m + 1))})"
            y_modes = f"b ({' '.join(f't{k}' for k in range(1, m + 1))})"
            sizes = {f"s{k}": v for k, v in enumerate(s_f, 1)}
            sizes.update({f"t{k}": v for k, v in enumerate(t_f, 1)})
        else:
            m = 1
            x_modes, y_modes = "b s", "b t"
            sizes = {"s": config.in_channels, "t": config.out_channels}
        ranks = self.resolve_ranks(config, m, rank)
        ops, rank_sizes, kernel_holders = self.operands(config, ranks, s_f, t_f)
        sizes.update(rank_sizes)
        tail = " ".join(sp)
        spec = f"X: {x_modes} {tail}".rstrip() + ", " + ", ".join(ops) + f" -> {y_modes} {tail}".rstrip()
        structure = parse_spec(spec + (" | " + tail if sp else ""))  # the one parse of a layer's spec
        # A tensor holding a kernel axis is bound by its whole shape (the signal X stays free).
        for op in structure.operands[1:]:
            if op.name in kernel_holders:
                sizes[op.name] = tuple(config.kernel_size[sp.index(i)] if i in sp else sizes[i] for i in op.indices)
        return BuiltLayer(self.name, structure, sizes, ranks, m if self.reshaped else None, tuple(s_f), tuple(t_f))

    def param_count(self, config: LayerConfig, rank: int | dict | None = None) -> int:
        """The number of parameters, by the closed-form formula (no spec is built: this runs
        inside rank searches)."""
        if config.groups != 1:
            return config.groups * self.param_count(config.per_group(), rank)
        s_f, t_f = self.factors(config)
        ranks = self.resolve_ranks(config, len(s_f), rank)
        return self.count_params(config, ranks, s_f, t_f)

    def ranks_for_rate(self, config: LayerConfig, rate: float) -> dict:
        """Ranks giving the most parameters not above ``rate`` × the dense layer's.

        The policy, the same for every format: ranks grow together (all equal, R) while the
        budget allows, each within its cap; then of all mixes of R and R+1 the one with the
        most parameters within budget is taken, and if that is still under 85 % of the
        budget, of all mixes of R-1 … R+2 (one spreading the ranks more than 2× apart only
        where no mix within 2× reaches 85 %) — ranks stay balanced and the count lands close
        under the budget. mTK and btd refine this (docs/rank_policy.md)."""
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise TnvizError(f"rate must be in (0, 1], got {rate!r}", token=repr(rate))
        if config.groups != 1:  # the same rate for each group's layer
            return self.ranks_for_rate(config.per_group(), rate)
        budget = rate * config.dense_params
        s_f, t_f = self.factors(config)
        names = self.rank_names(config, len(s_f))

        def count(ranks: dict) -> int:
            return self.count_params(config, ranks, s_f, t_f)

        if not names:  # nothing to choose: the format fits the budget or it does not
            fixed = count({})
            if fixed > budget:
                raise TnvizError(
                    f"rate {rate:.4g} allows {int(budget):,} parameters, but format {self.name!r} has no ranks and "
                    f"needs {fixed:,} (rate {_rate_of(fixed, budget, rate)})",
                    token=repr(rate),
                )
            return {}
        return balanced_ranks(self.name, names, count, self.rank_caps(config, names, s_f, t_f), budget, rate)

    def __repr__(self) -> str:
        return f"<format {self.name!r}: {self.description}>"


def _grouped(built: BuiltLayer, groups: int) -> BuiltLayer:
    """One independent copy of the layer per group: a partial-outer-product index ``g`` on
    every parameter, and the channels grouped ``(g s)`` → ``(g t)`` as in ``F.conv2d``."""
    parsed = built.structure
    x, params = parsed.operands[0], parsed.operands[1:]
    x = Operand(x.name, (x.modes[0], ("g", *x.modes[1]), *x.modes[2:]))
    out = parsed.output
    out = Operand(out.name, (out.modes[0], ("g", *out.modes[1]), *out.modes[2:]))
    params = tuple(Operand(p.name, (("g",), *p.modes)) for p in params)
    structure = Spec((x, *params), out, parsed.conv)
    sizes = {k: ((groups, *v) if isinstance(v, tuple) else v) for k, v in built.sizes.items()}
    sizes["g"] = groups
    return BuiltLayer(built.format, structure, sizes, built.ranks, built.order, built.in_factors, built.out_factors)


def _rate_of(params: int, budget: float, rate: float) -> str:
    """The rate ``params`` parameters make, where ``budget`` is ``rate`` of the dense layer's."""
    return f"{params * rate / budget:.4g}" if budget > 0 else "?"


def balanced_ranks(name: str, names: Sequence[str], count, caps: dict, budget: float, rate: float) -> dict:
    """The balanced rank policy (see :meth:`Format.ranks_for_rate`) for rank ``names`` whose
    parameter count is ``count(ranks)``."""
    ranks = {n: 1 for n in names}
    if count(ranks) > budget:
        raise TnvizError(
            f"rate {rate:.4g} allows {int(budget):,} parameters, but format {name!r} needs {count(ranks):,} at "
            f"rank 1 (rate {_rate_of(count(ranks), budget, rate)} or more)",
            token=repr(rate),
        )
    while True:
        grown = {n: min(v + 1, caps[n]) for n, v in ranks.items()}
        if grown == ranks or count(grown) > budget:
            break
        ranks = grown
    # Then the best mix of R and R+1 (finer steps in the parameter count); where that still
    # lands under 85 % of the budget (a Tucker core ∏p·∏q jumps), of R-1..R+2.
    # In the wider pass a mix may spread the ranks up to (R+2)/(R-1) (4 at R=2): it is taken
    # only where no mix with max/min <= 2 reaches 85 % of the budget.
    best, best_count = ranks, count(ranks)
    even, even_count = best, best_count
    for steps in ((0, 1), (-1, 0, 1, 2)):
        if steps != (0, 1) and (even_count >= 0.85 * budget or len(names) > 6):
            break
        for combo in itertools.product(steps, repeat=len(names)):
            trial = {n: max(1, min(caps[n], v + d)) for (n, v), d in zip(ranks.items(), combo)}
            c = count(trial)
            if best_count < c <= budget:
                best, best_count = trial, c
            if even_count < c <= budget and max(trial.values()) <= 2 * min(trial.values()):
                even, even_count = trial, c
    return even if even_count >= 0.85 * budget else best


def kernel_spec(spec: str | Spec) -> str:
    """The spec that reconstructs a layer's dense kernel from its parameters, in ``torch.nn``'s
    layout: (output channels, input channels, *kernel) — as text (:func:`kernel_structure`).

    Example:
        >>> kernel_spec("X: b s x y, A: r s, B: r t x y -> b t x y | x y")
        'A: r s, B: r t x y -> (t) (s) x y'
    """
    return format_spec(kernel_structure(parse_spec(spec) if isinstance(spec, str) else spec), compact=False)


def kernel_structure(parsed: Spec) -> Spec:
    """The parsed spec that reconstructs a layer's dense kernel from its parameters: drops the
    input ``X`` and asks for the output channels, the input channels (X's non-batch,
    non-convolution modes) and the convolution indices."""
    x, params = parsed.operands[0], parsed.operands[1:]
    conv = set(parsed.conv)
    batch = set(x.modes[0])
    t_indices = [i for i in parsed.output.indices if i not in batch | conv]
    # A group index (in X and the output channels) indexes the output channels only: the
    # weight of a grouped F.conv2d is (out_channels, in_channels / groups, kernel...).
    s_indices = [i for i in x.indices if i not in batch | conv | set(t_indices)]
    out = Operand(parsed.output.name, (tuple(t_indices), tuple(s_indices), *((c,) for c in parsed.conv)))
    return Spec(params, out, ())
