"""Per-call cost of a compiled contraction: ``tnviz.contract_expression`` beside opt_einsum's.

Once a contraction is planned, what is left per call is running it: opt_einsum's
``ContractExpression`` (``backend="torch"``) is the reference a physicist would use. Cases, all
float32 on the CPU, entries scaled so that the results stay finite:

- ``mps-inner-100`` / ``mps-inner-500``: ⟨ψ|φ⟩ of two matrix product states (bond 16,
  physical 2) — 200 and 1,000 small tensors, so the time per step is most of the cost;
- ``mpo-mps-12``: an MPO (bond 4) applied to a 12-site MPS (bond 16), the 12 physical indices
  left open (a 4,096-element result);
- ``peps-6x6-norm``: ⟨ψ|ψ⟩ of a 6×6 PEPS (bond 3, physical 2), 72 tensors.

Timed, round-robin within one process (``timing.timed_rounds``): opt_einsum's expression with its
own path (``optimize="auto"``, its default), the same with tnviz's path (the executors compared on
one path), tnviz's expression, and ``tnviz.einsum`` on the same tensors (plan looked up from its
cache on every call). Ratios to opt_einsum's own are taken within a round; the median over rounds
is one process's figure, and the median and interquartile range over ``--processes`` separate
processes are written.

Run: ``python benchmarks/expressions.py [--processes 3]``; ``python benchmarks/docs.py`` writes
the table in ``docs/expressions.md`` from the results file.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from timing import add_process_arguments, run_benchmark, timed_rounds

HERE = Path(__file__).resolve().parent


def _symbols():
    from opt_einsum import get_symbol

    return (get_symbol(k) for k in range(100_000))


def _chain(sym, sites: int, bond: int, legs: list[list[str]], leg_sizes: list[int]):
    """One chain's terms and shapes: site k holds [left bond] + legs[k] + [right bond]."""
    bonds = [next(sym) for _ in range(sites - 1)]
    terms, shapes = [], []
    for k in range(sites):
        left = [bonds[k - 1]] if k else []
        right = [bonds[k]] if k < sites - 1 else []
        terms.append("".join(left + legs[k] + right))
        shapes.append(tuple([bond] * len(left) + leg_sizes + [bond] * len(right)))
    return terms, shapes


def mps_inner(sites: int, bond: int = 16, phys: int = 2):
    sym = _symbols()
    p = [[next(sym)] for _ in range(sites)]
    a, sa = _chain(sym, sites, bond, p, [phys])
    b, sb = _chain(sym, sites, bond, p, [phys])
    return ",".join(a + b) + "->", sa + sb


def mpo_mps(sites: int = 12, bond: int = 16, mpo_bond: int = 4, phys: int = 2):
    sym = _symbols()
    p = [next(sym) for _ in range(sites)]
    q = [next(sym) for _ in range(sites)]
    a, sa = _chain(sym, sites, bond, [[x] for x in p], [phys])
    w, sw = _chain(sym, sites, mpo_bond, [[x, y] for x, y in zip(p, q)], [phys, phys])
    return ",".join(a + w) + "->" + "".join(q), sa + sw


def peps_norm(rows: int = 6, cols: int = 6, bond: int = 3, phys: int = 2):
    """⟨ψ|ψ⟩ of a rows×cols PEPS: a bra and a ket layer sharing the physical indices."""
    sym = _symbols()
    p = {(r, c): next(sym) for r in range(rows) for c in range(cols)}
    terms, shapes = [], []
    for _layer in range(2):
        horizontal = {(r, c): next(sym) for r in range(rows) for c in range(cols - 1)}
        vertical = {(r, c): next(sym) for r in range(rows - 1) for c in range(cols)}
        for r in range(rows):
            for c in range(cols):
                legs = [p[r, c]]
                legs += [horizontal[r, c - 1]] if c else []
                legs += [horizontal[r, c]] if c < cols - 1 else []
                legs += [vertical[r - 1, c]] if r else []
                legs += [vertical[r, c]] if r < rows - 1 else []
                terms.append("".join(legs))
                shapes.append((phys,) + (bond,) * (len(legs) - 1))
    return ",".join(terms) + "->", shapes


CASES = {
    "mps-inner-100": lambda: mps_inner(100),
    "mps-inner-500": lambda: mps_inner(500),
    "mpo-mps-12": lambda: mpo_mps(),
    "peps-6x6-norm": lambda: peps_norm(),
}


def _tensors(shapes, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # standard deviation numel^(-1/4): each step of a chain then keeps its partial product's entries
    # near 1 (a ⟨ψ|φ⟩ transfer step sums D²·p products of two entries), so nothing overflows or
    # turns denormal (which would time something else)
    return [torch.randn(s, generator=g) * float(torch.tensor(s).prod()) ** -0.25 for s in shapes]


def _calls(eq: str, shapes: list, tensors: list[torch.Tensor]) -> dict:
    """The four calls timed, after checking that they agree (in float64, on the same values)."""
    import opt_einsum

    import tnviz

    expr = tnviz.contract_expression(eq, *shapes)
    theirs = opt_einsum.contract_expression(eq, *shapes)
    same_path = opt_einsum.contract_expression(eq, *shapes, optimize=expr.plan.path)
    wide = [t.double() for t in tensors]
    reference = theirs(*wide, backend="torch")
    for got in (expr(*wide), same_path(*wide, backend="torch"), expr(*tensors).double()):
        if not (torch.isfinite(got).all() and torch.allclose(got, reference, rtol=1e-3, atol=1e-6)):
            values = f"{got.flatten()[:3].tolist()} against {reference.flatten()[:3].tolist()}"
            raise SystemExit(f"{eq[:40]}…: tnviz and opt_einsum disagree ({values})")
    return {
        "opt_einsum": lambda: theirs(*tensors, backend="torch"),
        "opt_einsum_tnviz_path": lambda: same_path(*tensors, backend="torch"),
        "tnviz_expression": lambda: expr(*tensors),
        "tnviz_einsum": lambda: tnviz.einsum(eq, *tensors),
    }


def measure(args) -> dict:
    import opt_einsum

    import tnviz

    torch.set_num_threads(args.threads)
    rows = {}
    for name, make in CASES.items():
        eq, shapes = make()
        tensors = _tensors(shapes)
        fns = _calls(eq, shapes, tensors)
        rounds = timed_rounds(fns, args.rounds, "cpu")
        rows[name] = {
            "tensors": len(shapes),
            "tnviz_flops": int(tnviz.contract_expression(eq, *shapes).plan.flops),
            "opt_einsum_flops": int(opt_einsum.contract_path(eq, *shapes, shapes=True)[1].opt_cost),
            **{
                f"{k}_vs_opt_einsum": statistics.median(r[k] / r["opt_einsum"] for r in rounds)
                for k in fns
                if k != "opt_einsum"
            },
        }
    return rows


def table(data: dict) -> str:
    """The markdown table of a results file written by this script."""

    def cell(spread: dict) -> str:
        return f"{spread['median']:.2f} ({spread['q25']:.2f}–{spread['q75']:.2f})"

    lines = [
        "| case | tensors | tnviz expression / opt_einsum | opt_einsum on tnviz's path / opt_einsum | "
        "`tnviz.einsum` / opt_einsum | path FLOPs: tnviz, opt_einsum |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in data["results"].items():
        lines.append(
            f"| {name} | {r['tensors']} | {cell(r['tnviz_expression_vs_opt_einsum'])} | "
            f"{cell(r['opt_einsum_tnviz_path_vs_opt_einsum'])} | {cell(r['tnviz_einsum_vs_opt_einsum'])} | "
            f"{r['tnviz_flops']:.3g}, {r['opt_einsum_flops']:.3g} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_process_arguments(parser, HERE / "results" / "expressions.json")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds per process")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the workers")
    args = parser.parse_args()
    run_benchmark(__file__, args, measure, table)


if __name__ == "__main__":
    main()
