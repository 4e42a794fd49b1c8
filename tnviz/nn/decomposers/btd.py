"""``btd``: a block-term decomposition — a first pass fits each Tucker-2 block (HOOI) to what
the blocks before it leave; then alternating least squares refines all blocks together (the
model is linear in the U's, in the cores and in the V's, so each is one least-squares solve)
until the fit stops improving."""

import numpy as np

from tnviz.nn.decomposers.common import check_tucker_ranks, tensorly_functions, tucker_work

FORMAT = "btd"
TOLERANCE = 1e-12  # relative improvement of the fit below which the refinement stops
# ... and, while the relative error is above CREEP_ABOVE (a weight far from a block-term one), an
# improvement below CREEP of the error: a 256→256 3×3 kernel at B=2, P=Q=35 spent 200 iterations
# (5 of its 7 s) going from 0.9 to 0.898.
CREEP, CREEP_ABOVE = 1e-4, 0.05


def _rebuild(U, G, V):
    """W (T, S, *kernel) from U (B, S, P), G (B, P, Q, *kernel), V (B, Q, T)."""
    return np.einsum("bsp,bpq...,bqt->ts...", U, G, V, optimize=True)


def _solve(A, Y):
    """The least-squares X of A @ X ≈ Y, by the normal equations (A is tall and thin here:
    10× faster than an SVD-based lstsq)."""
    return _solve_gram(A.T @ A, A.T @ Y)


def _solve_gram(gram, rhs):
    """X of gram @ X = rhs; a relative ridge of 1e-12 keeps it solvable when a block is rank deficient."""
    ridge = 1e-12 * max(float(np.trace(gram)) / max(len(gram), 1), 1e-300)
    return np.linalg.solve(gram + ridge * np.eye(len(gram)), rhs)


def _refine(W, U, G, V, iterations):
    B, S, P = U.shape
    Q, T = V.shape[1], V.shape[2]
    kernel = W.shape[2:]
    K = int(np.prod(kernel)) if kernel else 1
    Wk = W.reshape(T, S, K)
    Gk = G.reshape(B, P, Q, K)
    error = np.linalg.norm(Wk - _rebuild(U, Gk, V))
    scale = max(np.linalg.norm(Wk), 1e-300)
    for _ in range(iterations):
        # U: W[t, s, k] = Σ_{b,p} U[b, s, p] · M[b, p, t, k]
        M = np.einsum("bpqk,bqt->bptk", Gk, V, optimize=True).reshape(B * P, T * K)
        U = _solve(M.T, Wk.transpose(0, 2, 1).reshape(T * K, S)).reshape(B, P, S).transpose(0, 2, 1)
        # V: W[t, s, k] = Σ_{b,q} N[b, q, s, k] · V[b, q, t]
        N = np.einsum("bsp,bpqk->bqsk", U, Gk, optimize=True).reshape(B * Q, S * K)
        V = _solve(N.T, Wk.transpose(1, 2, 0).reshape(S * K, T)).reshape(B, Q, T)
        # G, one block at a time against what the others leave (each solve exact, so the fit never
        # worsens): the joint solve's matrix has T·S rows and B·P·Q columns — 20 GB for a 512→512
        # kernel at B=2, P=70, Q=71 — while a block's normal equations split into U_bᵀU_b and V_bV_bᵀ.
        for b in range(B):
            others = np.delete(np.arange(B), b)
            residual = Wk - _rebuild(U[others], Gk[others], V[others])
            projected = np.einsum("sp,tsk,qt->pqk", U[b], residual, V[b], optimize=True)
            left = _solve_gram(U[b].T @ U[b], projected.reshape(P, Q * K)).reshape(P, Q, K)
            Gk[b] = (
                _solve_gram(V[b] @ V[b].T, left.transpose(1, 0, 2).reshape(Q, P * K))
                .reshape(Q, P, K)
                .transpose(1, 0, 2)
            )
        new_error = np.linalg.norm(Wk - _rebuild(U, Gk, V))
        creeping = new_error > CREEP_ABOVE * scale and error - new_error < CREEP * new_error
        if error - new_error <= TOLERANCE * scale or creeping:
            error = min(error, new_error)
            break
        error = new_error
    return U, Gk.reshape(B, P, Q, *kernel), V


def WORK(spec, shape, n_iter_max):
    return spec.ranks["B"] * tucker_work(shape, [0, 1])


def DECOMPOSER(spec, W, n_iter_max, seed):
    r = spec.ranks
    B, P, Q = r["B"], r["p"], r["q"]
    check_tucker_ranks({"p": W.shape[1], "q": W.shape[0]}, r)
    partial_tucker = tensorly_functions()[1]
    blocks, total = [], np.zeros_like(W)
    for _ in range(B):
        (core, (ft, fs)), _ = partial_tucker(
            W - total, rank=[Q, P], modes=[0, 1], n_iter_max=n_iter_max, random_state=seed
        )
        U, G, V = fs, np.swapaxes(core, 0, 1), ft.T
        blocks.append((U, G, V))
        total = total + np.einsum("sp,pq...,qt->ts...", U, G, V, optimize=True)
    U = np.stack([b[0] for b in blocks])
    G = np.stack([b[1] for b in blocks])
    V = np.stack([b[2] for b in blocks])
    if B > 1:
        U, G, V = _refine(W, U, G, V, max(n_iter_max, 1))
    return {"U": U, "G": G, "V": V}
