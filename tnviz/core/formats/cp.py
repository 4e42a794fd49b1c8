"""``cp``: CP of the kernel S×H×W×T — 1×1 S→R, one factor per kernel axis on R, 1×1 R→T
(NN-CP, Denton et al. / Lebedev et al.)."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


class CP(Format):
    name = "cp"
    listing = 2
    title = "CP"
    paper_name = "NN-CP"
    description = "CP of the kernel (NN-CP)"
    paper_example = {"rank": 27}

    def rank_names(self, config, m):
        return ("r",)

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        ops = ["A: r s"] + [f"K{i}: r {i}" for i in sp] + ["C: r t"]
        return ops, {"r": ranks["r"]}, {f"K{i}": (i,) for i in sp}

    def count_params(self, config, ranks, s_f, t_f):
        return ranks["r"] * (config.in_channels + sum(config.kernel_size) + config.out_channels)

    def reconstruct_flops(self, built, H):
        R, S, T = built.ranks["r"], built.sizes["s"], built.sizes["t"]
        return sum(R * S * math.prod(H[: i + 1]) for i in range(len(H))) + 2 * R * S * math.prod(H) * T

    def left_to_right_flops(self, built, ctx):
        R, N = built.ranks["r"], ctx.N
        axes = sum(2 * N * R * ctx.axis_step(i) for i in range(len(ctx.H)))
        return 2 * N * ctx.PL * ctx.S * R + axes + 2 * N * ctx.PO * R * ctx.T


FORMAT = CP()
