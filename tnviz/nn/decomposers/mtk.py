"""``mtk``: Tucker (HOOI) of the weight reshaped into its 2m channel factors and the kernel."""

import numpy as np

from tnviz.nn.decomposers.common import check_tucker_ranks, tensorly_functions, tucker_work

FORMAT = "mtk"


def WORK(spec, shape, n_iter_max):
    m = len(spec.in_factors)
    return tucker_work((*spec.out_factors, *spec.in_factors, *shape[2:]), list(range(2 * m)))


def DECOMPOSER(spec, W, n_iter_max, seed):
    s_f, t_f, r = spec.in_factors, spec.out_factors, spec.ranks
    m, kernel = len(s_f), W.shape[2:]
    n = len(kernel)
    sizes = {f"p{k}": v for k, v in enumerate(s_f, 1)}
    sizes.update({f"q{k}": v for k, v in enumerate(t_f, 1)})
    check_tucker_ranks(sizes, r)
    Wr = W.reshape(*t_f, *s_f, *kernel)
    ranks = [r[f"q{k}"] for k in range(1, m + 1)] + [r[f"p{k}"] for k in range(1, m + 1)]
    partial_tucker = tensorly_functions()[1]
    (core, factors), _ = partial_tucker(
        Wr, rank=ranks, modes=list(range(2 * m)), n_iter_max=n_iter_max, random_state=seed
    )
    out = {f"U{k}": factors[m + k - 1] for k in range(1, m + 1)}
    out.update({f"V{k}": factors[k - 1].T for k in range(1, m + 1)})
    # core (q1..qm, p1..pm, *kernel) -> G (p1..pm, q1..qm, *kernel)
    axes = list(range(m, 2 * m)) + list(range(m)) + list(range(2 * m, 2 * m + n))
    out["G"] = np.transpose(core, axes)
    return out
