"""``cp``: CP-ALS of the kernel arranged (S, *kernel, T)."""

import numpy as np

from tnviz.nn.decomposers.cp_als import cp_als, cp_work

FORMAT = "cp"


def WORK(spec, shape, n_iter_max):
    return cp_work((shape[1], *shape[2:], shape[0]), spec.ranks["r"], n_iter_max)


def DECOMPOSER(spec, W, n_iter_max, seed):
    sp = ("x", "y", "z")[: W.ndim - 2]
    cp = cp_als(np.moveaxis(W, 0, -1), spec.ranks["r"], n_iter_max, seed)
    f = cp.factors  # may hold fewer than r columns: the caller pads the rest with zeros
    out = {"A": f[0].T}
    out.update({f"K{i}": f[1 + k].T for k, i in enumerate(sp)})
    out["C"] = (f[-1] * cp.weights).T
    return out
