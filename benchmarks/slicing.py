"""A network that does not fit the memory budget, run sliced: pieces, extra FLOPs, the memory it
really took and its time against the unsliced run (where that fits a larger budget).

The network: the norm ⟨ψ|ψ⟩ of a 5×5 PEPS of bond 4 (``expressions.peps_norm``, float32) planned by
tnviz's ``auto``: its intermediates need 80 MiB. Each run is a fresh Python process: once with the
budget below that need (``--budget``, default 32 MiB: the plan is sliced) and once with the
default budget (unsliced). Written per run: the plan's
estimated new memory, the growth of the process's peak resident memory while it ran (VmHWM),
the wall time (median of ``--repeats``), and the result's relative difference from the unsliced
one.

Run: ``python benchmarks/slicing.py``; results in ``benchmarks/results/slicing.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = r"""
import json, statistics, sys, time
import torch
import tnviz
from tnviz.execute.memory import plan_within_budget, set_memory_budget

sys.path.insert(0, sys.argv[5])
from expressions import peps_norm

rows, bond, budget, repeats = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
torch.set_num_threads(1)


def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024


eq, shapes = peps_norm(rows, rows, bond)
g = torch.Generator().manual_seed(0)
tensors = [torch.randn(s, generator=g) * float(torch.tensor(s).prod()) ** -0.25 for s in shapes]
if budget != "default":
    set_memory_budget(budget)
d = tnviz.Diagram.parse(eq)
plan = d.bind(shapes=dict(zip(d.tensor_names, shapes))).plan()
fitted = plan_within_budget(plan, 4)
before = peak()
y = tnviz.einsum(eq, *tensors)  # the first call: its peak is the intermediates' (and the plan's)
grown = peak() - before
times = []
for _ in range(repeats):
    start = time.perf_counter()
    y = tnviz.einsum(eq, *tensors)
    times.append(time.perf_counter() - start)
row = {
    "estimated_new_bytes": (fitted.peak_elements - fitted.input_elements) * 4,
    "unsliced_new_bytes": (plan.peak_elements - plan.input_elements) * 4,
    "peak_growth_bytes": grown,
    "seconds": statistics.median(times),
    "flops": fitted.flops,
    "unsliced_flops": plan.flops,
    "sliced": [[i, p] for i, p in getattr(fitted, "sliced", ())],
    "pieces": getattr(fitted, "slices", 1),
    "value": float(y),
}
print(json.dumps(row))
"""


def _run(rows: int, bond: int, budget: str, repeats: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(rows), str(bond), budget, str(repeats), str(HERE)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5, help="the PEPS is rows × rows")
    parser.add_argument("--bond", type=int, default=4)
    parser.add_argument("--budget", default="32MiB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "slicing.json")
    args = parser.parse_args()
    sliced = _run(args.rows, args.bond, args.budget, args.repeats)
    whole = _run(args.rows, args.bond, "default", args.repeats)
    results = {
        "sliced": sliced,
        "unsliced": whole,
        "relative_difference": abs(sliced["value"] - whole["value"]) / max(abs(whole["value"]), 1e-30),
        "time_ratio": sliced["seconds"] / whole["seconds"],
    }
    import opt_einsum  # noqa: F401  (versions in the provenance)
    import torch  # noqa: F401

    from tnviz.provenance import write_results

    settings = {k: v for k, v in vars(args).items() if k != "out"}
    path = write_results(args.out, results, settings)
    print(table(json.loads(path.read_text())))
    print(f"\nwritten to {path}")


def table(data: dict) -> str:
    """The markdown table of a results file written by this script."""
    r = data["results"]
    mib = 2**20
    lines = [
        "| run | sliced | pieces | FLOPs | estimated new memory | measured peak growth | time / unsliced |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("unsliced", "sliced"):
        row = r[name]
        over = ", ".join(f"{i} in {p}" for i, p in row["sliced"]) or "—"
        ratio = f"{r['time_ratio']:.2f}" if name == "sliced" else "1"
        lines.append(
            f"| {name} | {over} | {row['pieces']} | {row['flops']:.3g} | {row['estimated_new_bytes'] / mib:.0f} MiB | "
            f"{row['peak_growth_bytes'] / mib:.0f} MiB | {ratio} |"
        )
    return "\n".join(lines) + f"\n\nRelative difference of the results: {r['relative_difference']:.1e}."


if __name__ == "__main__":
    main()
