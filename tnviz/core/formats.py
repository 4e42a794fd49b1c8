"""Tensorial layer formats as Diagram builders (standard library only).

A *format* turns a layer shape — input channels S, output channels T, kernel lengths
(empty for a Linear layer) — and ranks into a spec with every parameter bound:

* ``dense``: the layer's own weight ``K[t, s, x, y]``.
* ``svd``: a rank-R factorisation of the (T, S·kernel) matrix.
* ``cp``: CP of the kernel S×H×W×T — 1×1 S→R, one factor per kernel axis on R, 1×1 R→T
  (NN-CP, Denton et al. / Lebedev et al.).
* ``tk``: Tucker-2 on S and T — 1×1 S→R₀, kernel R₀→R₁, 1×1 R₁→T (NN-TK, Kim et al.).
* ``tt``: tensor train over S, H, W, T (NN-TT, Garipov et al.).
* ``tr``: tensor ring over S, H, W, T (NN-TR, Wang et al.).
* ``mcp``, ``mtk``, ``mtt``, ``mtr``: the reshaped TNN layers of Su et al.: channels factored
  row-major into ``order`` balanced factors (64 = 4·4·4), then CP, Tucker, TT or TR across the
  factor pairs (sₗ, tₗ) with the spatial kernel as its own factor or core.

Every format has an exact parameter formula, checked against the built diagram, and
:func:`ranks_for_rate` picks ranks for a target fraction of the dense parameters.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tnviz.errors import TnvizError

__all__ = [
    "FORMATS",
    "RESHAPED",
    "LayerShape",
    "LayerSpec",
    "build_layer",
    "param_count",
    "ranks_for_rate",
    "channel_factors",
    "flop_count",
]

SPATIAL = ("x", "y", "z")


@dataclass(frozen=True)
class LayerShape:
    """A layer's shape: channels in and out, the kernel lengths (``()`` for Linear) and the
    number of channel groups (as in ``nn.Conv2d(groups=…)``)."""

    in_channels: int
    out_channels: int
    kernel: tuple[int, ...] = ()
    groups: int = 1

    @property
    def dense_params(self) -> int:
        total = self.in_channels * self.out_channels // self.groups
        for k in self.kernel:
            total *= k
        return total

    def per_group(self) -> LayerShape:
        """The shape of one group's layer."""
        g = self.groups
        if not isinstance(g, int) or g < 1 or self.in_channels % g or self.out_channels % g:
            raise TnvizError(
                f"groups={g} must divide in_channels={self.in_channels} and out_channels={self.out_channels}",
                token="groups",
            )
        return LayerShape(self.in_channels // g, self.out_channels // g, self.kernel)


@dataclass(frozen=True)
class LayerSpec:
    """A built format: the spec, the sizes that bind every parameter, the ranks used."""

    format: str
    spec: str
    sizes: dict
    ranks: dict
    order: int | None
    in_factors: tuple[int, ...]
    out_factors: tuple[int, ...]

    @property
    def params(self) -> dict[str, tuple[int, ...]]:
        """``{parameter tensor: shape}``."""
        d = self.diagram()
        return {name: d.shape(name) for name in d.tensor_names[1:]}  # type: ignore[misc]

    @property
    def param_count(self) -> int:
        total = 0
        for shape in self.params.values():
            n = 1
            for v in shape:
                n *= v
            total += n
        return total

    def diagram(self, **conv_options):
        """The Diagram, every parameter bound (the input X stays free)."""
        from tnviz.core.diagram import Diagram

        return Diagram.parse(self.spec, sizes=self.sizes, **conv_options)


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
    product = 1
    for f in factors:
        product *= f
    if product != channels or any(f < 1 for f in factors):
        raise TnvizError(
            f"{name} factors {tuple(factors)} multiply to {product}; expected {channels}", token=str(tuple(factors))
        )
    return tuple(factors)


# ---------------------------------------------------------------------------- builders
# Each builder returns (operands after X, output modes, sizes) given the layer and ranks.


def _spatial(shape: LayerShape) -> tuple[str, ...]:
    if len(shape.kernel) > len(SPATIAL):
        raise TnvizError(f"{len(shape.kernel)}-D kernels are not supported; at most 3", token=str(shape.kernel))
    return SPATIAL[: len(shape.kernel)]


def _kernel_sizes(shape: LayerShape, holder: str) -> dict:
    return {f"{holder}.{i}": k for i, k in zip(_spatial(shape), shape.kernel)}


def _build_dense(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    return [f"K: t s {' '.join(sp)}"], {}, {"K": sp}


def _build_svd(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    return [f"A: r s {' '.join(sp)}", "B: t r"], {"r": ranks["r"]}, {"A": sp}


def _build_cp(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    ops = ["A: r s"] + [f"K{i}: r {i}" for i in sp] + ["C: r t"]
    return ops, {"r": ranks["r"]}, {f"K{i}": (i,) for i in sp}


def _build_tk(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    return (
        ["U: s p", f"G: p q {' '.join(sp)}", "V: q t"],
        {"p": ranks["p"], "q": ranks["q"]},
        {"G": sp},
    )


def _train(shape, ranks, ring: bool):
    """Cores over S, each kernel axis, T; a ring closes the last core onto the first by r0."""
    sp = _spatial(shape)
    n = len(sp)
    close = "r0 " if ring else ""
    ops = [f"G0: {close}s r1"]
    ops += [f"G{k}: r{k} {i} r{k + 1}" for k, i in enumerate(sp, 1)]
    ops.append(f"G{n + 1}: r{n + 1} t" + (" r0" if ring else ""))
    sizes = {f"r{k}": ranks[f"r{k}"] for k in range(0 if ring else 1, n + 2)}
    return ops, sizes, {f"G{k}": (i,) for k, i in enumerate(sp, 1)}


def _build_tt(shape, ranks, s_f, t_f):
    return _train(shape, ranks, ring=False)


def _build_tr(shape, ranks, s_f, t_f):
    return _train(shape, ranks, ring=True)


def _build_mcp(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    ops = [f"A{k}: r s{k} t{k}" for k in range(1, len(s_f) + 1)]
    if sp:
        ops.append(f"C: r {' '.join(sp)}")
    return ops, {"r": ranks["r"]}, {"C": sp} if sp else {}


def _build_mtk(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    m = len(s_f)
    ps = " ".join(f"p{k}" for k in range(1, m + 1))
    qs = " ".join(f"q{k}" for k in range(1, m + 1))
    ops = [f"U{k}: s{k} p{k}" for k in range(1, m + 1)]
    ops.append(f"G: {ps} {qs} {' '.join(sp)}".rstrip())
    ops += [f"V{k}: q{k} t{k}" for k in range(1, m + 1)]
    sizes = {f"p{k}": ranks[f"p{k}"] for k in range(1, m + 1)}
    sizes.update({f"q{k}": ranks[f"q{k}"] for k in range(1, m + 1)})
    return ops, sizes, {"G": sp} if sp else {}


def _build_mtt(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    m = len(s_f)
    ops = []
    for k in range(1, m + 1):
        left = f"r{k - 1} " if k > 1 else ""
        right = f" r{k}" if (k < m or sp) else ""
        ops.append(f"T{k}: {left}s{k} t{k}{right}")
    if sp:
        ops.append(f"C: r{m} {' '.join(sp)}")
    last = m if sp else m - 1
    return ops, {f"r{k}": ranks[f"r{k}"] for k in range(1, last + 1)}, {"C": sp} if sp else {}


def _build_mtr(shape, ranks, s_f, t_f):
    sp = _spatial(shape)
    m = len(s_f)
    ops = [f"T{k}: r{k - 1} s{k} t{k} r{k if (k < m or sp) else 0}" for k in range(1, m + 1)]
    if sp:
        ops.append(f"C: r{m} {' '.join(sp)} r0")
    last = m if sp else m - 1
    return ops, {f"r{k}": ranks[f"r{k}"] for k in range(0, last + 1)}, {"C": sp} if sp else {}


@dataclass(frozen=True)
class Format:
    """A registered format: its builder and the names of its ranks for a layer."""

    name: str
    reshaped: bool
    build: Callable
    rank_names: Callable[[LayerShape, int], tuple[str, ...]]
    description: str


def _no_ranks(shape: LayerShape, m: int) -> tuple[str, ...]:
    return ()


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("dense", False, _build_dense, _no_ranks, "the dense layer"),
        Format("svd", False, _build_svd, lambda s, m: ("r",), "rank-R matrix factorisation"),
        Format("cp", False, _build_cp, lambda s, m: ("r",), "CP of the kernel (NN-CP)"),
        Format("tk", False, _build_tk, lambda s, m: ("p", "q"), "Tucker-2 on channels (NN-TK)"),
        Format(
            "tt",
            False,
            _build_tt,
            lambda s, m: tuple(f"r{k}" for k in range(1, len(s.kernel) + 2)),
            "tensor train (NN-TT)",
        ),
        Format(
            "tr",
            False,
            _build_tr,
            lambda s, m: tuple(f"r{k}" for k in range(0, len(s.kernel) + 2)),
            "tensor ring (NN-TR)",
        ),
        Format("mcp", True, _build_mcp, lambda s, m: ("r",), "reshaped CP (TNN-mCP)"),
        Format(
            "mtk",
            True,
            _build_mtk,
            lambda s, m: tuple(f"p{k}" for k in range(1, m + 1)) + tuple(f"q{k}" for k in range(1, m + 1)),
            "reshaped Tucker (TNN-mTK)",
        ),
        Format(
            "mtt",
            True,
            _build_mtt,
            lambda s, m: tuple(f"r{k}" for k in range(1, (m if s.kernel else m - 1) + 1)),
            "reshaped tensor train (TNN-mTT)",
        ),
        Format(
            "mtr",
            True,
            _build_mtr,
            lambda s, m: tuple(f"r{k}" for k in range(0, (m if s.kernel else m - 1) + 1)),
            "reshaped tensor ring (TNN-mTR)",
        ),
    )
}
RESHAPED = tuple(name for name, f in FORMATS.items() if f.reshaped)


def _format(name: str) -> Format:
    if name not in FORMATS:
        raise TnvizError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}", token=str(name))
    return FORMATS[name]


def _resolve_ranks(fmt: Format, shape: LayerShape, m: int, rank: int | dict | None) -> dict:
    names = fmt.rank_names(shape, m)
    if not names:
        return {}
    if rank is None:
        raise TnvizError(f"format {fmt.name!r} needs rank= or rate=", token=fmt.name)
    if isinstance(rank, dict):
        unknown = set(rank) - set(names)
        if unknown:
            bad = sorted(unknown)[0]
            raise TnvizError(f"rank names {bad!r}; format {fmt.name!r} has ranks {', '.join(names)}", token=bad)
        missing = [n for n in names if n not in rank]
        if missing:
            raise TnvizError(
                f"rank for {missing[0]!r} missing; format {fmt.name!r} has ranks {', '.join(names)}", token=missing[0]
            )
        ranks = dict(rank)
    else:
        ranks = {n: rank for n in names}
    for n, v in ranks.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise TnvizError(f"rank {n}={v!r} must be a positive integer", token=n)
    return ranks


def _factors(fmt: Format, shape: LayerShape, order: int, in_factors, out_factors) -> tuple[tuple, tuple]:
    """The channel factors (sₗ) and (tₗ) of a reshaped format; (S,) and (T,) otherwise."""
    if not fmt.reshaped:
        return (shape.in_channels,), (shape.out_channels,)
    m = len(in_factors) if in_factors else order
    if fmt.name == "mtr" and not shape.kernel and m == 1:
        # A ring of one core would be a trace over one tensor's own index (a diagonal).
        raise TnvizError("format 'mtr' on a Linear layer needs order >= 2; a one-core ring is a trace", token="order")
    if not isinstance(order, int) or order < 1:
        raise TnvizError(f"order must be a positive integer, got {order!r}", token=str(order))
    s_f = (
        _check_factors("in_factors", shape.in_channels, in_factors)
        if in_factors
        else channel_factors(shape.in_channels, order)
    )
    t_f = (
        _check_factors("out_factors", shape.out_channels, out_factors)
        if out_factors
        else channel_factors(shape.out_channels, len(s_f))
    )
    if len(s_f) != len(t_f):
        raise TnvizError(
            f"{len(s_f)} input factors but {len(t_f)} output factors; expected as many", token=str(tuple(t_f))
        )
    return tuple(s_f), tuple(t_f)


def build_layer(
    format: str,
    shape: LayerShape,
    rank: int | dict | None = None,
    order: int = 3,
    in_factors: Sequence[int] | None = None,
    out_factors: Sequence[int] | None = None,
) -> LayerSpec:
    """Build a format's spec and sizes for a layer.

    Args:
        format: a name of :data:`FORMATS`.
        shape: the layer shape.
        rank: one rank for all, or ``{rank name: value}``.
        order: m, the number of channel factors of a reshaped format.
        in_factors, out_factors: explicit channel factors (default: balanced).

    Returns:
        A :class:`LayerSpec`; ``Diagram.parse(ls.spec, sizes=ls.sizes)`` is the bound layer.

    Example:
        >>> build_layer("mcp", LayerShape(64, 64, (3, 3)), rank=8).spec
        'X: b (s1 s2 s3) x y, A1: r s1 t1, A2: r s2 t2, A3: r s3 t3, C: r x y -> b (t1 t2 t3) x y | x y'
    """
    fmt = _format(format)
    if shape.groups != 1:
        return _grouped(build_layer(format, shape.per_group(), rank, order, in_factors, out_factors), shape.groups)
    sp = _spatial(shape)
    s_f, t_f = _factors(fmt, shape, order, in_factors, out_factors)
    if fmt.reshaped:
        m = len(s_f)
        x_modes = f"b ({' '.join(f's{k}' for k in range(1, m + 1))})"
        y_modes = f"b ({' '.join(f't{k}' for k in range(1, m + 1))})"
        sizes = {f"s{k}": v for k, v in enumerate(s_f, 1)}
        sizes.update({f"t{k}": v for k, v in enumerate(t_f, 1)})
    else:
        m = 1
        x_modes, y_modes = "b s", "b t"
        sizes = {"s": shape.in_channels, "t": shape.out_channels}
    ranks = _resolve_ranks(fmt, shape, m, rank)
    ops, rank_sizes, kernel_holders = fmt.build(shape, ranks, s_f, t_f)
    sizes.update(rank_sizes)
    tail = " ".join(sp)
    spec = f"X: {x_modes} {tail}".rstrip() + ", " + ", ".join(ops) + f" -> {y_modes} {tail}".rstrip()
    if sp:
        spec += " | " + tail
        # A tensor holding a kernel axis is bound by its whole shape (the signal X stays free).
        from tnviz.core.spec import parse_spec

        for op in parse_spec(spec).operands[1:]:
            if op.name in kernel_holders:
                sizes[op.name] = tuple(shape.kernel[sp.index(i)] if i in sp else sizes[i] for i in op.indices)
    return LayerSpec(format, spec, sizes, ranks, m if fmt.reshaped else None, tuple(s_f), tuple(t_f))


def _grouped(built: LayerSpec, groups: int) -> LayerSpec:
    """One independent copy of the layer per group: a partial-outer-product index ``g`` on
    every parameter, and the channels grouped ``(g s)`` → ``(g t)`` as in ``F.conv2d``."""
    from tnviz.core.spec import Operand, Spec, format_spec, parse_spec

    parsed = parse_spec(built.spec)
    x, params = parsed.operands[0], parsed.operands[1:]
    x = Operand(x.name, (x.modes[0], ("g", *x.modes[1]), *x.modes[2:]))
    out = parsed.output
    out = Operand(out.name, (out.modes[0], ("g", *out.modes[1]), *out.modes[2:]))
    params = tuple(Operand(p.name, (("g",), *p.modes)) for p in params)
    spec = format_spec(Spec((x, *params), out, parsed.conv), compact=False)
    sizes = {k: ((groups, *v) if isinstance(v, tuple) else v) for k, v in built.sizes.items()}
    sizes["g"] = groups
    return LayerSpec(built.format, spec, sizes, built.ranks, built.order, built.in_factors, built.out_factors)


def param_count(
    format: str,
    shape: LayerShape,
    rank: int | dict | None = None,
    order: int = 3,
    in_factors: Sequence[int] | None = None,
    out_factors: Sequence[int] | None = None,
) -> int:
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
    ====== =============================================================
    """
    fmt = _format(format)
    if shape.groups != 1:
        return shape.groups * param_count(format, shape.per_group(), rank, order, in_factors, out_factors)
    s_f, t_f = _factors(fmt, shape, order, in_factors, out_factors)  # no spec built: this runs inside searches
    m = len(s_f)
    r = _resolve_ranks(fmt, shape, m, rank)
    S, T = shape.in_channels, shape.out_channels
    K = shape.dense_params // (S * T)
    H = shape.kernel
    n = len(H)
    if fmt.name == "dense":
        return S * T * K
    if fmt.name == "svd":
        return r["r"] * (S * K + T)
    if fmt.name == "cp":
        return r["r"] * (S + sum(H) + T)
    if fmt.name == "tk":
        return S * r["p"] + r["p"] * r["q"] * K + r["q"] * T
    if fmt.name == "tt":
        ranks = [r[f"r{k}"] for k in range(1, n + 2)]
        return S * ranks[0] + sum(ranks[i] * H[i] * ranks[i + 1] for i in range(n)) + ranks[-1] * T
    if fmt.name == "tr":
        ranks = [r[f"r{k}"] for k in range(0, n + 2)]  # r0 closes the ring
        body = sum(ranks[i + 1] * H[i] * ranks[i + 2] for i in range(n))
        return ranks[0] * S * ranks[1] + body + ranks[-1] * T * ranks[0]
    if fmt.name == "mcp":
        return r["r"] * (sum(a * b for a, b in zip(s_f, t_f)) + (K if n else 0))
    if fmt.name == "mtk":
        p = [r[f"p{k}"] for k in range(1, m + 1)]
        q = [r[f"q{k}"] for k in range(1, m + 1)]
        core = 1
        for v in p + q:
            core *= v
        return sum(a * b for a, b in zip(s_f, p)) + core * K + sum(a * b for a, b in zip(q, t_f))
    if fmt.name == "mtt":
        rk = [1] + [r[f"r{k}"] for k in range(1, (m if n else m - 1) + 1)] + ([] if n else [1])
        cores = sum(rk[k - 1] * s_f[k - 1] * t_f[k - 1] * rk[k] for k in range(1, m + 1))
        return cores + (rk[m] * K if n else 0)
    # mtr
    last = m if n else m - 1
    rk = [r[f"r{k}"] for k in range(0, last + 1)]
    ring = rk + [rk[0]] if not n else rk
    cores = sum(ring[k - 1] * s_f[k - 1] * t_f[k - 1] * ring[k] for k in range(1, m + 1))
    return cores + (rk[m] * K * rk[0] if n else 0)


def ranks_for_rate(
    format: str,
    shape: LayerShape,
    rate: float,
    order: int = 3,
    in_factors: Sequence[int] | None = None,
    out_factors: Sequence[int] | None = None,
) -> dict:
    """Ranks giving the most parameters not above ``rate`` × the dense layer's.

    Policy: ranks grow together (all equal, R) while the budget allows; then of all mixes of
    R and R+1 the one with the most parameters within budget is taken, and if that is still
    under 85 % of the budget, of all mixes of R-1 … R+2 — ranks stay balanced and the count
    lands close under the budget. Each rank stays within its natural cap (a Tucker rank at
    most its mode's size).

    Raises:
        TnvizError: when even rank 1 exceeds the budget, or the rate is not in (0, 1].
    """
    if not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise TnvizError(f"rate must be in (0, 1], got {rate!r}", token=repr(rate))
    fmt = _format(format)
    if shape.groups != 1:  # the same rate for each group's layer
        return ranks_for_rate(format, shape.per_group(), rate, order, in_factors, out_factors)
    budget = rate * shape.dense_params
    m = order if fmt.reshaped else 1
    names = fmt.rank_names(shape, len(in_factors) if in_factors else m)

    def count(ranks: dict) -> int:
        return param_count(format, shape, ranks, order, in_factors, out_factors)

    if not names:  # nothing to choose: the format fits the budget or it does not
        fixed = count({})
        if fixed > budget:
            raise TnvizError(
                f"rate {rate} allows {int(budget)} parameters, but format {format!r} has no ranks and needs {fixed}",
                token=repr(rate),
            )
        return {}

    ranks = {n: 1 for n in names}
    if count(ranks) > budget:
        raise TnvizError(
            f"rate {rate} allows {int(budget)} parameters, but format {format!r} needs {count(ranks)} at rank 1",
            token=repr(rate),
        )
    caps = _rank_caps(fmt, shape, names, build_layer(format, shape, ranks, order, in_factors, out_factors))
    while True:
        grown = {n: min(v + 1, caps[n]) for n, v in ranks.items()}
        if grown == ranks or count(grown) > budget:
            break
        ranks = grown
    # Then the best mix of R and R+1 (balanced ranks, finer steps in the parameter count);
    # where that still lands under 85 % of the budget (a Tucker core ∏p·∏q jumps), of R-1..R+2.
    best, best_count = ranks, count(ranks)
    for steps in ((0, 1), (-1, 0, 1, 2)):
        if steps != (0, 1) and (best_count >= 0.85 * budget or len(names) > 6):
            break
        for combo in itertools.product(steps, repeat=len(names)):
            trial = {n: max(1, min(caps[n], v + d)) for (n, v), d in zip(ranks.items(), combo)}
            c = count(trial)
            if best_count < c <= budget:
                best, best_count = trial, c
    return best


def _rank_caps(fmt: Format, shape: LayerShape, names: Sequence[str], built: LayerSpec) -> dict:
    """Largest useful value of each rank: a Tucker rank at most its mode's size; others the
    size of the unfolding they split (so a rate near 1 cannot ask for absurd ranks)."""
    S, T = shape.in_channels, shape.out_channels
    if fmt.name == "tk":
        return {"p": S, "q": T}
    if fmt.name == "mtk":
        caps = {}
        for k, (a, b) in enumerate(zip(built.in_factors, built.out_factors), 1):
            caps[f"p{k}"], caps[f"q{k}"] = a, b
        return caps
    big = max(shape.dense_params, 1)
    return {n: big for n in names}


def flop_count(
    format: str,
    shape: LayerShape,
    rank: int | dict | None,
    batch: int,
    lengths: Sequence[int] = (),
    padding: Sequence[int] | int = 0,
    stride: Sequence[int] | int = 1,
    dilation: Sequence[int] | int = 1,
    *,
    strategy: str = "left-to-right",
    order: int = 3,
    in_factors: Sequence[int] | None = None,
    out_factors: Sequence[int] | None = None,
) -> int:
    """FLOPs of one forward pass by closed-form formula; 2 per multiply-add, 1 per product
    that sums nothing (an outer product).

    ``strategy="left-to-right"`` applies the factors one by one to the activations, in spec
    order (``optimize="left-to-right"``); ``strategy="reconstruct"`` first rebuilds the dense
    kernel by contracting the parameters in spec order (a chain), then runs one dense
    convolution. The planner's ``optimize="reconstruct"`` merges the parameters in the best
    order, so its FLOPs are at most this figure. ``order``, ``in_factors`` and ``out_factors``
    are those of :func:`build_layer` (reshaped formats).

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
    ====== ==================================================================================

    The reshaped formats have no left-to-right formula: in spec order their first products are
    outer products of the activations with whole factors, which no planner would choose.
    """
    fmt = _format(format)
    if strategy not in ("left-to-right", "reconstruct"):
        raise TnvizError(
            f"unknown strategy {strategy!r}; expected 'left-to-right' or 'reconstruct'", token=repr(strategy)
        )
    if fmt.reshaped and strategy != "reconstruct":
        raise TnvizError(
            f"no left-to-right FLOP formula for the reshaped format {format!r}; use strategy='reconstruct' "
            "or Diagram.plan",
            token=format,
        )
    if shape.groups != 1:
        per = shape.per_group()
        return shape.groups * flop_count(
            format,
            per,
            rank,
            batch,
            lengths,
            padding,
            stride,
            dilation,
            strategy=strategy,
            order=order,
            in_factors=in_factors,
            out_factors=out_factors,
        )
    n = len(shape.kernel)
    if len(lengths) != n:
        raise TnvizError(f"{len(lengths)} input lengths for a {n}-D kernel", token=str(tuple(lengths)))

    def per_axis(value, name):
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
        if len(values) != n:
            raise TnvizError(f"{name} has {len(values)} entries; expected {n}", token=name)
        return values

    pads, strides, dils = per_axis(padding, "padding"), per_axis(stride, "stride"), per_axis(dilation, "dilation")
    Lin = tuple(lengths)
    H = shape.kernel
    for name, values, low in (("stride", strides, 1), ("dilation", dils, 1), ("length", Lin, 1)):
        for v in values:
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise TnvizError(f"{name} {v!r} must be an integer >= {low}", token=name)
    totals = []
    for i, p in enumerate(pads):
        if p == "same":
            totals.append(dils[i] * (H[i] - 1))
        elif p == "valid":
            totals.append(0)
        elif isinstance(p, int) and not isinstance(p, bool) and p >= 0:
            totals.append(2 * p)
        else:
            raise TnvizError(f"bad padding {p!r}; expected a non-negative int, 'same' or 'valid'", token=repr(p))
    Lout = tuple((Lin[i] + totals[i] - dils[i] * (H[i] - 1) - 1) // strides[i] + 1 for i in range(n))
    if any(o < 1 for o in Lout):
        raise TnvizError(f"output lengths {Lout}: the kernel {H} does not fit the input {Lin}", token=str(Lin))
    S, T, N = shape.in_channels, shape.out_channels, batch
    built = build_layer(format, shape, rank, order, in_factors, out_factors)
    r = built.ranks

    def prod(values) -> int:
        total = 1
        for v in values:
            total *= v
        return total

    PO, PL = prod(Lout), prod(Lin)
    OH = prod(Lout[i] * H[i] for i in range(n))

    def axis_step(i: int) -> int:  # spatial positions while convolving axis i
        return prod(Lout[:i]) * prod(Lin[i + 1 :]) * Lout[i] * H[i]

    if fmt.name == "dense":
        return 2 * N * T * S * OH
    if strategy == "reconstruct":
        return _reconstruct_flops(fmt.name, built, H) + 2 * N * T * S * OH
    if fmt.name == "svd":
        return 2 * N * r["r"] * S * OH + 2 * N * PO * r["r"] * T
    if fmt.name == "cp":
        R = r["r"]
        return 2 * N * PL * S * R + sum(2 * N * R * axis_step(i) for i in range(n)) + 2 * N * PO * R * T
    if fmt.name == "tk":
        return 2 * N * PL * S * r["p"] + 2 * N * r["p"] * r["q"] * OH + 2 * N * PO * r["q"] * T
    ranks = [r[f"r{k}"] for k in range(1, n + 2)]
    r0 = r["r0"] if fmt.name == "tr" else 1
    body = sum(2 * N * r0 * ranks[i] * ranks[i + 1] * axis_step(i) for i in range(n))
    return 2 * N * PL * S * r0 * ranks[0] + body + 2 * N * PO * r0 * ranks[-1] * T


def _reconstruct_flops(name: str, built: LayerSpec, H: Sequence[int]) -> int:
    """FLOPs of rebuilding the dense kernel, contracting the parameters in spec order."""
    r = built.ranks
    n = len(H)
    K = math.prod(H)
    if built.order is None:  # classic formats: channels unfactored
        sizes = built.sizes
        S, T = sizes["s"], sizes["t"]
        if name == "svd":
            return 2 * r["r"] * S * K * T
        if name == "cp":
            R = r["r"]
            return sum(R * S * math.prod(H[: i + 1]) for i in range(n)) + 2 * R * S * K * T
        if name == "tk":
            P, Q = r["p"], r["q"]
            return 2 * S * P * Q * K + 2 * S * Q * K * T
        ranks = [r[f"r{k}"] for k in range(1, n + 2)]
        r0 = r["r0"] if name == "tr" else 1
        body = sum(2 * r0 * S * math.prod(H[:i]) * ranks[i] * H[i] * ranks[i + 1] for i in range(n))
        return body + 2 * r0 * S * K * ranks[-1] * T
    s_f, t_f, m = built.in_factors, built.out_factors, built.order
    S, T = math.prod(s_f), math.prod(t_f)
    st = [math.prod(s_f[:k]) * math.prod(t_f[:k]) for k in range(m + 1)]  # st[k] = ∏ⱼ≤ₖ sⱼtⱼ
    if name == "mcp":
        R = r["r"]
        chain = sum(R * st[k] for k in range(2, m + 1))
        if n:
            return chain + 2 * R * S * T * K
        return chain + R * st[m]  # the last product also sums r: counted twice
    if name == "mtk":
        p = [r[f"p{k}"] for k in range(1, m + 1)]
        q = [r[f"q{k}"] for k in range(1, m + 1)]
        P, Q = math.prod(p), math.prod(q)
        first = sum(2 * math.prod(s_f[:k]) * math.prod(p[k:]) * Q * K * s_f[k] for k in range(m))
        return first + sum(2 * S * math.prod(t_f[:k]) * math.prod(q[k:]) * K * t_f[k] for k in range(m))
    # mtt / mtr: core k holds r_{k-1} sₖ tₖ rₖ; a Linear layer's last core has no rₘ (mtr: r₀ instead)
    r0 = r["r0"] if name == "mtr" else 1
    rk = [r.get(f"r{k}", 1) for k in range(m + 1)]
    if name == "mtr":
        rk[0] = 1  # r₀ is carried as its own factor
    if not n:
        rk[m] = 1
    chain = sum(2 * r0 * st[k] * rk[k - 1] * rk[k] for k in range(2, m + 1))
    return chain + (2 * S * T * rk[m] * r0 * K if n else 0)
