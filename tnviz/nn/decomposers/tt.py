"""``tt``: TT-SVD of the kernel arranged (S, *kernel, T)."""

import numpy as np

from tnviz.nn.decomposers.common import tensorly_functions, train_work

FORMAT = "tt"


def WORK(spec, shape, n_iter_max):
    n = len(shape) - 2
    ranks = [1] + [spec.ranks[f"r{k}"] for k in range(1, n + 2)] + [1]
    return train_work((shape[1], *shape[2:], shape[0]), ranks)


def DECOMPOSER(spec, W, n_iter_max, seed):
    n = W.ndim - 2
    ranks = [1] + [spec.ranks[f"r{k}"] for k in range(1, n + 2)] + [1]
    cores = tensorly_functions()[2](np.moveaxis(W, 0, -1), rank=ranks).factors
    out = {"G0": cores[0][0]}
    out.update({f"G{k}": cores[k] for k in range(1, n + 1)})
    out[f"G{n + 1}"] = cores[-1][:, :, 0]
    return out
