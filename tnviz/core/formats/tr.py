"""``tr``: tensor ring over S, H, W, T (NN-TR, Wang et al.)."""

from __future__ import annotations

from tnviz.core.formats.base import Format
from tnviz.core.formats.tt import train_left_to_right_flops, train_operands, train_params, train_reconstruct_flops


class TensorRing(Format):
    name = "tr"
    listing = 5
    title = "tensor ring"
    paper_name = "NN-TR"
    description = "tensor ring (NN-TR)"
    paper_example = {"rank": 5}

    def rank_names(self, config, m):
        return tuple(f"r{k}" for k in range(0, len(config.kernel_size) + 2))

    def operands(self, config, ranks, s_f, t_f):
        return train_operands(config, ranks, ring=True)

    def count_params(self, config, ranks, s_f, t_f):
        return train_params(config, ranks, ring=True)

    def reconstruct_flops(self, built, H):
        return train_reconstruct_flops(built, H, built.ranks["r0"])

    def left_to_right_flops(self, built, ctx):
        return train_left_to_right_flops(built, ctx, built.ranks["r0"])


FORMAT = TensorRing()
