"""``mtr``: TR-SVD of the weight reshaped into channel-factor pairs and the kernel."""

from tnviz.nn.decomposers.common import factor_pairs, ring_cores
from tnviz.nn.decomposers.mtt import reshaped_cores

FORMAT = "mtr"


def DECOMPOSER(spec, W, n_iter_max, seed):
    m, kernel = len(spec.in_factors), W.shape[2:]
    last = m if kernel else m - 1
    ranks = [spec.ranks[f"r{k}"] for k in range(0, last + 1)] + [spec.ranks["r0"]]
    return reshaped_cores(spec, ring_cores(factor_pairs(spec, W), ranks), kernel, ring=True)
