"""Helpers the decomposers share: tensorly's decompositions, CP-ALS with restarts and fallbacks,
TR-SVD with a TT-SVD fallback refined by ring ALS, and the reshaped formats' pairing of channel factors."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator

import numpy as np

from tnviz.core.formats import BuiltLayer
from tnviz.errors import TnvizError

__all__ = [
    "numpy_backend",
    "tensorly_functions",
    "cp_als",
    "ring_cores",
    "ring_als",
    "check_tucker_ranks",
    "factor_pairs",
]

EXACT_FIT = 1e-10  # a relative fit this good is taken as exact: no more restarts or sweeps
CP_RESTARTS = 4  # random CP-ALS starts tried after the SVD start, while the fit is not exact
CP_SECONDS = 5.0  # no further CP restart begins once this much time has gone (the first start always runs)
CP_POLISH_SWEEPS = 100  # exact-residual ALS sweeps after each of tensorly's CP-ALS runs
# A first CP fit (tensorly's defaults) this close: the tensor is likely exactly representable, and
# the polish sweeps and restarts that find exact factors are worth their time. Otherwise (a weight
# that is not low-rank: relative errors of 0.3-0.9) more ALS buys little — benchmarks/decompose.py
# measures error and time beside tensorly-torch's CP — so no restarts, and CP_REFINE polish
# sweeps per iteration the first run took (a count, not a time: the result is the same on any machine).
CP_PROMISING = 0.05
CP_REFINE = 0.5
# A first run whose error is above CP_PROMISING stops once an iteration lowers it by less than
# CP_CREEP of itself — where an iteration is expensive (the tensor's size times the rank at least
# CP_CREEP_WORK multiply-adds, a few ms each): on a 512→512 3×3 kernel at rank 229 the error creeps
# from 0.9037 at iteration 40 to 0.9005 at 100 and on to 200, 13 s of ResNet-18's 70 s per such
# layer. On a small tensor more iterations cost little, and ALS may creep for a while and then
# drop (an 8→8 3×3 kernel at rank 13: from 0.5585 at iteration 94 to 0.5538 at 200), so it runs on.
CP_CREEP = 1e-4
CP_CREEP_WORK = 1e8
# The first run's iterations are capped so that their MTTKRPs (ndim × size × rank multiply-adds per
# iteration) stay within CP_WORK, about 3 s here: mCP of a 512→512 3×3 kernel at rank 1173 — a
# (64, 64, 64, 9) tensor, 0.43 s per iteration, its error 0.904 at iteration 10, 0.891 at 20 and
# 0.879 at 60, still gaining 2e-4 an iteration — gets 18; CP of it at rank 229 92, LeNet-5's
# largest (mCP of fc1 at 10 %) 1000: a count, not a time, so the result is the same on any machine.
CP_WORK = 2e11
# One CP-ALS run stops (keeping its iterate) after this long, and the polish sweeps and restarts end
# with CP_SECONDS: without these bounds LeNet-5's fc1 as mCP at 10 % took 168 s (a 100×100×40
# tensor at rank 166), for a relative error of 0.879 where the first run alone gives 0.885.
CP_RUN_SECONDS = 30.0
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


def _cp_fit(X: np.ndarray, cp) -> float:
    """‖X − X̂‖ / ‖X‖, X̂ rebuilt by one torch einsum (tensorly's NumPy cp_to_tensor forms the
    Khatri-Rao product row by row: 4 s for mCP of a 512→512 3×3 kernel at rank 1173)."""
    import torch

    modes = "".join(chr(ord("a") + k) for k in range(X.ndim))
    factors = [torch.from_numpy(np.ascontiguousarray(f)) for f in cp.factors]
    factors[0] = factors[0] * torch.from_numpy(np.asarray(cp.weights, dtype=cp.factors[0].dtype))
    rebuilt = torch.einsum(",".join(m + "z" for m in modes) + "->" + modes, *factors)
    return float(torch.linalg.vector_norm(rebuilt - torch.from_numpy(X)) / max(float(np.linalg.norm(X)), 1e-300))


def _finite(cp) -> bool:
    return all(np.isfinite(f).all() for f in cp.factors) and bool(np.isfinite(cp.weights).all())


def _raise_diverged(rank: int, shape: tuple) -> None:
    raise TnvizError(
        f"CP-ALS at rank {rank} diverged (NaN) for a tensor of shape {shape}; lower the rank", token=str(rank)
    )


def _cp_polish(X: np.ndarray, cp, sweeps: int, deadline: float = float("inf")):
    """Plain CP-ALS sweeps on tensorly's result, judged by the exact residual: tensorly stops
    near a relative fit of 1e-8, where its error estimate (‖X‖² − 2⟨X, X̂⟩ + ‖X̂‖²) cancels.
    Each sweep lowers the fit or keeps it; stops once exact (≤ ``EXACT_FIT``) or the relative
    change is below 1e-12, or at ``deadline`` (``time.perf_counter()``). The weights are folded
    into the factors. Runs in torch, each MTTKRP one einsum that contracts the other factors into
    the tensor one at a time (never forming their Khatri-Rao product, as ``_parafac_in_torch``)."""
    import torch
    from tensorly.cp_tensor import CPTensor

    T = torch.from_numpy(np.ascontiguousarray(X))
    factors = [torch.from_numpy(f.copy()) for f in cp.factors]
    factors[0] = factors[0] * torch.from_numpy(np.asarray(cp.weights))
    d = X.ndim
    modes = [chr(ord("a") + k) for k in range(d)]
    mttkrp = [
        ",".join(["".join(modes)] + [m + "z" for j, m in enumerate(modes) if j != k]) + f"->{modes[k]}z"
        for k in range(d)
    ]
    rebuild = ",".join(m + "z" for m in modes) + "->" + "".join(modes)
    norm = max(float(np.linalg.norm(X)), 1e-300)

    def fit_of(fs) -> float:
        return float(torch.linalg.vector_norm(torch.einsum(rebuild, *fs) - T)) / norm

    def result(fs):
        return CPTensor((np.ones(fs[0].shape[1]), [f.numpy() for f in fs]))

    fit = fit_of(factors)
    for _ in range(sweeps):
        if fit <= EXACT_FIT or time.perf_counter() > deadline:
            break
        for k in range(d):
            if not all(bool(torch.isfinite(f).all()) for f in factors):
                return result(factors)  # the caller drops it
            others = [factors[j] for j in range(d) if j != k]
            gram = torch.ones((factors[0].shape[1],) * 2, dtype=T.dtype)
            for f in others:
                gram = gram * (f.T @ f)
            rhs = torch.einsum(mttkrp[k], T, *others)
            factors[k] = torch.linalg.lstsq(gram, rhs.T, driver="gelsd").solution.T
        new = fit_of(factors)
        done = abs(fit - new) <= 1e-12 * max(fit, 1e-300)
        fit = new
        if done or not np.isfinite(fit):
            break
    return result(factors)


def balanced(cp):
    """The same CP tensor with its weights folded in and every component's scale shared equally
    by its factors (each column of component r has norm λ_r^(1/N)). ALS leaves a component's
    whole scale on whichever factor it solved last; as layer parameters those columns would then
    differ by orders of magnitude in size and get gradients in the inverse proportion, which is
    what training from such a start suffers from."""
    from tensorly.cp_tensor import CPTensor

    factors = [f.copy() for f in cp.factors]
    factors[0] = factors[0] * cp.weights
    norms = np.stack([np.linalg.norm(f, axis=0) for f in factors])  # (N, R)
    live = (norms > 0).all(axis=0)
    share = np.ones_like(norms)
    share[:, live] = np.exp(np.log(norms[:, live]).mean(axis=0)) / norms[:, live]
    return CPTensor((np.ones(factors[0].shape[1]), [f * share[k] for k, f in enumerate(factors)]))


def cp_als(X: np.ndarray, rank: int, n_iter_max: int, seed: int):
    """CP-ALS from an SVD start with tensorly's defaults, then (while the fit is not exact,
    ≤ ``EXACT_FIT``) polish sweeps and up to ``CP_RESTARTS`` random starts (tensorly's, with its line
    search, to a relative change of 1e-12 or ``n_iter_max`` iterations), each followed by up to
    ``CP_POLISH_SWEEPS`` exact-residual sweeps, keeping the best fit — the restarts only where the
    first fit is within ``CP_PROMISING`` (else ``CP_REFINE`` sweeps per first-run iteration and no
    restart). A matrix gets its truncated SVD. Where no start works at the rank (tensorly's SVD start
    raises for a rank above a mode's size, and can give NaN), at lower ranks (the smallest mode's
    size, half the rank, a quarter, …) — the missing components are then zero (the caller pads)
    and the layer's ``reconstruction_error`` says how good the fit is; the same lower ranks are
    tried after an over-complete rank without a close fit, while ``CP_SECONDS`` have not passed.
    The first run stops after ``CP_WORK`` multiply-adds or ``CP_RUN_SECONDS`` (or, on a large tensor
    far from a fit, once its error creeps: ``CP_CREEP``), and nothing runs past ``CP_SECONDS`` after
    it began, so no decomposition hangs on a large tensor."""
    from tensorly.cp_tensor import CPTensor

    parafac = tensorly_functions()[0]
    if X.ndim == 1:  # one mode: the vector itself is its rank-1 CP
        return CPTensor((np.ones(1), [X.reshape(-1, 1)]))
    if X.ndim == 2:  # a matrix: the truncated SVD is the best rank-r CP (Eckart–Young), in one step
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
        r = min(rank, len(s))
        return balanced(CPTensor((s[:r], [U[:, :r], Vt[:r].T])))
    ranks = {rank, min(rank, min(X.shape))}  # the rank, the smallest mode's size, then halvings
    r = rank
    while r > 1:
        r //= 2
        ranks.add(r)
    starts = [("svd", seed)] + [("random", seed + k) for k in range(CP_RESTARTS)]
    overall, overall_fit = None, np.inf
    began = time.perf_counter()
    for r in sorted(ranks, reverse=True):
        if overall is not None and time.perf_counter() - began > CP_SECONDS:
            break  # the lower ranks are tried within CP_SECONDS of the start: each is a run of its own
        best, best_fit = None, np.inf
        deadline = time.perf_counter() + CP_SECONDS
        sweeps = CP_POLISH_SWEEPS
        for init, state in starts:
            if best is not None and (time.perf_counter() > deadline or best_fit > CP_PROMISING):
                break  # restarts only for a tensor the first run fits closely (see CP_PROMISING)
            first = best is None
            iterations = [0]
            try:
                with warnings.catch_warnings():
                    # tensorly's SVD start warns, then fills the columns beyond a mode's size at
                    # random: the documented behaviour we rely on, not news for the user.
                    warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs")
                    # the first run is tensorly's own CP-ALS with its defaults (what tensorly-torch
                    # runs); a restart iterates further, with a line search, within the budget
                    stop = time.perf_counter() + CP_RUN_SECONDS if first else deadline
                    cp = _parafac_in_torch(
                        parafac,
                        X,
                        r,
                        n_iter_max=min(n_iter_max, max(10, int(CP_WORK // (X.ndim * X.size * r))))
                        if first
                        else n_iter_max,
                        init=init,
                        tol=1e-8 if first else 1e-12,
                        random_state=state,
                        linesearch=not first,
                        callback=_stopper(
                            stop, iterations, creep=CP_CREEP if first and X.size * r >= CP_CREEP_WORK else 0.0
                        ),
                    )
                if not _finite(cp):
                    continue
                if first and _cp_fit(X, cp) > CP_PROMISING:
                    # not low-rank: more ALS buys little, so as many sweeps as the run took iterations
                    sweeps = min(CP_POLISH_SWEEPS, max(1, round(CP_REFINE * iterations[0])))
                polished = _cp_polish(X, cp, sweeps, deadline)
                cp = polished if _finite(polished) else cp
            except (ValueError, np.linalg.LinAlgError):
                continue
            if not _finite(cp):
                continue
            fit = _cp_fit(X, cp)
            if fit < best_fit:
                best, best_fit = cp, fit
            if best_fit <= EXACT_FIT:
                break
        if best is not None and best_fit < overall_fit:
            overall, overall_fit = best, best_fit
        # A rank above every mode's size is over-complete, where ALS can stall far from a fit a
        # lower rank finds (a test: mCP at rank 80 of a 16×4×9 tensor, 0.96 against an exact
        # rank 40): without a close fit there, the lower ranks are tried too, the best kept (while
        # time is left: mCP of a 512→512 3×3 kernel at rank 1173 would run six ranks).
        if overall is not None and (r <= max(X.shape) or overall_fit <= CP_PROMISING):
            return balanced(overall)
    if overall is not None:
        return balanced(overall)
    _raise_diverged(rank, X.shape)


def _parafac_in_torch(parafac, X: np.ndarray, rank: int, **options):
    """tensorly's CP-ALS on ``X`` with its PyTorch backend (for this thread only, as
    :func:`numpy_backend`), the result as NumPy: the same algorithm, with torch's kernels under it —
    several times faster per iteration than its NumPy backend on a convolution kernel (measured in
    ``benchmarks/decompose.py``, beside tensorly-torch, which runs it so)."""
    import tensorly as tl
    import torch
    from tensorly.cp_tensor import CPTensor
    from tensorly.tenalg import TenalgBackendManager

    # tensorly's default ("core") MTTKRP forms the Khatri-Rao product of the other factors: on a
    # 512→512 3×3 kernel at rank 229 (a (786432, 229) matrix) 2.2 s per iteration here, against
    # 0.07 s with its "einsum" one, which contracts the factors into the tensor one at a time
    # (same iterates; benchmarks/decompose.py and benchmarks/compress_models.py measure it).
    with (
        tl.backend_context("pytorch", local_threadsafe=True),
        TenalgBackendManager.backend_context("einsum", local_threadsafe=True),
    ):
        cp = parafac(torch.from_numpy(np.ascontiguousarray(X)), rank, **options)
    return CPTensor((cp.weights.numpy(), [f.numpy() for f in cp.factors]))


def _stopper(stop: float, iterations: list[int], creep: float):
    """tensorly's CP-ALS callback (called with each iterate and its relative error; True stops the
    run): counts the iterations into ``iterations[0]`` and stops at time ``stop``
    (``time.perf_counter()``), or once the error is above ``CP_PROMISING`` and creeping
    (an iteration lowered it by less than ``creep`` of itself: ``CP_CREEP`` for the first run on a
    large tensor; a restart, which runs only for a tensor the first run fitted closely, may pass
    through a swamp)."""
    last = [np.inf]

    def callback(_cp, error) -> bool:
        iterations[0] += 1
        error = float(error)
        creeping = CP_PROMISING < error and last[0] - error < creep * error
        last[0] = error
        return creeping or time.perf_counter() > stop

    return callback


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
