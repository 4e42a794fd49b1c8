"""``mtr``: TR-SVD, refined by ring ALS, of the weight reshaped into channel-factor pairs and the kernel."""

from tnviz.nn.decomposers.common import factor_pairs, pair_modes
from tnviz.nn.decomposers.mtt import reshaped_cores
from tnviz.nn.decomposers.ring_als import ring_als, ring_cores, ring_work

FORMAT = "mtr"
BONDS = 2  # ring ALS contracts the weight with a subchain that carries two ranks


def WORK(spec, shape, n_iter_max):
    last = len(spec.in_factors) if len(shape) > 2 else len(spec.in_factors) - 1
    ranks = [spec.ranks[f"r{k}"] for k in range(0, last + 1)] + [spec.ranks["r0"]]
    return ring_work(pair_modes(spec, shape), ranks)


def DECOMPOSER(spec, W, n_iter_max, seed):
    m, kernel = len(spec.in_factors), W.shape[2:]
    last = m if kernel else m - 1
    ranks = [spec.ranks[f"r{k}"] for k in range(0, last + 1)] + [spec.ranks["r0"]]
    X = factor_pairs(spec, W)
    return reshaped_cores(spec, ring_als(X, ring_cores(X, ranks), ranks, seed), kernel, ring=True)
