"""Seconds per unit of a decomposer's ``WORK``, per format: what turns the multiply-adds of a
decomposition's dominant steps into the time estimate ``tnviz.nn.decompose.decomposition_seconds``
gives before ``compress`` decomposes anything.

Each format decomposes ``nn.Conv2d`` kernels with their own random initialisation (C→C 3×3 for
C in ``--channels``, and a C→4C Linear) at two rates; its rate is the median of seconds / work
over the larger half of them, and a fixed overhead per decomposition what is left (in the median)
of the time of all. The results file also keeps, for every kernel, the estimate over the
measured time, so the estimate's spread is on record (the README's and the note's figures come
from here). ``--write`` copies the rates, with the machine's float64 matrix-product speed, into
``tnviz/nn/decomposers/rates.json``, which the estimate reads.

    python benchmarks/decompose_rates.py --write      # benchmarks/results/decompose_rates.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "decompose_rates.json"
PACKAGE_FILE = ROOT / "tnviz" / "nn" / "decomposers" / "rates.json"
RATES = (0.05, 0.2)


def one(fmt: str, module: nn.Module, rate: float) -> dict:
    from tnviz.nn import from_dense
    from tnviz.nn.decomposers import WORKS
    from tnviz.nn.decomposers.common import PricedAs
    from tnviz.nn.layers import tensorial_class

    layer = tensorial_class(module)._like(module, fmt, rate, None)
    config = layer.config
    shape = (config.out_channels, config.in_channels, *config.kernel_size)
    work = WORKS[fmt](layer.built, shape, 200)
    priced_as, work = (work.format, work.work) if isinstance(work, PricedAs) else (fmt, work)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_dense(module, format=fmt, rate=rate)
    seconds = time.perf_counter() - start
    row = {"format": fmt, "module": str(module), "rate": rate, "ranks": layer.ranks, "work": work}
    return {**row, "priced_as": priced_as, "seconds": seconds}


def measure(channels: list[int], threads: int) -> dict:
    from tnviz.nn.decompose import matmul_rate
    from tnviz.nn.decomposers import DECOMPOSERS

    torch.set_num_threads(threads)
    rows = []
    for fmt in sorted(f for f in DECOMPOSERS if f != "dense"):
        for c in channels:
            torch.manual_seed(c)
            for module in (nn.Conv2d(c, c, 3), nn.Linear(c, 4 * c)):
                for rate in RATES:
                    try:
                        rows.append(one(fmt, module, rate))
                    except Exception as err:  # a setting no rank fits: on record, not a rate
                        rows.append({"format": fmt, "module": str(module), "rate": rate, "failed": repr(err)})
                    print(rows[-1], flush=True)
    per_unit, overhead = {}, {}
    for fmt in dict.fromkeys(r["format"] for r in rows):
        # a format's own algorithm only (CP of a Linear's matrix is an SVD, priced at svd's rate)
        done = sorted(
            (r for r in rows if r["format"] == fmt and "seconds" in r and r["priced_as"] == fmt),
            key=lambda r: r["work"],
        )
        # seconds ≈ overhead + per_unit · work: the rate from the larger half (where the work
        # dominates), the overhead what is left, in the median, over all
        per_unit[fmt] = statistics.median(r["seconds"] / r["work"] for r in done[len(done) // 2 :])
        overhead[fmt] = max(0.0, statistics.median(r["seconds"] - per_unit[fmt] * r["work"] for r in done))
    for r in rows:
        if "seconds" in r:
            key = r["priced_as"]
            r["estimate_over_measured"] = (overhead[key] + r["work"] * per_unit[key]) / r["seconds"]
    return {"rows": rows, "seconds_per_work": per_unit, "overhead_seconds": overhead, "matmul_rate": matmul_rate()}


def table(results: dict) -> str:
    lines = [
        "| format | seconds per unit of WORK | overhead s | estimate / measured: min | median | max | kernels |",
        "|---|---|---|---|---|---|---|",
    ]
    for fmt, per_unit in results["seconds_per_work"].items():
        ratios = [r["estimate_over_measured"] for r in results["rows"] if r["format"] == fmt and "seconds" in r]
        lines.append(
            f"| {fmt} | {per_unit:.3g} | {results['overhead_seconds'][fmt]:.3f} | {min(ratios):.2f} | "
            f"{statistics.median(ratios):.2f} | "
            f"{max(ratios):.2f} | {len(ratios)} |"
        )
    return "\n".join(lines)


def package_rates(data: dict) -> dict:
    from tnviz.provenance import package_header

    r = data["results"]
    return {
        **package_header(data, "python benchmarks/decompose_rates.py --write", str(RESULTS.relative_to(ROOT))),
        "matmul_rate": r["matmul_rate"],
        "seconds_per_work": {k: float(f"{v:.4g}") for k, v in r["seconds_per_work"].items()},
        "overhead_seconds": {k: float(f"{v:.4g}") for k, v in r["overhead_seconds"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--write", action="store_true", help="also write the rates into the package")
    parser.add_argument("--write-only", action="store_true", help="write the package file from the results file")
    args = parser.parse_args()
    from tnviz.provenance import write_results

    if not args.write_only:
        results = measure(args.channels, args.threads)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        write_results(args.out, results, settings)
        print(table(results))
    if args.write or args.write_only:
        rates = package_rates(json.loads(args.out.read_text()))
        PACKAGE_FILE.write_text(json.dumps(rates, indent=2) + "\n")
        print(f"wrote {PACKAGE_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
