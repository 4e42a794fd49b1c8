"""The claims are computed from the rows, paired by seed, with a 95 % interval over seeds."""

import pytest

from tnviz.experiments.claims import claim_lines, paired, verdict
from tnviz.provenance import mean_ci


def rows_for(diff_by_seed, schedule="e2e"):
    """mtt and its twin tt at rate 0.05: tt at 0.95, mtt at 0.95 + the seed's difference."""
    rows = []
    for seed, diff in enumerate(diff_by_seed):
        for fmt, acc in (("tt", 0.95), ("mtt", 0.95 + diff)):
            rows.append({"format": fmt, "target_rate": 0.05, "schedule": schedule, "seed": seed, "test_acc": acc})
    return rows


def test_mean_ci_is_students_t():
    summary = mean_ci([1.0, 2.0, 3.0])
    assert summary["mean"] == 2.0 and summary["ci95"] == pytest.approx(4.303 * 1.0 / 3**0.5, rel=1e-4)
    assert mean_ci([5.0]) == {"mean": 5.0, "ci95": None, "n": 1}


@pytest.mark.parametrize(
    "diffs,expected",
    [
        ((0.010, 0.012, 0.011), "supported"),
        ((-0.010, -0.012, -0.011), "contradicted"),
        ((0.010, -0.012, 0.001), "inconclusive"),
        ((0.010,), "inconclusive (one seed: no interval)"),
    ],
)
def test_verdicts_follow_the_interval(diffs, expected):
    rows = rows_for(diffs)
    summary = paired(rows, [(("mtt", 0.05, "e2e"), ("tt", 0.05, "e2e"))])
    assert summary["mean"] == pytest.approx(100 * sum(diffs) / len(diffs))
    assert verdict(summary) == expected
    (line,) = claim_lines(rows, ["tt", "mtt"], [0.05], {"mtt": "tt"})
    assert line.startswith("Claim 1") and expected in line


def test_pairs_only_seeds_both_cells_have():
    rows = rows_for((0.01, 0.02, 0.03))
    rows = [r for r in rows if not (r["format"] == "tt" and r["seed"] == 2)]
    summary = paired(rows, [(("mtt", 0.05, "e2e"), ("tt", 0.05, "e2e"))])
    assert summary["n"] == 2 and summary["mean"] == pytest.approx(1.5)


def test_claim_two_compares_schedules_at_the_highest_compression():
    rows = rows_for((0.01, 0.01, 0.01), "blockwise+e2e") + rows_for((0.0, 0.0, 0.0), "e2e")
    lines = claim_lines(rows, ["tt", "mtt"], [0.05], {"mtt": "tt"})
    claim2 = [line for line in lines if line.startswith("Claim 2")]
    assert len(claim2) == 1 and "(Seq-KD) beats end-to-end KD (E2E-KD)" in claim2[0]
