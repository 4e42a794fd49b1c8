"""``dense``: the weight itself."""

FORMAT = "dense"


def DECOMPOSER(spec, W, n_iter_max, seed):
    return {"K": W}
