"""``tr``: TR-SVD of the kernel arranged (S, *kernel, T), refined by ring ALS."""

import numpy as np

from tnviz.nn.decomposers.ring_als import ring_als, ring_cores, ring_work

FORMAT = "tr"
BONDS = 2  # ring ALS contracts the weight with a subchain that carries two ranks


def WORK(spec, shape, n_iter_max):
    n = len(shape) - 2
    ranks = [spec.ranks[f"r{k}"] for k in range(0, n + 2)] + [spec.ranks["r0"]]
    return ring_work((shape[1], *shape[2:], shape[0]), ranks)


def DECOMPOSER(spec, W, n_iter_max, seed):
    n = W.ndim - 2
    ranks = [spec.ranks[f"r{k}"] for k in range(0, n + 2)] + [spec.ranks["r0"]]
    X = np.moveaxis(W, 0, -1)
    cores = ring_als(X, ring_cores(X, ranks), ranks, seed)
    return {f"G{k}": c for k, c in enumerate(cores)}
