"""``dense``: the layer's own weight ``K[t, s, x, y]``."""

from __future__ import annotations

from tnviz.core.formats.base import Format, spatial


class Dense(Format):
    name = "dense"
    listing = 0
    title = "standard layer"
    paper_name = "dense"
    description = "the dense layer"
    paper_example = {}

    def rank_names(self, config, m):
        return ()

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        return [f"K: t s {' '.join(sp)}"], {}, {"K": sp}

    def count_params(self, config, ranks, s_f, t_f):
        return config.dense_params

    def reconstruct_flops(self, built, H):
        return 0

    def left_to_right_flops(self, built, ctx):
        return 2 * ctx.N * ctx.T * ctx.S * ctx.OH


FORMAT = Dense()
