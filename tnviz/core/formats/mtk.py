"""``mtk``: the reshaped Tucker layer of Su et al. (TNN-mTK): a factor per input channel
factor sₗ → pₗ and per output factor qₗ → tₗ around one core holding the kernel."""

from __future__ import annotations

import bisect
import itertools
import math

from tnviz.core.formats.base import Format, balanced_ranks, spatial
from tnviz.errors import TnvizError


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

    def ranks_for_rate(self, config, rate):
        """Balanced Tucker ranks (see docs/rank_policy.md). Candidates: within the p's, and
        within the q's, every rank is at least half the group's largest or at its cap (the
        factor it attaches to), so max/min ≤ 2 within a group except where a factor is that
        small; no rank exceeds its factor. Of the candidates landing in [0.85, 1] of the
        budget the most balanced wins — the smallest log(max/min) of the p's plus that of the
        q's plus |log((∏p/S) / (∏q/T))|, the fraction of each side's channels kept —
        then the most parameters. Where none lands there, the most parameters within budget
        (the shared policy of :meth:`Format.ranks_for_rate`)."""
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise TnvizError(f"rate must be in (0, 1], got {rate!r}", token=repr(rate))
        if config.groups != 1:
            return self.ranks_for_rate(config.per_group(), rate)
        budget = rate * config.dense_params
        s_f, t_f = self.factors(config)
        m, K = len(s_f), math.prod(config.kernel_size)
        names = self.rank_names(config, m)

        def count(ranks):
            return self.count_params(config, ranks, s_f, t_f)

        # Raises the usual "needs N at rank 1" error; also the fallback below.
        fallback = balanced_ranks(self.name, names, count, self.rank_caps(config, names, s_f, t_f), budget, rate)
        p_side, q_side = _balanced_group(s_f), _balanced_group(t_f)
        q_products = [q[0] for q in q_side]
        best, best_key = None, None
        for p_prod, p_lin, p_spread, p in p_side:
            # Only the q's whose product can land there: the core ∏p·∏q·K within what the p's
            # leave, and (as Σ qₗtₗ ≤ ∏q·Σtₗ) the core and the q's reaching 85 % of it.
            lo = bisect.bisect_left(q_products, (0.85 * budget - p_lin) / (p_prod * K + sum(t_f)))
            hi = bisect.bisect_right(q_products, (budget - p_lin) / (p_prod * K))
            for q_prod, q_lin, q_spread, q in q_side[lo:hi]:
                c = p_lin + q_lin + p_prod * q_prod * K
                if not 0.85 * budget <= c <= budget:
                    continue
                side = abs(math.log(p_prod / config.in_channels) - math.log(q_prod / config.out_channels))
                key = (round(p_spread + q_spread + side, 9), -c)
                if best_key is None or key < best_key:
                    best, best_key = (p, q), key
        if best is None:
            return fallback
        p, q = best
        return {f"p{k}": v for k, v in enumerate(p, 1)} | {f"q{k}": v for k, v in enumerate(q, 1)}

    def reconstruct_flops(self, built, H):
        s_f, t_f, m, r = built.in_factors, built.out_factors, built.order, built.ranks
        p = [r[f"p{k}"] for k in range(1, m + 1)]
        q = [r[f"q{k}"] for k in range(1, m + 1)]
        S, Q, K = math.prod(s_f), math.prod(q), math.prod(H)
        first = sum(2 * math.prod(s_f[:k]) * math.prod(p[k:]) * Q * K * s_f[k] for k in range(m))
        return first + sum(2 * S * math.prod(t_f[:k]) * math.prod(q[k:]) * K * t_f[k] for k in range(m))


def _balanced_group(factors):
    """The balanced rank vectors over ``factors`` (each rank at least half the largest, or at
    its cap), as (product, Σ factor·rank, log(max/min), ranks) sorted by product: of the
    vectors with one product only the most even, with the fewest and with the most
    parameters in the factor matrices."""
    by_product: dict[int, list] = {}
    for vec in itertools.product(*(range(1, f + 1) for f in factors)):
        top = max(vec)
        if any(r < min(f, (top + 1) // 2) for r, f in zip(vec, factors)):
            continue
        entry = (math.prod(vec), sum(r * f for r, f in zip(vec, factors)), math.log(top / min(vec)), vec)
        by_product.setdefault(entry[0], []).append(entry)
    out = []
    for entries in by_product.values():
        spread = min(e[2] for e in entries)
        even = [e for e in entries if e[2] == spread]
        out += {min(even, key=lambda e: e[1]), max(even, key=lambda e: e[1])}
    return sorted(out)


FORMAT = ReshapedTucker()
