"""``tk``: Tucker-2 (HOOI, tensorly's ``partial_tucker``) on the channel modes."""

import numpy as np

from tnviz.nn.decomposers.common import check_tucker_ranks, tensorly_functions, tucker_work

FORMAT = "tk"


def WORK(spec, shape, n_iter_max):
    return tucker_work(shape, [0, 1])


def DECOMPOSER(spec, W, n_iter_max, seed):
    r = spec.ranks
    check_tucker_ranks({"p": spec.in_factors[0], "q": spec.out_factors[0]}, r)
    partial_tucker = tensorly_functions()[1]
    (core, (ft, fs)), _ = partial_tucker(
        W, rank=[r["q"], r["p"]], modes=[0, 1], n_iter_max=n_iter_max, random_state=seed
    )
    return {"U": fs, "G": np.swapaxes(core, 0, 1), "V": ft.T}
