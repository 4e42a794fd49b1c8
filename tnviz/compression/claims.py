"""The paper's two claims about the LeNet-5 table, tested by code with their uncertainty.

Every comparison is paired: two students that share a seed share the data split, the
teacher and the shuffling, so their difference is taken per seed. A claim's overall effect is
the mean difference over all its comparisons, computed per seed and then summarised over
seeds (mean and 95 % confidence interval, Student's t), so that the interval reflects the
run-to-run spread rather than treating the cells of one run as independent.
"""

from __future__ import annotations

from collections.abc import Sequence

from tnviz.provenance import mean_ci

__all__ = ["SCHEDULE_NAMES", "cell_values", "paired", "claim_lines", "verdict"]

# The training schedules, named for what they are (Seq-KD is block-wise, then end to end).
SCHEDULE_NAMES = {
    "blockwise": "block-wise KD only",
    "blockwise+e2e": "block-wise KD, then end to end (Seq-KD)",
    "e2e": "end-to-end KD (E2E-KD)",
    "scratch": "from scratch (random init, cross-entropy)",
}


def cell_values(rows: Sequence[dict], fmt: str, rate: float, schedule: str) -> dict[int, float]:
    """``{seed: test accuracy}`` of one cell of the table."""
    return {
        r["seed"]: r["test_acc"]
        for r in rows
        if r["format"] == fmt and r["target_rate"] == rate and r["schedule"] == schedule
    }


def paired(rows: Sequence[dict], pairs: Sequence[tuple[tuple, tuple]]) -> dict:
    """The paired comparison of ``pairs`` of cells ``((fmt, rate, schedule), (fmt, rate, schedule))``:
    per seed, the mean difference (first − second, in points) over the pairs both seeds have;
    summarised over seeds. Also how many pairs have the first cell's mean above the second's."""
    per_seed: dict[int, list[float]] = {}
    wins = n = 0
    for a, b in pairs:
        va, vb = cell_values(rows, *a), cell_values(rows, *b)
        seeds = sorted(set(va) & set(vb))
        if not seeds:
            continue
        n += 1
        wins += sum(va[s] for s in seeds) > sum(vb[s] for s in seeds)
        for s in seeds:
            per_seed.setdefault(s, []).append(100 * (va[s] - vb[s]))
    if not per_seed:
        return {"pairs": 0}
    effects = [sum(d) / len(d) for d in per_seed.values()]
    return {"pairs": n, "wins": wins, **mean_ci(effects)}


def verdict(summary: dict) -> str:
    """ "supported" when the 95 % interval lies above 0, "contradicted" below, else "inconclusive"."""
    if summary.get("ci95") is None:
        return "inconclusive (one seed: no interval)"
    low, high = summary["mean"] - summary["ci95"], summary["mean"] + summary["ci95"]
    return "supported" if low > 0 else "contradicted" if high < 0 else "inconclusive"


def _effect(summary: dict) -> str:
    if summary.get("ci95") is None:
        return f"{summary['mean']:+.2f} points (one seed)"
    return (
        f"{summary['mean']:+.2f} points (95 % CI {summary['mean'] - summary['ci95']:+.2f} to "
        f"{summary['mean'] + summary['ci95']:+.2f}, {summary['n']} seeds)"
    )


def claim_lines(rows: Sequence[dict], formats: Sequence[str], rates: Sequence[float], twins: dict) -> list[str]:
    """The sentences that state the claims, computed from ``rows`` whatever they say."""
    schedules = [s for s in SCHEDULE_NAMES if any(r["schedule"] == s for r in rows)]
    lines = []
    tnn = [f for f in formats if f in twins and twins[f] in formats]
    if tnn:
        pairs = [((f, rate, s), (twins[f], rate, s)) for f in tnn for rate in rates for s in schedules]
        overall = paired(rows, pairs)
        if overall["pairs"]:
            per_rate = []
            for rate in rates:
                one = paired(rows, [p for p in pairs if p[0][1] == rate])
                if one["pairs"]:
                    per_rate.append(f"at {100 * rate:g} %: {_effect(one)}, higher in {one['wins']} of {one['pairs']}")
            lines.append(
                "Claim 1 — a TNN layer beats its low-rank twin at the same rate and training "
                f"({', '.join(tnn)} against {', '.join(twins[f] for f in tnn)}; {', '.join(schedules)}): "
                f"{verdict(overall)}. Mean difference {_effect(overall)}; the TNN layer's mean is higher in "
                f"{overall['wins']} of {overall['pairs']} cells. " + "; ".join(per_rate) + "."
            )
    low = min(rates)
    for first, second in (("blockwise+e2e", "e2e"), ("blockwise", "e2e")):
        if first in schedules and second in schedules:
            summary = paired(rows, [((f, low, first), (f, low, second)) for f in formats])
            if summary["pairs"]:
                lines.append(
                    f"Claim 2 — at the highest compression ({100 * low:g} %), {SCHEDULE_NAMES[first]} beats "
                    f"{SCHEDULE_NAMES[second]}: {verdict(summary)}. Mean difference {_effect(summary)}; higher for "
                    f"{summary['wins']} of {summary['pairs']} formats."
                )
    return lines
