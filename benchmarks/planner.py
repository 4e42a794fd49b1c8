"""Planner benchmark: tnviz's planning time, path FLOPs and memory beside opt_einsum's.

Cases: random regular networks (``opt_einsum.testing.rand_equation``, regularity 3, index
sizes 2-3, two output indices) of 16, 100 and 1,000 tensors; the inner product of two
40-core tensor trains (80 tensors, bond 16); and, for the convolution-aware part, an mTT
convolution layer with 12 cores (14 tensors, beyond the exact search), where opt_einsum
cannot plan and the comparison is with left-to-right and reconstruct-first.

Each case is planned from a fresh Diagram (no cache) in each of ``--processes`` separate
Python processes; times are reported as the median and interquartile range over those
processes, FLOPs must agree between them. Peak memory is the planner's Python allocations
(tracemalloc) in a separate pass. opt_einsum runs ``contract_path(..., optimize="auto")``.

Run: ``python benchmarks/planner.py [--processes 3] [--out benchmarks/results/planner.json]``;
``python benchmarks/docs.py`` rewrites the README's planner table from the results file alone
(a test checks that the committed README equals what it generates).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

from timing import run_processes, spread

from tnviz.provenance import write_results

HERE = Path(__file__).resolve().parent


def _random_case(n: int, seed: int):
    from opt_einsum.testing import rand_equation

    eq, shapes = rand_equation(n, 3, seed=seed, d_min=2, d_max=3, n_out=2)
    return eq, [tuple(s) for s in shapes]


def _train_case(cores: int = 40, bond: int = 16, phys: int = 2):
    """<A|B> for two tensor trains, as an einsum equation over generated symbols."""
    from opt_einsum import get_symbol

    sym = iter(get_symbol(k) for k in range(10_000))
    p = [next(sym) for _ in range(cores)]
    a = [next(sym) for _ in range(cores - 1)]
    b = [next(sym) for _ in range(cores - 1)]
    terms, shapes = [], []
    for bonds in (a, b):
        for k in range(cores):
            left = [bonds[k - 1]] if k else []
            right = [bonds[k]] if k < cores - 1 else []
            terms.append("".join(left + [p[k]] + right))
            shapes.append(tuple([bond] * len(left) + [phys] + [bond] * len(right)))
    return ",".join(terms) + "->", shapes


def _to_spec(eq: str) -> str:
    """An einsum equation as a named tnviz spec (indices i0, i1, ... as in generated networks)."""
    inputs, output = eq.split("->")
    names: dict[str, str] = {}

    def idx(c: str) -> str:
        return names.setdefault(c, f"i{len(names)}")

    ops = [f"T{k}: " + " ".join(idx(c) for c in term) for k, term in enumerate(inputs.split(","))]
    return ", ".join(ops) + " -> " + " ".join(idx(c) for c in output)


def _mtt_layer(cores: int = 12):
    s = " ".join(f"s{k}" for k in range(1, cores + 1))
    t = " ".join(f"t{k}" for k in range(1, cores + 1))
    ops = ["T1: s1 t1 r1"] + [f"T{k}: r{k - 1} s{k} t{k} r{k}" for k in range(2, cores + 1)]
    spec = f"X: b ({s}) x y, " + ", ".join(ops) + f", C: r{cores} x y -> b ({t}) x y | x y"
    sizes = {f"s{k}": 2 for k in range(1, cores + 1)}
    sizes.update({f"t{k}": 2 for k in range(1, cores + 1)})
    sizes.update({f"r{k}": 8 for k in range(1, cores + 1)})
    sizes.update(C=(8, 3, 3), X=(32, 2**cores, 16, 16))
    return spec, sizes


CASES = {
    "random-16": lambda: _random_case(16, 12),
    "random-100": lambda: _random_case(100, 12),
    "random-1000": lambda: _random_case(1000, 12),
    "train-inner-80": lambda: _train_case(),
}


def _diagram(name: str):
    from tnviz import Diagram

    if name == "mtt12-conv":
        spec, sizes = _mtt_layer()
        return Diagram.parse(spec, sizes=sizes, padding=1), None, None
    eq, shapes = CASES[name]()
    d = Diagram.parse(_to_spec(eq))
    return d.bind({t: s for t, s in zip(d.tensor_names, shapes)}), eq, shapes


def _measure(fn):
    start = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, elapsed, peak


def worker() -> None:
    import opt_einsum

    rows = {}
    for name in [*CASES, "mtt12-conv"]:
        _diagram(name)[0].plan()  # warm imports and code paths, on a throw-away diagram
        plan, t_plan, m_plan = _measure(lambda n=name: _diagram(n)[0].plan())
        row = {
            "tensors": len(plan.diagram.tensors),
            "tnviz_seconds": t_plan,
            "tnviz_flops": plan.flops,
            "tnviz_peak_bytes": m_plan,
            "approach": plan.approach,
        }
        _, eq, shapes = _diagram(name)
        if eq is not None:
            info, t_oe, m_oe = _measure(
                lambda e=eq, s=shapes: opt_einsum.contract_path(e, *s, shapes=True, optimize="auto")[1]
            )
            row.update(opt_einsum_seconds=t_oe, opt_einsum_flops=int(info.opt_cost), opt_einsum_peak_bytes=m_oe)
        else:
            row.update(left_to_right_flops=plan.left_to_right_flops, reconstruct_flops=plan.reconstruct_flops)
        rows[name] = row
    json.dump(rows, sys.stdout)


def _fmt_time(spread: dict) -> str:
    return f"{spread['median'] * 1e3:.1f} ms ({spread['q25'] * 1e3:.1f}–{spread['q75'] * 1e3:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "planner.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    runs = run_processes(__file__, [], args.processes)
    for name in runs[0]:
        flops = {r[name]["tnviz_flops"] for r in runs}
        if len(flops) != 1:
            raise SystemExit(f"{name}: tnviz FLOPs differ between processes: {sorted(flops)}")
    results = spread(runs)
    for row in results.values():
        if "opt_einsum_flops" in row:
            row["flops_ratio"] = row["tnviz_flops"] / row["opt_einsum_flops"]
    import opt_einsum  # noqa: F401  (for the versions in the provenance)
    import torch  # noqa: F401

    import tnviz  # noqa: F401

    path = write_results(args.out, results, {"processes": args.processes, "opt_einsum_optimize": "auto"})
    print(table(json.loads(path.read_text())))
    print(f"\nwritten to {path}")


def table(data: dict) -> str:
    """The markdown table of a results file written by this script."""
    lines = [
        "| case | tensors | tnviz plan time (median, IQR) | tnviz FLOPs | tnviz peak memory | "
        "opt_einsum time | opt_einsum FLOPs | FLOPs tnviz / opt_einsum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in data["results"].items():
        if "opt_einsum_flops" in r:
            other = f"{_fmt_time(r['opt_einsum_seconds'])} | {r['opt_einsum_flops']:.3g} | {r['flops_ratio']:.2f}"
        else:
            other = (
                f"— (convolution) | left-to-right {r['left_to_right_flops']:.3g}, "
                f"reconstruct {r['reconstruct_flops']:.3g} | —"
            )
        lines.append(
            f"| {name} | {r['tensors']} | {_fmt_time(r['tnviz_seconds'])} | {r['tnviz_flops']:.3g} | "
            f"{r['tnviz_peak_bytes'] / 1e6:.1f} MB | {other} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
