"""``mtr``: the reshaped tensor-ring layer of Su et al. (TNN-mTR): as mTT, with the last core
closing the ring on r₀."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial
from tnviz.core.formats.mtt import train_reconstruct_flops
from tnviz.errors import TnvizError


class ReshapedTensorRing(Format):
    name = "mtr"
    listing = 9
    reshaped = True
    title = "mTR"
    paper_name = "TNN-mTR"
    twin = "tr"
    description = "reshaped tensor ring (TNN-mTR)"
    paper_example = {"rank": 8}

    def check(self, config, m):
        if not config.kernel_size and m == 1:
            # A ring of one core would be a trace over one tensor's own index (a diagonal).
            raise TnvizError(
                "format 'mtr' on a Linear layer needs order >= 2; a one-core ring is a trace", token="order"
            )

    def rank_names(self, config, m):
        return tuple(f"r{k}" for k in range(0, (m if config.kernel_size else m - 1) + 1))

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        m = len(s_f)
        ops = [f"T{k}: r{k - 1} s{k} t{k} r{k if (k < m or sp) else 0}" for k in range(1, m + 1)]
        if sp:
            ops.append(f"C: r{m} {' '.join(sp)} r0")
        last = m if sp else m - 1
        return ops, {f"r{k}": ranks[f"r{k}"] for k in range(0, last + 1)}, {"C": sp} if sp else {}

    def count_params(self, config, ranks, s_f, t_f):
        m, n = len(s_f), len(config.kernel_size)
        last = m if n else m - 1
        rk = [ranks[f"r{k}"] for k in range(0, last + 1)]
        ring = rk + [rk[0]] if not n else rk
        cores = sum(ring[k - 1] * s_f[k - 1] * t_f[k - 1] * ring[k] for k in range(1, m + 1))
        return cores + (rk[m] * math.prod(config.kernel_size) * rk[0] if n else 0)

    def reconstruct_flops(self, built, H):
        return train_reconstruct_flops(built, H, built.ranks["r0"])


FORMAT = ReshapedTensorRing()
