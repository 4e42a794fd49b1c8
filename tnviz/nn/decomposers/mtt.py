"""``mtt``: TT-SVD of the weight reshaped into channel-factor pairs and the kernel."""

from tnviz.nn.decomposers.common import factor_pairs, pair_modes, tensorly_functions, train_work

FORMAT = "mtt"


def reshaped_cores(spec, cores, kernel, ring: bool) -> dict:
    """The train or ring cores over the pairs, as the layer's T1..Tm and C."""
    s_f, t_f, m, n = spec.in_factors, spec.out_factors, len(spec.in_factors), len(kernel)
    out = {}
    for k in range(1, m + 1):
        c = cores[k - 1]
        core = c.reshape(c.shape[0], s_f[k - 1], t_f[k - 1], c.shape[-1])
        if not ring:
            if k == 1:
                core = core[0]
            if k == m and not n:
                core = core[..., 0]
        out[f"T{k}"] = core
    if n:
        c = cores[m]
        out["C"] = c.reshape(c.shape[0], *kernel, c.shape[-1]) if ring else c[..., 0].reshape(c.shape[0], *kernel)
    return out


def WORK(spec, shape, n_iter_max):
    last = len(spec.in_factors) if len(shape) > 2 else len(spec.in_factors) - 1
    ranks = [1] + [spec.ranks[f"r{k}"] for k in range(1, last + 1)] + [1]
    return train_work(pair_modes(spec, shape), ranks)


def DECOMPOSER(spec, W, n_iter_max, seed):
    m, kernel = len(spec.in_factors), W.shape[2:]
    last = m if kernel else m - 1
    ranks = [1] + [spec.ranks[f"r{k}"] for k in range(1, last + 1)] + [1]
    cores = tensorly_functions()[2](factor_pairs(spec, W), rank=ranks).factors
    return reshaped_cores(spec, cores, kernel, ring=False)
