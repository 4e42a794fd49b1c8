"""``tt``: tensor train over S, H, W, T (NN-TT, Garipov et al.)."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


def train_operands(config, ranks, ring: bool):
    """Cores over S, each kernel axis, T; a ring closes the last core onto the first by r0."""
    sp = spatial(config)
    n = len(sp)
    close = "r0 " if ring else ""
    ops = [f"G0: {close}s r1"]
    ops += [f"G{k}: r{k} {i} r{k + 1}" for k, i in enumerate(sp, 1)]
    ops.append(f"G{n + 1}: r{n + 1} t" + (" r0" if ring else ""))
    sizes = {f"r{k}": ranks[f"r{k}"] for k in range(0 if ring else 1, n + 2)}
    return ops, sizes, {f"G{k}": (i,) for k, i in enumerate(sp, 1)}


def train_params(config, ranks, ring: bool) -> int:
    """Parameters of the train's cores: S·r1, r_k·H_k·r_k+1 per kernel axis, r_last·T; in a ring the
    first and last cores also hold r0, which closes the last core onto the first."""
    n = len(config.kernel_size)
    r0 = ranks["r0"] if ring else 1
    r = [ranks[f"r{k}"] for k in range(1, n + 2)]
    body = sum(r[i] * config.kernel_size[i] * r[i + 1] for i in range(n))
    return r0 * config.in_channels * r[0] + body + r[-1] * config.out_channels * r0


def train_reconstruct_flops(built, H, r0: int) -> int:
    r, S, T, n = built.ranks, built.sizes["s"], built.sizes["t"], len(H)
    ranks = [r[f"r{k}"] for k in range(1, n + 2)]
    body = sum(2 * r0 * S * math.prod(H[:i]) * ranks[i] * H[i] * ranks[i + 1] for i in range(n))
    return body + 2 * r0 * S * math.prod(H) * ranks[-1] * T


def train_left_to_right_flops(built, ctx, r0: int) -> int:
    n, N = len(ctx.H), ctx.N
    ranks = [built.ranks[f"r{k}"] for k in range(1, n + 2)]
    body = sum(2 * N * r0 * ranks[i] * ranks[i + 1] * ctx.axis_step(i) for i in range(n))
    return 2 * N * ctx.PL * ctx.S * r0 * ranks[0] + body + 2 * N * ctx.PO * r0 * ranks[-1] * ctx.T


class TensorTrain(Format):
    name = "tt"
    listing = 4
    title = "tensor train"
    paper_name = "NN-TT"
    description = "tensor train (NN-TT)"
    paper_example = {"rank": 16}

    def rank_names(self, config, m):
        return tuple(f"r{k}" for k in range(1, len(config.kernel_size) + 2))

    def operands(self, config, ranks, s_f, t_f):
        return train_operands(config, ranks, ring=False)

    def count_params(self, config, ranks, s_f, t_f):
        return train_params(config, ranks, ring=False)

    def reconstruct_flops(self, built, H):
        return train_reconstruct_flops(built, H, 1)

    def left_to_right_flops(self, built, ctx):
        return train_left_to_right_flops(built, ctx, 1)


FORMAT = TensorTrain()
