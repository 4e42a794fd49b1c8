"""Tensor-ring cores for the decomposers: TR-SVD (TT-SVD embedded where TR-SVD cannot split the
first mode) refined by ring ALS, whose normal equations come from the cores' transfer matrices."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from tnviz.nn.decomposers.common import tensorly_functions, train_work
from tnviz.nn.decomposers.cp_als import EXACT_FIT

__all__ = ["ring_cores", "ring_als", "ring_work"]

RING_SCREEN_SWEEPS = 150  # ring-ALS sweeps every start gets
RING_PROMISING = 1e-3  # a start whose fit is then below this gets RING_SWEEPS more
RING_SWEEPS = 2000
RING_RESTARTS = 64  # random ring-ALS starts tried after the TR-SVD start, while the fit is not exact
# The TR-SVD start stops while its fit is above RING_FAR once a sweep gains less than RING_CREEP of
# it, and when it ends there, no random start follows: a weight that far from a ring (random
# ResNet-18 kernels: 0.90-0.96) gains little from more sweeps (a 64→64 3×3 kernel: 0.931 when it
# stops, 0.908 after 150 sweeps and 3 s) and nothing from restarts, where a representable one's
# starts end at 0.13-0.18 before a restart finds it exactly (tests/nn/test_exact_recovery.py).
# Without this every layer spent all of RING_SECONDS: 81 s for ResNet-18 in 'tr'.
RING_FAR = 0.5
RING_CREEP = 1e-3
RING_SECONDS = 4.0  # ring ALS stops (keeping its best so far) once this much time has gone: a kernel that is
# not exactly representable spends all of it, per channel group, so it is kept short


def ring_work(shape: tuple[int, ...], ranks: list[int]) -> float:
    """Multiply-adds of :func:`ring_als` after its TR-SVD start, to a constant: the start's SVDs
    and ``RING_SCREEN_SWEEPS`` sweeps, each solving every core against the tensor contracted with
    the rest of the ring (its size times the core's two ranks). A weight far from a ring stops
    sooner (``RING_CREEP``), which a format's rate in ``rates.json`` takes in."""
    size = math.prod(shape)
    sweep = sum(size * ranks[k] * ranks[k + 1] for k in range(len(shape)))
    return train_work(shape, [1, *ranks[1:-1], 1]) + RING_SCREEN_SWEEPS * sweep


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


def _ring_full(cores: list[np.ndarray]) -> np.ndarray:
    """The tensor of a ring of cores (r_k, n_k, r_{k+1}), the last closing onto the first: one
    torch einsum, whose path (opt_einsum's) keeps the intermediates small. (The chain of all the
    cores before a trace would hold r₀² times the tensor: 4 GB and 10 s for a 512→512 3×3 kernel
    at ranks 15; the chain of all but one, closed by it, 350 MB and 3 s for mtr's at ranks 34.)"""
    import torch

    d = len(cores)
    modes = [chr(ord("A") + k) for k in range(d)]
    bonds = [chr(ord("a") + k) for k in range(d)] + ["a"]
    equation = ",".join(bonds[k] + modes[k] + bonds[k + 1] for k in range(d)) + "->" + "".join(modes)
    return torch.einsum(equation, *(torch.from_numpy(np.ascontiguousarray(c)) for c in cores)).numpy()


def _subchain_normal_equations(X: np.ndarray, cores: list[np.ndarray], k: int, order: list[int]):
    """(M Mᵀ, M X_(k)ᵀ) for core ``k`` of a ring, M[(a, b), rest] the unfolding of the subchain
    of the cores in ``order`` (k+1, …, k−1): M Mᵀ from each core's transfer matrix
    E[(x, x'), (y, y')] = Σ_n G[x, n, y] G[x', n, y'], M X_(k)ᵀ one einsum of X with the cores.
    In torch, whose einsum runs every pairwise step as a batched matrix product (NumPy's ran the
    transfer matrices and some steps as plain loops: 10 of mtr's 11 s on a 256→256 3×3 kernel)."""
    import torch

    tcores = {j: torch.from_numpy(cores[j]) for j in order}
    product = None
    for j in order:
        c = tcores[j]
        transfer = torch.einsum("xny,XnY->xXyY", c, c).reshape(c.shape[0] ** 2, c.shape[2] ** 2)
        product = transfer if product is None else product @ transfer
    ra, rb = cores[k].shape[0], cores[k].shape[2]
    gram = product.reshape(rb, rb, ra, ra).permute(2, 0, 3, 1).reshape(ra * rb, ra * rb)
    letters = [chr(ord("A") + m) for m in range(X.ndim)]  # X's modes; bonds in lower case below
    bonds = [chr(ord("a") + m) for m in range(len(order) + 1)]  # bonds[0] = b … bonds[-1] = a
    operands = ["".join(letters)] + [bonds[m] + letters[j] + bonds[m + 1] for m, j in enumerate(order)]
    equation = ",".join(operands) + f"->{bonds[-1]}{bonds[0]}{letters[k]}"
    rhs = torch.einsum(equation, torch.from_numpy(np.ascontiguousarray(X)), *(tcores[j] for j in order))
    return gram.numpy(), rhs.reshape(ra * rb, X.shape[k]).numpy()


def _ring_sweeps(
    X: np.ndarray, cores: list[np.ndarray], sweeps: int, norm: float, deadline: float = np.inf, creep: float = 0.0
) -> tuple[list[np.ndarray], float]:
    """ALS over the ring: each core in turn is the least-squares solution against X unfolded
    at its mode, the other cores' subchain fixed, with a proximal term λ‖G − G_old‖² (λ a tenth
    of the squared residual, so it fades as the fit becomes exact: it keeps ALS out of some of
    its swamps); until the relative change of the fit is below 1e-12, the fit is exact
    (≤ ``EXACT_FIT``), ``sweeps`` sweeps, or the ``deadline`` (``time.perf_counter()``) has
    passed, or the fit is above ``RING_FAR`` and a sweep gained less than ``creep`` of it. Each
    sweep lowers the fit or keeps it. Returns the cores and the relative fit."""
    d = len(cores)
    cores = [c.copy() for c in cores]
    fit = float(np.linalg.norm(_ring_full(cores) - X)) / norm
    for _ in range(sweeps):
        damping = np.sqrt(0.1) * fit * norm  # √λ
        for k in range(d):
            # the subchain G_{k+1} … G_{k-1} (around the ring): (r_{k+1}, n_{k+1}, …, n_{k-1}, r_k), M its
            # unfolding [(a, b), rest]; X_(k)[i, rest] = Σ_ab G_k[a, i, b] M[(a, b), rest]. The normal
            # equations (M Mᵀ + λI) G = M X_(k)ᵀ + λ G_old, never M itself: M has as many columns as X
            # has entries over n_k (a 512→512 3×3 kernel at ranks 15: 240 × 786,432, and its lstsq
            # about 30 s per core), while M Mᵀ is the product of the cores' transfer matrices.
            order = [(k + j) % d for j in range(1, d)]
            gram, rhs = _subchain_normal_equations(X, cores, k, order)
            ra, rb = cores[k].shape[0], cores[k].shape[2]
            old = cores[k].transpose(0, 2, 1).reshape(ra * rb, -1)
            lam = damping**2
            sol = np.linalg.lstsq(gram + lam * np.eye(ra * rb), rhs + lam * old, rcond=None)[0]  # (ra·rb, n_k)
            cores[k] = sol.reshape(ra, rb, X.shape[k]).transpose(0, 2, 1)
        new = float(np.linalg.norm(_ring_full(cores) - X)) / norm
        done = not np.isfinite(new) or new <= EXACT_FIT or abs(fit - new) <= 1e-12 * max(fit, 1e-300)
        done = done or time.perf_counter() > deadline or (new > RING_FAR and fit - new < creep * new)
        fit = new
        if done:
            break
    return cores, fit


def ring_als(X: np.ndarray, cores: list[np.ndarray], ranks: list[int], seed: int) -> list[np.ndarray]:
    """Refine ring cores (TR-SVD's, or TT-SVD's embedded in the ring) by alternating least
    squares at the full ranks ``ranks`` (r₀, …, r_{d-1}, r₀): TR-SVD alone often cannot reach a
    ring that represents X exactly (it splits r₀·r₁ off the first mode, and falls back to a
    train where that does not fit), and ALS from one start often stalls in a local minimum.
    The first start is the given cores zero-padded to the ranks plus small noise (so ALS can
    use the padded ranks); while the fit is not exact (≤ ``EXACT_FIT``) and not far (≤ ``RING_FAR``),
    random starts follow, up to ``RING_RESTARTS`` of them, all within ``RING_SECONDS`` (checked
    after every sweep). Each start gets
    ``RING_SCREEN_SWEEPS`` sweeps, and ``RING_SWEEPS`` more where its fit is then below
    ``RING_PROMISING``. The best fit is kept, never worse than the given cores' own (they are
    returned, padded, when no refinement beats them). Deterministic for a seed, unless the
    time limit cuts the restarts short."""
    d = X.ndim
    norm = max(float(np.linalg.norm(X)), 1e-300)
    shapes = [(ranks[k], X.shape[k], ranks[k + 1]) for k in range(d)]
    padded = [np.pad(c, [(0, b - a) for a, b in zip(c.shape, s)]) for c, s in zip(cores, shapes)]
    best = padded
    best_fit = float(np.linalg.norm(_ring_full(padded) - X)) / norm
    if best_fit <= EXACT_FIT or d < 2:
        return best
    rng = np.random.default_rng(seed)
    scale = norm ** (1 / d)  # each core's share of X's norm, roughly
    deadline = time.perf_counter() + RING_SECONDS
    for attempt in range(RING_RESTARTS + 1):
        if attempt == 0:
            start = [c + 1e-3 * scale * rng.standard_normal(c.shape) / np.sqrt(c.size) for c in padded]
        else:
            start = [scale * rng.standard_normal(s) / np.sqrt(s[0] * s[2]) ** 0.5 for s in shapes]
        # the TR-SVD start may stop where it creeps; a random start (near a fit only) runs its sweeps
        creep = RING_CREEP if attempt == 0 else 0.0
        refined, fit = _ring_sweeps(X, start, RING_SCREEN_SWEEPS, norm, deadline, creep)
        if EXACT_FIT < fit < RING_PROMISING:
            refined, fit = _ring_sweeps(X, refined, RING_SWEEPS, norm, deadline)
        if np.isfinite(fit) and fit < best_fit:
            best, best_fit = refined, fit
        if best_fit <= EXACT_FIT or time.perf_counter() > deadline or best_fit > RING_FAR:
            break
    return best
