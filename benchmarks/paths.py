"""Path quality on large networks: tnviz's "auto" and "hyper" beside opt_einsum and cotengra.

Networks: ``opt_einsum.testing.rand_equation(n, 3, seed=s)`` — random regular graphs, every
tensor of degree 3, index sizes 2–9 (opt_einsum's defaults), a scalar output — for n = 16, 50,
100, 300 and 1,000 tensors and ``--seeds`` seeds. Each planner plans each network once, in a
fresh Python process per seed (one torch-free thread); its time and the log10 FLOPs of its path,
all FLOPs counted by opt_einsum's ``contract_path`` on the path (so every planner is costed by the
same rule), are written.

Planners: tnviz ``optimize="auto"`` and ``optimize="hyper"`` (``Hyper()``: 128 random greedy
trees, the best three reconfigured with subtrees of 8), both with ``objective="flops"`` so that
they minimise what is compared; opt_einsum 3.4 ``greedy`` and ``auto-hq``; cotengra's
``HyperOptimizer`` (32 repeats; 8 at 1,000 tensors, where one repeat takes tens of seconds) when
cotengra is installed (``pip install cotengra``; without KaHyPar it uses its greedy and label
propagation methods).

Run: ``python benchmarks/paths.py [--seeds 3]``; ``python benchmarks/docs.py`` writes the README's
table from ``benchmarks/results/paths.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

from timing import run_processes

HERE = Path(__file__).resolve().parent
SIZES = (16, 50, 100, 300, 1000)
PLANNERS = ("tnviz auto", "tnviz hyper", "opt_einsum greedy", "opt_einsum auto-hq", "cotengra")


def _planners(eq: str, shapes: list, n: int) -> dict:
    """Each planner as a function returning an opt_einsum path."""
    import opt_einsum

    from tnviz import Diagram, Hyper

    def tnviz_plan(optimize):
        def run():
            d = Diagram.parse(eq)
            d = d.bind(shapes=dict(zip(d.tensor_names, shapes)))
            return d.plan(optimize=optimize, objective="flops").path

        return run

    planners = {
        "tnviz auto": tnviz_plan("auto"),
        "tnviz hyper": tnviz_plan(Hyper()),
        "opt_einsum greedy": lambda: opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="greedy")[0],
        "opt_einsum auto-hq": lambda: opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="auto-hq")[0],
    }
    try:
        import cotengra
    except ImportError:
        return planners

    def cotengra_path():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "kahypar not found": recorded in the results instead
            opt = cotengra.HyperOptimizer(max_repeats=8 if n >= 1000 else 32, progbar=False, parallel=False)
            return opt(*_cotengra_args(eq, shapes))

    planners["cotengra"] = cotengra_path
    return planners


def _cotengra_args(eq: str, shapes: list):
    inputs, output = eq.split("->")
    terms = inputs.split(",")
    sizes = {c: d for term, shape in zip(terms, shapes) for c, d in zip(term, shape)}
    return [list(t) for t in terms], list(output), sizes


def worker(seed: int) -> None:
    import opt_einsum
    from opt_einsum.testing import rand_equation

    rows = {}
    for n in SIZES:
        eq, shapes = rand_equation(n, 3, seed=seed)
        shapes = [tuple(s) for s in shapes]
        for name, plan in _planners(eq, shapes, n).items():
            start = time.perf_counter()
            path = plan()
            elapsed = time.perf_counter() - start
            flops = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=[tuple(p) for p in path])[1].opt_cost
            rows[f"{n}/{name}"] = {"seconds": elapsed, "log10_flops": math.log10(flops)}
            print(f"seed {seed} n={n} {name}: {elapsed:.2f} s, log10 {math.log10(flops):.2f}", file=sys.stderr)
    json.dump(rows, sys.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "paths.json")
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.seed)
        return
    runs = [run_processes(__file__, ["--seed", str(seed)], 1)[0] for seed in range(1, args.seeds + 1)]
    results = {"by_seed": {str(seed): run for seed, run in enumerate(runs, 1)}}
    settings = {"seeds": args.seeds, "sizes": list(SIZES), "hyper": "Hyper()", "objective": "flops"}
    try:
        import cotengra

        settings["cotengra"] = cotengra.__version__
        try:
            import kahypar  # noqa: F401

            settings["kahypar"] = True
        except ImportError:
            settings["kahypar"] = False
    except ImportError:
        settings["cotengra"] = None
    import opt_einsum  # noqa: F401  (versions in the provenance)

    from tnviz.provenance import write_results

    path = write_results(args.out, results, settings)
    print(table(json.loads(path.read_text())))
    print(f"\nwritten to {path}")


def _cell(values: list[dict]) -> str:
    flops = [v["log10_flops"] for v in values]
    seconds = statistics.median(v["seconds"] for v in values)
    spread = f" ({min(flops):.2f}–{max(flops):.2f})" if len(flops) > 1 else ""
    timing = f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
    return f"{statistics.median(flops):.2f}{spread} / {timing}"


def table(data: dict) -> str:
    """The markdown table of a results file written by this script: per size and planner, the
    median log10 FLOPs over seeds (their range) and the median planning time."""
    runs = list(data["results"]["by_seed"].values())
    present = [p for p in PLANNERS if any(f"{SIZES[0]}/{p}" in r for r in runs)]
    lines = [
        "| tensors | " + " | ".join(present) + " |",
        "|---" * (len(present) + 1) + "|",
    ]
    for n in SIZES:
        cells = []
        for p in present:
            values = [r[f"{n}/{p}"] for r in runs if f"{n}/{p}" in r]
            cells.append(_cell(values) if values else "—")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
