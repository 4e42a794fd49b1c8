"""``svd``: a rank-R factorisation of the (T, S·kernel) matrix."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


class SVD(Format):
    name = "svd"
    listing = 1
    title = "SVD"
    paper_name = "NN-SVD"
    description = "rank-R matrix factorisation"
    paper_example = {"rank": 26}

    def rank_names(self, config, m):
        return ("r",)

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        return [f"A: r s {' '.join(sp)}", "B: t r"], {"r": ranks["r"]}, {"A": sp}

    def count_params(self, config, ranks, s_f, t_f):
        S, T = config.in_channels, config.out_channels
        return ranks["r"] * (S * math.prod(config.kernel_size) + T)

    def reconstruct_flops(self, built, H):
        return 2 * built.ranks["r"] * built.sizes["s"] * math.prod(H) * built.sizes["t"]

    def left_to_right_flops(self, built, ctx):
        R = built.ranks["r"]
        return 2 * ctx.N * R * ctx.S * ctx.OH + 2 * ctx.N * ctx.PO * R * ctx.T


FORMAT = SVD()
