"""``mcp``: CP-ALS of the weight reshaped into channel-factor pairs and the kernel."""

from tnviz.nn.decomposers.common import factor_pairs, pair_modes
from tnviz.nn.decomposers.cp_als import cp_als, cp_work

FORMAT = "mcp"


def WORK(spec, shape, n_iter_max):
    return cp_work(pair_modes(spec, shape), spec.ranks["r"], n_iter_max)


def DECOMPOSER(spec, W, n_iter_max, seed):
    s_f, t_f, m = spec.in_factors, spec.out_factors, len(spec.in_factors)
    kernel = W.shape[2:]
    cp = cp_als(factor_pairs(spec, W), spec.ranks["r"], n_iter_max, seed)
    f = cp.factors
    R = f[0].shape[1]  # at most r: the caller pads the rest with zeros
    out = {f"A{k}": f[k - 1].T.reshape(R, s_f[k - 1], t_f[k - 1]) for k in range(1, m + 1)}
    if kernel:
        out["C"] = (f[m] * cp.weights).T.reshape(R, *kernel)
    else:
        out[f"A{m}"] = out[f"A{m}"] * cp.weights[:, None, None]
    return out
