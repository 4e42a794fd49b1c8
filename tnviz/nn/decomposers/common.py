"""Helpers the decomposers share: tensorly's decompositions, CP-ALS with fallbacks, TR-SVD
with a TT-SVD fallback, and the reshaped formats' pairing of channel factors."""

from __future__ import annotations

import warnings

import numpy as np

from tnviz.core.formats import BuiltLayer
from tnviz.errors import TnvizError

__all__ = ["tensorly_functions", "cp_als", "ring_cores", "check_tucker_ranks", "factor_pairs"]


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


def cp_als(X: np.ndarray, rank: int, n_iter_max: int, seed: int):
    """CP-ALS from an SVD start; from a random start where that fails (tensorly's SVD start
    raises for a rank above a mode's size, and can give NaN); failing both, at lower ranks
    (the smallest mode's size, half the rank, a quarter, …) — the missing components are
    then zero (the caller pads) and the layer's ``reconstruction_error`` says how good the fit is."""
    from tensorly.cp_tensor import CPTensor

    parafac = tensorly_functions()[0]
    if X.ndim == 1:  # one mode: the vector itself is its rank-1 CP
        return CPTensor((np.ones(1), [X.reshape(-1, 1)]))
    ranks = {rank, min(rank, min(X.shape))}  # the rank, the smallest mode's size, then halvings
    r = rank
    while r > 1:
        r //= 2
        ranks.add(r)
    attempts = [(r, init) for r in sorted(ranks, reverse=True) for init in ("svd", "random")]
    for r, init in attempts:
        try:
            with warnings.catch_warnings():
                # tensorly's SVD start warns, then fills the columns beyond a mode's size at
                # random: the documented behaviour we rely on, not news for the user.
                warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs")
                cp = parafac(X, r, n_iter_max=n_iter_max, init=init, random_state=seed)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if all(np.isfinite(f).all() for f in cp.factors) and np.isfinite(cp.weights).all():
            return cp
    raise TnvizError(
        f"CP-ALS at rank {rank} diverged (NaN) for a tensor of shape {X.shape}; lower the rank", token=str(rank)
    )


def ring_cores(X: np.ndarray, ranks: list[int]) -> list[np.ndarray]:
    """TR-SVD cores; where TR-SVD cannot split the first mode into r₀·r₁ (it needs
    r₀·r₁ ≤ that mode's size), the TT-SVD cores instead, embedded in the ring: the closing
    rank's index 0 carries the train and the rest is zero-padded by the caller — exact."""
    _, _, tensor_train, tensor_ring = tensorly_functions()
    try:
        with warnings.catch_warnings():
            # a Linear layer's weight is a matrix: tensorly notes that a ring over two modes is trivial
            warnings.filterwarnings("ignore", message="Determining the TR-rank for the trivial case")
            return list(tensor_ring(X, rank=ranks).factors)
    except ValueError:
        return list(tensor_train(X, rank=[1, *ranks[1:-1], 1]).factors)


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
    K = int(np.prod(kernel)) if n else 1
    return np.transpose(Wr, axes).reshape(*[s_f[k] * t_f[k] for k in range(m)], *([K] if n else []))
