"""``mtk``: the reshaped Tucker layer of Su et al. (TNN-mTK): a factor per input channel
factor sₗ → pₗ and per output factor qₗ → tₗ around one core holding the kernel."""

from __future__ import annotations

import math

from tnviz.core.formats.base import Format, spatial


class ReshapedTucker(Format):
    name = "mtk"
    listing = 7
    reshaped = True
    title = "mTK"
    paper_name = "TNN-mTK"
    twin = "tk"
    description = "reshaped Tucker (TNN-mTK)"
    paper_example = {"rank": 4, "order": 2}

    def rank_names(self, config, m):
        return tuple(f"p{k}" for k in range(1, m + 1)) + tuple(f"q{k}" for k in range(1, m + 1))

    def operands(self, config, ranks, s_f, t_f):
        sp = spatial(config)
        m = len(s_f)
        ps = " ".join(f"p{k}" for k in range(1, m + 1))
        qs = " ".join(f"q{k}" for k in range(1, m + 1))
        ops = [f"U{k}: s{k} p{k}" for k in range(1, m + 1)]
        ops.append(f"G: {ps} {qs} {' '.join(sp)}".rstrip())
        ops += [f"V{k}: q{k} t{k}" for k in range(1, m + 1)]
        sizes = {f"p{k}": ranks[f"p{k}"] for k in range(1, m + 1)}
        sizes.update({f"q{k}": ranks[f"q{k}"] for k in range(1, m + 1)})
        return ops, sizes, {"G": sp} if sp else {}

    def count_params(self, config, ranks, s_f, t_f):
        m = len(s_f)
        p = [ranks[f"p{k}"] for k in range(1, m + 1)]
        q = [ranks[f"q{k}"] for k in range(1, m + 1)]
        core = math.prod(p) * math.prod(q) * math.prod(config.kernel_size)
        return sum(a * b for a, b in zip(s_f, p)) + core + sum(a * b for a, b in zip(q, t_f))

    def rank_caps(self, config, names, s_f, t_f):
        caps = {}
        for k, (a, b) in enumerate(zip(s_f, t_f), 1):
            caps[f"p{k}"], caps[f"q{k}"] = a, b  # a Tucker rank at most its mode's size
        return caps

    def reconstruct_flops(self, built, H):
        s_f, t_f, m, r = built.in_factors, built.out_factors, built.order, built.ranks
        p = [r[f"p{k}"] for k in range(1, m + 1)]
        q = [r[f"q{k}"] for k in range(1, m + 1)]
        S, Q, K = math.prod(s_f), math.prod(q), math.prod(H)
        first = sum(2 * math.prod(s_f[:k]) * math.prod(p[k:]) * Q * K * s_f[k] for k in range(m))
        return first + sum(2 * S * math.prod(t_f[:k]) * math.prod(q[k:]) * K * t_f[k] for k in range(m))


FORMAT = ReshapedTucker()
