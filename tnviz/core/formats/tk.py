"""``tk``: Tucker-2 on S and T — 1×1 S→P, kernel P→Q, 1×1 Q→T (NN-TK, Kim et al.)."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


class Tucker(Format):
    name = "tk"
    listing = 3
    title = "Tucker"
    paper_name = "NN-TK"
    description = "Tucker-2 on channels (NN-TK)"
    paper_example = {"rank": 14}

    def rank_names(self, config, m):
        return ("p", "q")

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        return ["U: s p", f"G: p q {' '.join(sp)}", "V: q t"], {"p": ranks["p"], "q": ranks["q"]}, {"G": sp}

    def count_params(self, config, ranks, s_f, t_f):
        S, T, K = config.in_channels, config.out_channels, math.prod(config.kernel_size)
        return S * ranks["p"] + ranks["p"] * ranks["q"] * K + ranks["q"] * T

    def rank_caps(self, config, names, s_f, t_f):
        return {"p": config.in_channels, "q": config.out_channels}  # a Tucker rank at most its mode's size

    def reconstruct_flops(self, built, H):
        P, Q, S, T, K = built.ranks["p"], built.ranks["q"], built.sizes["s"], built.sizes["t"], math.prod(H)
        return 2 * S * P * Q * K + 2 * S * Q * K * T

    def left_to_right_flops(self, built, ctx):
        P, Q, N = built.ranks["p"], built.ranks["q"], ctx.N
        return 2 * N * ctx.PL * ctx.S * P + 2 * N * P * Q * ctx.OH + 2 * N * ctx.PO * Q * ctx.T


FORMAT = Tucker()
