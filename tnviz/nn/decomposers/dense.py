"""``dense``: the weight itself."""

import math

FORMAT = "dense"


def WORK(spec, shape, n_iter_max):
    return float(math.prod(shape))


def DECOMPOSER(spec, W, n_iter_max, seed):
    return {"K": W}
