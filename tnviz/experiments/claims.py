"""The paper's two claims about the LeNet-5 table, tested by code with their uncertainty.

Every comparison is paired: two students that share a seed share the data split, the
teacher and the shuffling, so their difference is taken per seed. A claim's overall effect is
the mean difference over all its comparisons, computed per seed and then summarised over
seeds (mean and 95 % confidence interval, Student's t), so that the interval reflects the
run-to-run spread rather than treating the cells of one run as independent.
"""

from __future__ import annotations

from collections.abc import Sequence

from tnviz.core.formats import FORMATS
from tnviz.provenance import mean_ci

__all__ = [
    "PAPER_LENET5",
    "PAPER_RATES",
    "PAPER_NAMES",
    "TWINS",
    "init_for",
    "SCHEDULE_NAMES",
    "INIT_NAMES",
    "row_init",
    "cell_values",
    "paired",
    "claim_lines",
    "init_claim_lines",
    "verdict",
]

# Each TNN layer and its classic low-rank twin, and the paper's row names: from the registry.
TWINS = {name: f.twin for name, f in FORMATS.items() if f.twin}


PAPER_NAMES = {name: f.paper_name for name, f in FORMATS.items()}


def init_for(schedule: str, init: str) -> str:
    """The init of a schedule's students: from scratch is random, whatever the run's init."""
    return "random" if schedule == "scratch" else init


# The paper's LeNet-5 / MNIST accuracies (%), compression rates 2 %, 5 %, 10 % (full MNIST).
PAPER_LENET5 = {"mcp": (97.21, 97.92, 98.65), "mtk": (97.71, 98.56, 98.52), "mtt": (97.69, 98.43, 98.63)}
PAPER_RATES = (0.02, 0.05, 0.1)


# The training schedules, named for what they are (Seq-KD is block-wise, then end to end).
SCHEDULE_NAMES = {
    "blockwise": "block-wise KD only",
    "blockwise+e2e": "block-wise KD, then end to end (Seq-KD)",
    "e2e": "end-to-end KD (E2E-KD)",
    "scratch": "from scratch (random init, cross-entropy)",
}


# How a student was initialised (rows from before the "init" column are weight-space ones).
INIT_NAMES = {
    "decompose": "weight-space (decomposition of the teacher's weights)",
    "activations": "data-aware (decomposition, then each layer fitted to the teacher's outputs)",
    "random": "random",
}


def row_init(row: dict) -> str:
    """A row's (or cell's) initialisation: its ``"init"``, else ``"random"`` from scratch and
    ``"decompose"`` otherwise (what every student was before the column existed)."""
    return row.get("init") or ("random" if row["schedule"] == "scratch" else "decompose")


def cell_values(
    rows: Sequence[dict], fmt: str, rate: float, schedule: str, init: str | None = None, key: str = "test_acc"
) -> dict[int, float]:
    """``{seed: test accuracy}`` (or another ``key`` of the rows) of one cell of the table; with
    ``init``, of the students so initialised only."""
    return {
        r["seed"]: r[key]
        for r in rows
        if r["format"] == fmt
        and r["target_rate"] == rate
        and r["schedule"] == schedule
        and (init is None or row_init(r) == init)
        and r.get(key) is not None
    }


def paired(rows: Sequence[dict], pairs: Sequence[tuple[tuple, tuple]], key: str = "test_acc") -> dict:
    """The paired comparison of ``pairs`` of cells ``((fmt, rate, schedule), (fmt, rate, schedule))``
    (or ``(fmt, rate, schedule, init)``; ``key``: the rows' value compared, the test accuracy):
    per seed, the mean difference (first − second, in points) over the pairs both seeds have;
    summarised over seeds. Also how many pairs have the first cell's mean above the second's."""
    per_seed: dict[int, list[float]] = {}
    wins = n = 0
    for a, b in pairs:
        va, vb = cell_values(rows, *a, key=key), cell_values(rows, *b, key=key)
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


def init_claim_lines(rows: Sequence[dict], formats: Sequence[str], rates: Sequence[float]) -> list[str]:
    """Issue 16's target for data-aware initialisation, as sentences computed from ``rows``:
    accuracy right after initialisation higher than weight-space initialisation, and final
    accuracy after each distillation schedule not lower (paired per format, rate and seed)."""
    inits = {row_init(r) for r in rows}
    if not {"decompose", "activations"} <= inits:
        return []
    schedules = [s for s in SCHEDULE_NAMES if s != "scratch" and any(r["schedule"] == s for r in rows)]
    lines = []
    # The accuracy after initialisation is one value per (format, rate, seed): take it from one schedule.
    first = {(r["format"], r["target_rate"]): r["schedule"] for r in rows if r["schedule"] in schedules}
    pairs = [((f, rate, s, "activations"), (f, rate, s, "decompose")) for (f, rate), s in first.items()
             if f in formats and rate in rates]  # fmt: skip
    start = paired(rows, pairs, key="init_acc")
    if start["pairs"]:
        lines.append(
            "Data-aware against weight-space initialisation, accuracy right after initialisation: "
            f"{verdict(start)} that it is higher. Mean difference {_effect(start)}; higher in {start['wins']} of "
            f"{start['pairs']} (format, rate) cells."
        )
    for schedule in schedules:
        pairs = [
            ((f, rate, schedule, "activations"), (f, rate, schedule, "decompose")) for f in formats for rate in rates
        ]
        final = paired(rows, pairs)
        if final["pairs"]:
            lower = "contradicted" if verdict(final) == "contradicted" else "not contradicted"
            lines.append(
                f"Data-aware against weight-space initialisation, final accuracy after {SCHEDULE_NAMES[schedule]}: "
                f"'not lower' is {lower} (higher: {verdict(final)}). Mean difference {_effect(final)}; higher in "
                f"{final['wins']} of {final['pairs']} cells."
            )
    return lines
