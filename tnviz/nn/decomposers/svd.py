"""``svd``: the truncated SVD of the (T, S·kernel) matrix, the singular values split evenly."""

import math

import numpy as np

from tnviz.nn.decomposers.common import svd_work

FORMAT = "svd"


def WORK(spec, shape, n_iter_max):
    return svd_work(shape[0], math.prod(shape[1:]))


def DECOMPOSER(spec, W, n_iter_max, seed):
    T, S, kernel = W.shape[0], W.shape[1], W.shape[2:]
    u, s, vt = np.linalg.svd(W.reshape(T, -1), full_matrices=False)
    R = min(spec.ranks["r"], len(s))
    root = np.sqrt(s[:R])
    return {"A": (vt[:R] * root[:, None]).reshape(R, S, *kernel), "B": u[:, :R] * root}
