"""``mcp``: the reshaped CP layer of Su et al. (TNN-mCP): channels factored into m pairs
(sₗ, tₗ), one CP factor per pair and one for the spatial kernel, all on one rank R."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


class ReshapedCP(Format):
    name = "mcp"
    listing = 6
    reshaped = True
    title = "mCP"
    paper_name = "TNN-mCP"
    twin = "cp"
    description = "reshaped CP (TNN-mCP)"
    paper_example = {"rank": 64}

    def rank_names(self, config, m):
        return ("r",)

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        ops = [f"A{k}: r s{k} t{k}" for k in range(1, len(s_f) + 1)]
        if sp:
            ops.append(f"C: r {' '.join(sp)}")
        return ops, {"r": ranks["r"]}, {"C": sp} if sp else {}

    def count_params(self, config, ranks, s_f, t_f):
        K = math.prod(config.kernel_size) if config.kernel_size else 0
        return ranks["r"] * (sum(a * b for a, b in zip(s_f, t_f)) + K)

    def reconstruct_flops(self, built, H):
        s_f, t_f, m, R = built.in_factors, built.out_factors, built.order, built.ranks["r"]
        st = [math.prod(s_f[:k]) * math.prod(t_f[:k]) for k in range(m + 1)]  # st[k] = ∏ⱼ≤ₖ sⱼtⱼ
        chain = sum(R * st[k] for k in range(2, m + 1))
        if H:
            return chain + 2 * R * math.prod(s_f) * math.prod(t_f) * math.prod(H)
        return chain + R * st[m]  # the last product also sums r: counted twice


FORMAT = ReshapedCP()
