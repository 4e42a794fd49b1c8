"""``mtt``: the reshaped tensor-train layer of Su et al. (TNN-mTT): core l holds
r_{l-1} sₗ tₗ r_l, and the spatial kernel is the last core."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


def train_reconstruct_flops(built, H, r0: int) -> int:
    """Core k holds r_{k-1} sₖ tₖ rₖ; a Linear layer's last core has no rₘ (a ring: r₀ instead,
    carried as its own factor)."""
    s_f, t_f, m, r = built.in_factors, built.out_factors, built.order, built.ranks
    st = [math.prod(s_f[:k]) * math.prod(t_f[:k]) for k in range(m + 1)]  # st[k] = ∏ⱼ≤ₖ sⱼtⱼ
    rk = [r.get(f"r{k}", 1) for k in range(m + 1)]
    rk[0] = 1
    if not H:
        rk[m] = 1
    chain = sum(2 * r0 * st[k] * rk[k - 1] * rk[k] for k in range(2, m + 1))
    return chain + (2 * math.prod(s_f) * math.prod(t_f) * rk[m] * r0 * math.prod(H) if H else 0)


class ReshapedTensorTrain(Format):
    name = "mtt"
    listing = 8
    reshaped = True
    title = "mTT"
    paper_name = "TNN-mTT"
    twin = "tt"
    description = "reshaped tensor train (TNN-mTT)"
    paper_example = {"rank": 10}

    def rank_names(self, config, m):
        return tuple(f"r{k}" for k in range(1, (m if config.kernel_size else m - 1) + 1))

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        m = len(s_f)
        ops = []
        for k in range(1, m + 1):
            left = f"r{k - 1} " if k > 1 else ""
            right = f" r{k}" if (k < m or sp) else ""
            ops.append(f"T{k}: {left}s{k} t{k}{right}")
        if sp:
            ops.append(f"C: r{m} {' '.join(sp)}")
        last = m if sp else m - 1
        return ops, {f"r{k}": ranks[f"r{k}"] for k in range(1, last + 1)}, {"C": sp} if sp else {}

    def count_params(self, config, ranks, s_f, t_f):
        m, n = len(s_f), len(config.kernel_size)
        rk = [1] + [ranks[f"r{k}"] for k in range(1, (m if n else m - 1) + 1)] + ([] if n else [1])
        cores = sum(rk[k - 1] * s_f[k - 1] * t_f[k - 1] * rk[k] for k in range(1, m + 1))
        return cores + (rk[m] * math.prod(config.kernel_size) if n else 0)

    def reconstruct_flops(self, built, H):
        return train_reconstruct_flops(built, H, 1)


FORMAT = ReshapedTensorTrain()
