"""CP-ALS for the decomposers: tensorly's algorithm from an SVD start, run in torch along a
dimension tree, then exact-residual sweeps, restarts where the tensor looks representable, and
lower ranks where a rank is over-complete — each bounded by iteration counts and time."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from tnviz.errors import TnvizError
from tnviz.nn.decomposers.common import PricedAs, svd_work, tensorly_functions

__all__ = ["cp_als", "balanced", "cp_work"]

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
# A lower rank tried after an over-complete one without a close fit stops after CP_SCREEN iterations
# if its error is not below the best so far, and the ranks below it are then not tried: on random
# ResNet-18 kernels (mCP of a (16, 16, 16, 9) tensor at rank 64: 0.882, against 0.940 at 32 and 0.971
# at 16) each lower rank was a full run, 2.2 of a layer's 2.9 s; where the over-complete run stalls
# (a 16×4×9 tensor at rank 80: 0.96, exactly rank 40) the lower rank is below it at once.
CP_SCREEN = 10


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


class _TorchAls:
    """CP-ALS sweeps in torch (weights folded into the factors), the MTTKRPs of a sweep shared
    along a dimension tree: the modes are split into halves, the tensor is contracted once with
    one half's factors (one GEMM), and each mode of the other half gets its MTTKRP from that by a
    small contraction — two passes over the tensor a sweep instead of one per mode; the same
    iterates as one MTTKRP per mode. Measured here: mCP of a (64, 64, 16, 9) tensor at rank 385, 57 ms per
    iteration of tensorly's CP-ALS (its "einsum" MTTKRP), 19 ms per sweep of one torch einsum per
    mode, less again with the tree; ResNet-18 in mCP spent 38 of its 82 s in four such runs."""

    def __init__(self, X: np.ndarray, factors: list):
        import torch

        self.T = torch.from_numpy(np.ascontiguousarray(X))
        self.norm = max(float(torch.linalg.vector_norm(self.T)), 1e-300)
        self.factors = [f.contiguous() for f in factors]
        self.grams = [f.T @ f for f in self.factors]
        self.letters = [chr(ord("a") + k) for k in range(X.ndim)]
        half = X.ndim // 2
        self.halves = (list(range(half)), list(range(half, X.ndim)))
        self.last_mttkrp = None

    def _grams_but(self, skip: int | None):
        import torch

        product = torch.ones_like(self.grams[0])
        for j, gram in enumerate(self.grams):
            if j != skip:
                product = product * gram
        return product

    def sweep(self, least_squares: bool) -> float:
        """One sweep over the modes; returns the relative error by tensorly's identity
        ‖X − X̂‖² = ‖X‖² + ‖X̂‖² − 2⟨X, X̂⟩ (the inner product from the last mode's MTTKRP), which
        cancels near an exact fit (see :meth:`exact_error`). ``least_squares`` solves each mode's
        normal equations by SVD (a singular system, as at an exact over-complete fit) rather than
        by LU, as tensorly does."""
        import torch

        letters, factors = self.letters, self.factors
        left, right = self.halves
        unfolded = self.T.reshape(int(np.prod(self.T.shape[: len(left)])), -1)
        for kept, contracted in (self.halves, self.halves[::-1]):
            # one GEMM with the Khatri-Rao product of the contracted half (its modes' sizes times
            # the rank: small, where the whole other side's is what makes tensorly's "core" slow)
            khatri_rao = torch.einsum(
                ",".join(letters[j] + "z" for j in contracted) + "->" + "".join(letters[j] for j in contracted) + "z",
                *[factors[j] for j in contracted],
            ).reshape(-1, factors[0].shape[1])
            partial = (unfolded @ khatri_rao if kept is left else unfolded.T @ khatri_rao).reshape(
                *[self.T.shape[k] for k in kept], -1
            )
            for k in kept:
                # the other kept modes summed out by broadcasting: torch.einsum makes this a batched
                # matrix-vector product over the rank, 10 ms against 0.8 ms on a (64, 64, 385) partial
                mttkrp = partial
                for position in reversed(range(len(kept))):
                    if kept[position] != k:
                        shape = [1] * mttkrp.dim()
                        shape[position], shape[-1] = factors[kept[position]].shape
                        mttkrp = (mttkrp * factors[kept[position]].reshape(shape)).sum(position)
                gram = self._grams_but(k)
                solved = None
                if not least_squares:
                    try:
                        solved = torch.linalg.solve(gram, mttkrp.T)
                    except torch.linalg.LinAlgError:  # singular (an over-complete rank): as tensorly
                        solved = None  # would fail here, the least-squares solution instead
                if solved is None:
                    solved = torch.linalg.lstsq(gram, mttkrp.T, driver="gelsd").solution
                factors[k] = solved.T.contiguous()
                self.grams[k] = factors[k].T @ factors[k]
        inner = float((mttkrp * factors[-1]).sum())
        squared = self.norm**2 + float(self._grams_but(None).sum()) - 2 * inner
        return float(np.sqrt(abs(squared))) / self.norm

    def exact_error(self) -> float:
        """‖X − X̂‖ / ‖X‖ with X̂ rebuilt: exact where the identity of :meth:`sweep` cancels."""
        import torch

        rebuild = ",".join(m + "z" for m in self.letters) + "->" + "".join(self.letters)
        return float(torch.linalg.vector_norm(torch.einsum(rebuild, *self.factors) - self.T)) / self.norm

    def finite(self) -> bool:
        return all(bool(f.isfinite().all()) for f in self.factors)

    def cp(self):
        from tensorly.cp_tensor import CPTensor

        return CPTensor((np.ones(self.factors[0].shape[1]), [f.numpy() for f in self.factors]))


def _first_cp_run(X: np.ndarray, rank: int, n_iter_max: int, seed: int, callback):
    """tensorly's CP-ALS with its defaults — its SVD start, no line search, stopping once the
    relative error changes by less than 1e-8 or when ``callback(None, error)`` returns True — in
    :class:`_TorchAls` sweeps."""
    import tensorly as tl
    import torch
    from tensorly.decomposition._cp import initialize_cp

    with tl.backend_context("pytorch", local_threadsafe=True):
        _, factors = initialize_cp(torch.from_numpy(np.ascontiguousarray(X)), rank, init="svd", random_state=seed)
    als = _TorchAls(X, factors)
    callback(None, als.exact_error())  # tensorly calls back with its start's error too
    last_error = None
    for _ in range(n_iter_max):
        error = als.sweep(least_squares=False)
        if callback(None, error) is True or (last_error is not None and abs(last_error - error) < 1e-8):
            break
        last_error = error
    return als.cp()


def _cp_polish(X: np.ndarray, cp, sweeps: int, deadline: float = float("inf")):
    """Plain CP-ALS sweeps (:class:`_TorchAls`) on a CP-ALS result, judged by the
    exact residual once the fit is within ``CP_PROMISING``: tensorly stops near a relative fit of
    1e-8, where its error estimate cancels. Each sweep lowers the fit or keeps it; stops once exact
    (≤ ``EXACT_FIT``) or the relative change is below 1e-12, or at ``deadline``
    (``time.perf_counter()``). The weights are folded into the factors."""
    import torch

    factors = [torch.from_numpy(f.copy()) for f in cp.factors]
    factors[0] = factors[0] * torch.from_numpy(np.asarray(cp.weights))
    als = _TorchAls(X, factors)
    fit = als.exact_error()
    best, best_fit = als.cp(), fit  # a step may worsen a near-exact over-complete fit: keep the best
    for _ in range(sweeps):
        if fit <= EXACT_FIT or time.perf_counter() > deadline:
            break
        # by SVD near a fit (singular normal equations at an exact over-complete one), by LU far
        # from it: gelsd took 20 ms a mode at rank 385, four times the whole sweep's other work
        estimate = als.sweep(least_squares=fit <= CP_PROMISING)
        if not als.finite():
            break  # the caller drops it
        # the identity's rounding is about 1e-16 / fit² of the fit: far below the 1e-12 test here
        new = estimate if estimate > CP_PROMISING else als.exact_error()
        done = abs(fit - new) <= 1e-12 * max(fit, 1e-300)
        fit = new
        if not np.isfinite(fit):
            break
        if fit < best_fit:
            best, best_fit = als.cp(), fit
        if done:
            break
    return best


def cp_work(shape: tuple[int, ...], rank: int, n_iter_max: int) -> float | PricedAs:
    """Multiply-adds of :func:`cp_als` on a tensor of ``shape`` far from low rank (a trained
    weight): the SVD start, then the first run's sweeps (capped by ``CP_WORK``) and the polish's
    (``CP_REFINE`` as many), each two passes over the tensor and a solve per mode."""
    size, d = math.prod(shape), len(shape)
    if d <= 2:  # a matrix (or vector): one truncated SVD, at svd's rate
        return PricedAs("svd", svd_work(shape[0], size // shape[0]))
    start = sum(svd_work(n, size // n) for n in shape)
    iterations = min(n_iter_max, max(10, int(CP_WORK // (d * size * rank))))
    return start + (1 + CP_REFINE) * iterations * (2 * size * rank + d * rank**3)


def balanced(cp):
    """The same CP tensor with its weights folded in and every component's scale shared equally
    by its factors (each column of component r has norm λ_r^(1/N)). ALS leaves a component's
    whole scale on whichever factor it solved last; as layer parameters those columns would then
    differ by orders of magnitude in size and get gradients in the inverse proportion, which is
    what training from such a start suffers from."""
    from tensorly.cp_tensor import CPTensor

    factors = [f.copy() for f in cp.factors]
    factors[0] = factors[0] * cp.weights
    # In logs: an over-complete fit can leave a component at 1e153 on one factor and 1e-152 on
    # another (their product finite), whose squared norms overflow and underflow.
    scales = np.stack([np.abs(f).max(axis=0) for f in factors])  # (N, R)
    live = (scales > 0).all(axis=0)
    logs = np.zeros_like(scales)
    for k, f in enumerate(factors):
        logs[k, live] = np.log(scales[k, live]) + np.log(np.linalg.norm(f[:, live] / scales[k, live], axis=0))
    share = np.ones_like(scales)
    share[:, live] = np.exp(logs[:, live].mean(axis=0) - logs[:, live])
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
    tried after an over-complete rank without a close fit, while ``CP_SECONDS`` have not passed and
    each beats the rank above it (screened after ``CP_SCREEN`` iterations).
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
    if not np.any(X):  # nothing to fit: zero factors (ALS's normal equations would be singular)
        return CPTensor((np.ones(1), [np.zeros((n, 1)) for n in X.shape]))
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
        best, best_fit = _best_at_rank(parafac, X, r, starts, n_iter_max, overall_fit)
        if overall is not None and not (best is not None and best_fit < overall_fit):
            break  # a lower rank that does not beat the higher one: the ranks below it will not either
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


def _best_at_rank(parafac, X: np.ndarray, r: int, starts: list, n_iter_max: int, overall_fit: float):
    """(CP, relative error) of the best start at rank ``r`` (None, inf if none works): the SVD
    start as tensorly's first run, then random restarts only while the first fit is promising,
    each polished; a first fit no better than ``overall_fit`` (a higher rank's) ends it there."""
    import torch

    best, best_fit = None, np.inf
    deadline = time.perf_counter() + CP_SECONDS
    sweeps = CP_POLISH_SWEEPS
    for init, state in starts:
        if best is not None and (time.perf_counter() > deadline or best_fit > CP_PROMISING):
            break  # restarts only for a tensor the first run fits closely (see CP_PROMISING)
        first = init == "svd"  # the SVD start is tensorly's first run; a failed one is not repeated
        iterations = [0]
        try:
            with warnings.catch_warnings():
                # tensorly's SVD start warns, then fills the columns beyond a mode's size at
                # random: the documented behaviour we rely on, not news for the user.
                warnings.filterwarnings("ignore", message="Trying to compute SVD with n_eigenvecs")
                # the first run is tensorly's CP-ALS with its defaults (what tensorly-torch runs),
                # in our torch sweeps; a restart is tensorly's own, with a line search, further
                stop = time.perf_counter() + CP_RUN_SECONDS if first else deadline
                callback = _stopper(
                    stop,
                    iterations,
                    creep=CP_CREEP if first and X.size * r >= CP_CREEP_WORK else 0.0,
                    above=overall_fit if first else np.inf,
                )
                if first:
                    iterations_allowed = max(10, int(CP_WORK // (X.ndim * X.size * r)))
                    cp = _first_cp_run(X, r, min(n_iter_max, iterations_allowed), state, callback)
                else:
                    cp = _parafac_in_torch(
                        parafac,
                        X,
                        r,
                        n_iter_max=n_iter_max,
                        init=init,
                        tol=1e-12,
                        random_state=state,
                        linesearch=True,
                        callback=callback,
                    )
            if not _finite(cp):
                continue
            first_fit = _cp_fit(X, cp) if first else 0.0
            if first_fit >= overall_fit:
                break  # a lower rank screened out (CP_SCREEN): no polish, no restarts
            if first_fit > CP_PROMISING:
                # not low-rank: more ALS buys little, so as many sweeps as the run took iterations
                sweeps = min(CP_POLISH_SWEEPS, max(1, round(CP_REFINE * iterations[0])))
            polished = _cp_polish(X, cp, sweeps, deadline)
            cp = polished if _finite(polished) else cp
        except (ValueError, np.linalg.LinAlgError, torch.linalg.LinAlgError):
            continue
        if not _finite(cp):
            continue
        fit = _cp_fit(X, cp)
        if fit < best_fit:
            best, best_fit = cp, fit
        if best_fit <= EXACT_FIT:
            break
    return best, best_fit


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


def _stopper(stop: float, iterations: list[int], creep: float, above: float = np.inf):
    """tensorly's CP-ALS callback (called with each iterate and its relative error; True stops the
    run): counts the iterations into ``iterations[0]`` and stops at time ``stop``
    (``time.perf_counter()``), once the error is above ``CP_PROMISING`` and creeping
    (an iteration lowered it by less than ``creep`` of itself: ``CP_CREEP`` for the first run on a
    large tensor; a restart, which runs only for a tensor the first run fitted closely, may pass
    through a swamp), or once ``CP_SCREEN`` iterations have left it at or above ``above`` (the
    best fit a higher rank found)."""
    last = [np.inf]

    def callback(_cp, error) -> bool:
        iterations[0] += 1
        error = float(error)
        creeping = CP_PROMISING < error and last[0] - error < creep * error
        beaten = iterations[0] >= CP_SCREEN and error >= above
        last[0] = error
        return creeping or beaten or time.perf_counter() > stop

    return callback
