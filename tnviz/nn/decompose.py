"""Initialise a tensorial layer by decomposing a pretrained weight (what ``from_dense`` runs).

The decomposition itself is the format's decomposer (:mod:`tnviz.nn.decomposers`, one file
per format: CP-ALS, Tucker/HOOI, TT-SVD, TR-SVD and block-term fits on tensorly's NumPy
backend in float64 — tensorly's global backend is never changed). This module runs it per
channel group, checks memory and the result, and copies the factors into the layer.
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from tnviz.errors import TnvizError
from tnviz.nn.decomposers import BONDS, WORKS, decomposer_for
from tnviz.nn.decomposers.common import PricedAs, numpy_backend

if TYPE_CHECKING:  # layers calls decompose_into; a layer is only read here
    from tnviz.nn.layers import TensorialLayer

__all__ = [
    "decompose_into",
    "decomposition_bytes",
    "decomposition_limit",
    "decomposition_seconds",
    "MEMORY_LIMIT_BYTES",
]

MEMORY_LIMIT_BYTES = 4 * 2**30  # refuse decompositions whose working set would pass this


def decompose_into(layer: TensorialLayer, module: nn.Module, n_iter_max: int = 200, random_state: int = 0) -> None:
    """Set ``layer``'s factors (and bias) from ``module``'s trained weight, one decomposition
    per channel group; sets ``layer.reconstruction_error``."""
    weight = module.weight.detach()
    factory = {"device": weight.device, "dtype": weight.dtype}
    if not torch.isfinite(weight).all():
        raise TnvizError(f"the {type(module).__name__}'s weight holds NaN or Inf: nothing to decompose", token="weight")
    _check_memory(layer, weight)
    decompose = decomposer_for(layer.format)
    W = weight.double().cpu().numpy()
    g = layer.config.groups
    per_group = W.reshape(g, W.shape[0] // g, *W.shape[1:])
    one_group = _one_group(layer)
    factors: dict[str, list[np.ndarray]] = {}
    for k in range(g):
        try:
            with numpy_backend(), warnings.catch_warnings():
                # tensorly's SVDs warn when a rank is above a mode's size, then use the mode's size:
                # the layer's ranks are what they are, and reconstruction_error says how good the fit is
                warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs")
                parts = decompose(one_group, per_group[k], n_iter_max, random_state)
        except TnvizError:
            raise
        except (ValueError, IndexError, np.linalg.LinAlgError) as err:  # tensorly's own refusals
            raise TnvizError(
                f"tensorly cannot decompose this weight as {layer.format!r} with ranks {layer.ranks}: {err}",
                token=layer.format,
            ) from None
        for name, value in parts.items():
            target = tuple(layer.weights[name].shape)[1:] if g > 1 else tuple(layer.weights[name].shape)
            factors.setdefault(name, []).append(_fit(value, target, name))
    with torch.no_grad():
        for name, values in factors.items():
            value = np.stack(values) if g > 1 else values[0]
            layer.weights[name].copy_(torch.as_tensor(value).to(**factory))
        if module.bias is not None:
            layer.bias.copy_(module.bias.detach())
        rebuilt = layer.dense_weight()
    if not torch.isfinite(rebuilt).all():
        raise TnvizError(
            f"the {layer.format!r} decomposition produced NaN or Inf for ranks {layer.ranks}", token=layer.format
        )
    layer.reconstruction_error = float((rebuilt - weight).norm() / weight.norm().clamp_min(1e-30))


def _fit(value: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Zero-pad a factor whose ranks came out smaller than asked (an SVD has at most
    min(m, n) components); the padding adds exact zeros, so the product is unchanged."""
    if value.shape == shape:
        return value
    if value.ndim != len(shape) or any(a > b for a, b in zip(value.shape, shape)):
        raise TnvizError(f"decomposed factor {name!r} has shape {value.shape}; expected {shape}", token=name)
    return np.pad(value, [(0, b - a) for a, b in zip(value.shape, shape)])


def decomposition_bytes(layer: TensorialLayer) -> int:
    """About the memory decomposing a dense weight into ``layer`` takes, in float64: the weight
    and its unfoldings (3 copies), and twice the largest rank-wide intermediate — the weight
    contracted with a factor over its largest mode, of ``weight.numel() / largest × ranks``
    entries, ``ranks`` the product of the decomposer's ``BONDS`` largest ranks (CP-ALS's MTTKRP on
    a 512→512 3×3 kernel at rank 229: 4608 × 229; ring ALS's subchain carries two ranks)."""
    ranks = sorted(layer.ranks.values(), reverse=True)[: BONDS.get(layer.format, 1)]
    config, built = layer.config, layer.built
    modes = [*config.kernel_size, config.in_channels // config.groups, config.out_channels // config.groups]
    if built.order is not None:  # a reshaped format's tensor has its channel-factor pairs as modes
        modes = [math.prod(config.kernel_size), *(s * t for s, t in zip(built.in_factors, built.out_factors))]
    largest = max(1, max(modes))
    return int(config.dense_params * 8 * (3 + 2 * math.prod(ranks) / largest))


def decomposition_seconds(layer: TensorialLayer, n_iter_max: int = 200) -> float:
    """About how long :func:`decompose_into` takes for ``layer`` on this machine: its decomposer's
    ``WORK`` (multiply-adds of its dominant steps, per channel group) at the seconds per unit,
    plus the fixed overhead, that ``benchmarks/decompose_rates.py`` measured for the format
    (``rates.json`` beside the decomposers), scaled by how fast this machine multiplies matrices
    against the one that measured. An estimate to plan by — within a factor of about 2 on the benchmark's kernels
    (its results file says how far on each) — not a bound."""
    config = layer.config
    groups = config.groups
    shape = (config.out_channels // groups, config.in_channels // groups, *config.kernel_size)
    rates = _decomposition_rates()
    work = WORKS[layer.format](_one_group(layer), shape, n_iter_max)
    fmt, work = (work.format, work.work) if isinstance(work, PricedAs) else (layer.format, work)
    if fmt not in rates["seconds_per_work"]:  # a new format's decomposer: its rate not measured yet
        raise TnvizError(
            f"no measured decomposition rate for format {fmt!r}: run python benchmarks/decompose_rates.py --write",
            token=fmt,
        )
    seconds = rates["overhead_seconds"][fmt] + work * rates["seconds_per_work"][fmt]
    return groups * seconds * rates["matmul_rate"] / matmul_rate()


def _one_group(layer: TensorialLayer):
    """The built layer of one channel group, which the decomposer fits (the layer's own when ungrouped)."""
    if layer.config.groups == 1:
        return layer.built
    return layer.format_object.build(layer.config.per_group(), layer.ranks)


@functools.cache
def _decomposition_rates() -> dict:
    from importlib import resources

    return json.loads(resources.files("tnviz.nn.decomposers").joinpath("rates.json").read_text())


def matmul_rate() -> float:
    """Multiply-adds per second of a float64 matrix product here, at torch's thread count now
    (measured once per thread count: about 20 ms)."""
    return _matmul_rate(torch.get_num_threads())


@functools.cache
def _matmul_rate(threads: int) -> float:
    a = torch.randn(384, 384, dtype=torch.float64)
    a @ a  # warm-up
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 384**3 / max(best, 1e-9)


def decomposition_limit() -> int:
    """The memory one decomposition may take: ``MEMORY_LIMIT_BYTES`` or the memory budget
    (:func:`tnviz.execute.memory.memory_budget`), whichever is less."""
    from tnviz.execute.memory import memory_budget

    return min(MEMORY_LIMIT_BYTES, memory_budget())


def _check_memory(layer: TensorialLayer, weight: torch.Tensor) -> None:
    need, limit = decomposition_bytes(layer), decomposition_limit()
    if need > limit:
        largest_rank = max(layer.ranks.values(), default=1)
        raise TnvizError(
            f"decomposing a {tuple(weight.shape)} weight at rank {largest_rank} needs about {need / 2**30:.1f} GiB; "
            f"the limit is {limit / 2**30:.1f} GiB (MEMORY_LIMIT_BYTES and the memory budget) — lower the rank or rate",
            token=str(largest_rank),
        )
