"""Helpers the decomposers share: tensorly's decompositions (on its NumPy backend for this thread),
Tucker ranks checked, and the reshaped formats' pairing of channel factors. CP-ALS is in
:mod:`cp_als`, tensor-ring cores in :mod:`ring_als`."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tnviz.core.formats import BuiltLayer
from tnviz.errors import TnvizError

__all__ = [
    "numpy_backend",
    "tensorly_functions",
    "check_tucker_ranks",
    "factor_pairs",
    "pair_modes",
    "PricedAs",
    "svd_work",
    "tucker_work",
    "train_work",
]


@contextlib.contextmanager
def numpy_backend() -> Iterator[None]:
    """tensorly's NumPy backend for this thread while the block runs, whatever backend the
    process has set (tensorly-torch sets the pytorch one when imported); restored after. The
    decomposers pass NumPy arrays, which tensorly's other backends refuse."""
    import tensorly as tl

    with tl.backend_context("numpy", local_threadsafe=True):
        yield


def tensorly_functions():
    """(parafac, partial_tucker, tensor_train, tensor_ring) from tensorly, or a clear refusal."""
    try:
        import tensorly  # noqa: F401
        from tensorly.decomposition import parafac, partial_tucker, tensor_ring, tensor_train
    except ImportError as err:  # tensorly is an extra; it also needs 'packaging'
        raise TnvizError(
            f"from_dense needs tensorly (pip install 'tnviz[tensorly]'): {err}", token="tensorly"
        ) from None
    return parafac, partial_tucker, tensor_train, tensor_ring


def check_tucker_ranks(sizes: dict[str, int], ranks: dict) -> None:
    """tensorly's Tucker returns garbage for a rank above its mode's size: refuse it."""
    for name, size in sizes.items():
        if ranks[name] > size:
            raise TnvizError(
                f"Tucker rank {name}={ranks[name]} exceeds its mode's size {size}; expected at most {size}",
                token=name,
            )


@dataclass(frozen=True)
class PricedAs:
    """A decomposer's ``WORK`` in another format's units: what it runs is that format's algorithm
    (CP of a matrix is the truncated SVD), so it is priced at that format's rate."""

    format: str
    work: float


def svd_work(rows: int, columns: int) -> float:
    """Multiply-adds of a dense SVD of a rows × columns matrix, to a constant: rows·columns·min."""
    return float(rows) * columns * min(rows, columns)


def tucker_work(shape: tuple[int, ...], modes: list[int]) -> float:
    """The HOSVD's SVDs of a Tucker decomposition over ``modes`` of a tensor of ``shape``: each
    mode's unfolding (the HOOI sweeps after it cost a multiple of that, which a format's rate in
    ``rates.json`` takes in)."""
    size = math.prod(shape)
    return sum(svd_work(shape[k], size // shape[k]) for k in modes)


def train_work(shape: tuple[int, ...], ranks: list[int]) -> float:
    """TT-SVD's SVDs of a tensor of ``shape`` at bond ranks ``ranks`` (r₀ … r_d): the unfolding
    (r_{k-1}·I_k) × (I_{k+1}⋯I_d) of each step."""
    work, rest = 0.0, math.prod(shape)
    for k, size in enumerate(shape[:-1]):
        rest //= size
        work += svd_work(ranks[k] * size, rest)
    return work


def pair_modes(spec: BuiltLayer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The mode sizes of :func:`factor_pairs`'s tensor for a weight of ``shape`` (T, S, *kernel)."""
    kernel = shape[2:]
    pairs = tuple(s * t for s, t in zip(spec.in_factors, spec.out_factors))
    return (*pairs, math.prod(kernel)) if kernel else pairs


def factor_pairs(spec: BuiltLayer, W: np.ndarray) -> np.ndarray:
    """A reshaped format's view of W (T, S, *kernel): one mode per channel-factor pair
    (sₗ·tₗ), then the kernel as one mode, as in Su et al."""
    s_f, t_f = spec.in_factors, spec.out_factors
    m = len(s_f)
    kernel = W.shape[2:]
    n = len(kernel)
    Wr = W.reshape(*t_f, *s_f, *kernel)
    axes = []
    for k in range(m):
        axes += [m + k, k]  # s_k then t_k
    axes += list(range(2 * m, 2 * m + n))
    return np.transpose(Wr, axes).reshape(pair_modes(spec, W.shape))
