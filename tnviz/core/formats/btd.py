"""``btd``: the block-term decomposition (De Lathauwer): a sum of B Tucker-2 blocks — per
block a 1×1 S→P, a kernel P→Q and a 1×1 Q→T — the block index ``B`` a hyperedge that the
three factors share and the output sums."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, balanced_ranks, spatial
from tnviz.errors import TnvizError

# Blocks tried by the rate → ranks policy, first that fits: two blocks is the smallest true
# block term; one block (plain Tucker-2) where two do not fit the budget.
BLOCKS = (2, 1)


class BlockTerm(Format):
    name = "btd"
    listing = 10
    title = "block term"
    paper_name = "NN-BTD"
    description = "block-term decomposition: a sum of B Tucker-2 blocks"
    paper_example = {"rank": {"B": 2, "p": 8, "q": 9}}

    def rank_names(self, config, m):
        return ("B", "p", "q")

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        ops = ["U: B s p", f"G: B p q {' '.join(sp)}".rstrip(), "V: B q t"]
        return ops, {"B": ranks["B"], "p": ranks["p"], "q": ranks["q"]}, {"G": sp} if sp else {}

    def count_params(self, config, ranks, s_f, t_f):
        S, T, K = config.in_channels, config.out_channels, math.prod(config.kernel_size)
        B, P, Q = ranks["B"], ranks["p"], ranks["q"]
        return B * (S * P + P * Q * K + Q * T)

    def rank_caps(self, config, names, s_f, t_f):
        caps = {"p": config.in_channels, "q": config.out_channels}  # Tucker ranks at most their modes
        caps["B"] = max(config.dense_params, 1)
        return caps

    def ranks_for_rate(self, config, rate):
        """Two blocks, each with balanced Tucker ranks p, q; one block where two do not fit, or
        where two blocks could only land within [0.85, 1] of the budget with p, q more than 2
        apart and one block can without (see docs/rank_policy.md)."""
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise TnvizError(f"rate must be in (0, 1], got {rate!r}", token=repr(rate))
        if config.groups != 1:
            return self.ranks_for_rate(config.per_group(), rate)
        budget = rate * config.dense_params
        caps = self.rank_caps(config, ("p", "q"), (), ())
        found = []
        for blocks in BLOCKS:

            def count(r, b=blocks):
                return self.count_params(config, {"B": b, **r}, (), ())

            try:
                tucker = balanced_ranks(self.name, ("p", "q"), count, caps, budget, rate)
            except TnvizError:
                if blocks == BLOCKS[-1] and not found:
                    raise
                continue
            close = count(tucker) >= 0.85 * budget
            even = max(tucker.values()) <= 2 * min(tucker.values())
            found.append(((not (close and even), not close), {"B": blocks, **tucker}))
        # The first block count whose p, q land within [0.85, 1] of the budget with
        # max/min <= 2; else the first landing there at all; else two blocks (as before).
        return min(found, key=lambda f: f[0])[1]

    def reconstruct_flops(self, built, H):
        r, S, T, K = built.ranks, built.sizes["s"], built.sizes["t"], math.prod(H)
        return 2 * r["B"] * S * r["p"] * r["q"] * K + 2 * r["B"] * S * r["q"] * K * T

    def left_to_right_flops(self, built, ctx):
        B, P, Q, N = built.ranks["B"], built.ranks["p"], built.ranks["q"], ctx.N
        return 2 * N * ctx.PL * ctx.S * B * P + 2 * N * B * P * Q * ctx.OH + 2 * N * ctx.PO * B * Q * ctx.T


FORMAT = BlockTerm()
