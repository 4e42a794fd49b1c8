"""The paper's complexity table in closed form: parameters and FLOPs of the dense layer and
the reshaped layers (mCP, mTK, mTT, mTR) under Su et al.'s simplifying assumptions
(standard library only).

Assumptions, as in the paper's table:

* spatial sizes X = Y = X′ = Y′ = D (stride 1, ``"same"`` padding), one example (batch 1);
* channels S = T = N, reshaped into m equal factors sₗ = tₗ = n = N^(1/m) (so N = nᵐ);
* a square kernel, H = W = k;
* every rank R (mTK: every pₗ = qₗ = R; mTT: r₁ … rₘ = R, r₀ = 1; mTR: r₀ … rₘ = R).

**Parameters** are exact: each equals :func:`tnviz.core.formats.param_count` (and so the
size of the built diagram's tensors).

**FLOPs** count tnviz's way (2 per multiply-add, the planner's convention) for the
*sequential* evaluation order, the order the paper's forward pass describes and the order
of each format's spec: the input meets the input-side factors one by one (A₁ … Aₘ, U₁ … Uₘ,
T₁ … Tₘ), then the core holding the kernel (C, or mTK's G) convolves, then (mTK only) the
output-side factors V₁ … Vₘ. Every step contracts what no later tensor holds and carries
what a later one does (mCP's r, mTR's r₀). That is ``Diagram.plan(optimize="left-to-right")``
on the layer's diagram, and each FLOP formula equals that plan's FLOPs exactly
(``tests/core/test_complexity.py``). The planner's own choice (``optimize="auto"``) is often
cheaper still: mTT and mTR merge small cores first, and a layer may rebuild its dense
kernel; multiply by the batch for more than one example.

The sequential steps, with n = N^(1/m) (each a count of multiply-adds; ×2 for FLOPs):

====== ==================================================================================
dense  D²·N²·k² (one convolution)
mCP    step l ≤ m: D²·R·N·n (contract sₗ, produce tₗ, carry r); the kernel: D²·R·N·k²
mTK    Uₗ: D²·Rˡ·n^(m+1−l); G: D²·R^(2m)·k²; Vₗ: D²·nˡ·R^(m+1−l) (the two sums agree)
mTT    T₁: D²·N·n·R; Tₗ, l ≥ 2: D²·N·n·R²; the kernel: D²·N·R·k²
mTR    as mTT with r₀ carried: a factor R on every step
====== ==================================================================================

Example:
    >>> COMPLEXITY["mcp"].params
    'R·(m·N^(2/m) + k²)'
    >>> COMPLEXITY["mcp"].params_fn(N=64, m=3, k=3, R=8), COMPLEXITY["mcp"].flops_fn(N=64, m=3, D=32, k=3, R=8)
    (456, 22020096)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tnviz.errors import TnvizError

__all__ = ["Complexity", "COMPLEXITY", "ASSUMPTIONS", "ORDER", "factor", "complexity"]

ASSUMPTIONS = (
    "X = Y = X′ = Y′ = D (stride 1, same padding), S = T = N = nᵐ (m channel factors n = N^(1/m)), "
    "H = W = k, every rank R, batch 1"
)
ORDER = (
    "sequential (the spec's order, Diagram.plan(optimize='left-to-right')): the input-side factors one by one, "
    "then the kernel core's convolution, then (mTK) the output-side factors"
)


def factor(N: int, m: int) -> int:
    """n with nᵐ = N exactly; a TnvizError if N is not an m-th power (the formulas assume it)."""
    for name, v in (("N", N), ("m", m)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise TnvizError(f"{name} must be a positive integer, got {v!r}", token=name)
    n = round(N ** (1 / m))
    for guess in (n - 1, n, n + 1):
        if guess >= 1 and guess**m == N:
            return guess
    raise TnvizError(f"N = {N} is not an m-th power for m = {m}; the formulas assume N = nᵐ", token=str(N))


def _check(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise TnvizError(f"{name} must be a positive integer, got {v!r}", token=name)


@dataclass(frozen=True)
class Complexity:
    """One row of the complexity table: the formulas as text and as functions.

    Attributes:
        format: the format's name (``"dense"``, ``"mcp"``, …).
        params: the parameter count, in N, m, k, R.
        flops: the FLOPs of one example in the sequential order, in N, m, D, k, R.
        params_fn: ``params_fn(N=, m=, k=, R=) -> int``.
        flops_fn: ``flops_fn(N=, m=, D=, k=, R=) -> int``.
    """

    format: str
    params: str
    flops: str
    params_fn: Callable[..., int]
    flops_fn: Callable[..., int]


# -- the formulas, one pair per format ---------------------------------------------------
def _dense_params(N: int, m: int, k: int, R: int) -> int:
    _check(N=N, m=m, k=k, R=R)
    return N * N * k * k


def _dense_flops(N: int, m: int, D: int, k: int, R: int) -> int:
    _check(N=N, m=m, D=D, k=k, R=R)
    return 2 * D * D * N * N * k * k


def _mcp_params(N: int, m: int, k: int, R: int) -> int:
    _check(k=k, R=R)
    n = factor(N, m)
    return R * (m * n * n + k * k)


def _mcp_flops(N: int, m: int, D: int, k: int, R: int) -> int:
    _check(D=D, k=k, R=R)
    n = factor(N, m)
    return 2 * D * D * N * R * (m * n + k * k)


def _mtk_params(N: int, m: int, k: int, R: int) -> int:
    _check(k=k, R=R)
    n = factor(N, m)
    return 2 * m * n * R + R ** (2 * m) * k * k


def _mtk_flops(N: int, m: int, D: int, k: int, R: int) -> int:
    _check(D=D, k=k, R=R)
    n = factor(N, m)
    factors = sum(n ** (m + 1 - l) * R**l for l in range(1, m + 1))  # noqa: E741
    return 2 * D * D * (2 * factors + R ** (2 * m) * k * k)


def _mtt_params(N: int, m: int, k: int, R: int) -> int:
    _check(k=k, R=R)
    n = factor(N, m)
    return n * n * R * (1 + (m - 1) * R) + R * k * k


def _mtt_flops(N: int, m: int, D: int, k: int, R: int) -> int:
    _check(D=D, k=k, R=R)
    n = factor(N, m)
    return 2 * D * D * N * R * (n * (1 + (m - 1) * R) + k * k)


def _mtr_params(N: int, m: int, k: int, R: int) -> int:
    _check(k=k, R=R)
    n = factor(N, m)
    return R * R * (m * n * n + k * k)


def _mtr_flops(N: int, m: int, D: int, k: int, R: int) -> int:
    _check(D=D, k=k, R=R)
    n = factor(N, m)
    return 2 * D * D * N * R * R * (n * (1 + (m - 1) * R) + k * k)


COMPLEXITY: dict[str, Complexity] = {
    "dense": Complexity("dense", "N²·k²", "2·D²·N²·k²", _dense_params, _dense_flops),
    "mcp": Complexity("mcp", "R·(m·N^(2/m) + k²)", "2·D²·N·R·(m·N^(1/m) + k²)", _mcp_params, _mcp_flops),
    "mtk": Complexity(
        "mtk",
        "2·m·N^(1/m)·R + R^(2m)·k²",
        "2·D²·(2·Σₗ₌₁..ₘ N^((m+1−l)/m)·Rˡ + R^(2m)·k²)",
        _mtk_params,
        _mtk_flops,
    ),
    "mtt": Complexity(
        "mtt",
        "N^(2/m)·R·(1 + (m−1)·R) + R·k²",
        "2·D²·N·R·(N^(1/m)·(1 + (m−1)·R) + k²)",
        _mtt_params,
        _mtt_flops,
    ),
    "mtr": Complexity(
        "mtr",
        "R²·(m·N^(2/m) + k²)",
        "2·D²·N·R²·(N^(1/m)·(1 + (m−1)·R) + k²)",
        _mtr_params,
        _mtr_flops,
    ),
}


def complexity(format: str) -> Complexity:
    """The closed-form row of ``format`` (``"dense"``, ``"mcp"``, ``"mtk"``,
    ``"mtt"``, ``"mtr"``)."""
    row = COMPLEXITY.get(format) if isinstance(format, str) else None
    if row is None:
        raise TnvizError(
            f"no closed-form complexity for format {format!r}; the table has {', '.join(COMPLEXITY)}",
            token=str(format),
        )
    return row
