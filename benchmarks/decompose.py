"""Decomposition time and error: tnviz's ``from_dense`` beside tensorly-torch's
``FactorizedConv.from_conv`` (decompose_weights=True), at the same rank, on random convolution
kernels (``nn.Conv2d``'s own initialisation, as ``weights=None``).

For each kernel, format and seed: both libraries' relative weight error ‖W − Ŵ‖ / ‖W‖ and
seconds, tnviz's time over tensorly-torch's and its error minus theirs. CP is given
tensorly-torch's rank (its ``rank=rate`` rounding may differ from tnviz's by one); Tucker and TT
at the rate, each library choosing its ranks (reported).

    python benchmarks/decompose.py                    # benchmarks/results/decompose.json
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "decompose.json"
KERNELS = ((64, 64, 3), (256, 256, 3), (512, 512, 3))
FORMATS = (("cp", "cp"), ("tucker", "tk"), ("tt", "tt"))


def _error(weight: torch.Tensor, rebuilt: torch.Tensor) -> float:
    return float((rebuilt.double() - weight.double()).norm() / weight.double().norm())


def one(cin: int, cout: int, k: int, theirs: str, ours: str, rate: float, seed: int) -> dict:
    import tltorch

    from tnviz.nn import TensorialConv2d

    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, k, padding=k // 2)
    weight = conv.weight.detach()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        fc = tltorch.FactorizedConv.from_conv(conv, rank=rate, factorization=theirs, decompose_weights=True)
        their_seconds = time.perf_counter() - started
    their_error = _error(weight, fc.weight.to_tensor().reshape(weight.shape))
    their_rank = fc.weight.rank
    started = time.perf_counter()
    if ours == "cp":  # the same rank as theirs: equal parameters, equal footing
        layer = TensorialConv2d.from_dense(conv, format="cp", rank={"r": int(their_rank)})
    else:
        layer = TensorialConv2d.from_dense(conv, format=ours, rate=rate)
    our_seconds = time.perf_counter() - started
    return {
        "kernel": f"{cin}→{cout} {k}×{k}",
        "format": ours,
        "seed": seed,
        "rate": rate,
        "tltorch_rank": str(their_rank),
        "tltorch_params": sum(p.numel() for p in fc.weight.parameters()),
        "tltorch_error": their_error,
        "tltorch_seconds": their_seconds,
        "tnviz_ranks": dict(layer.ranks),
        "tnviz_params": layer.built.param_count,
        "tnviz_error": layer.reconstruction_error,
        "tnviz_seconds": our_seconds,
    }


def table(data: dict) -> str:
    from tnviz.provenance import mean_ci_text

    rows = data["results"]
    lines = [
        "| kernel | format | tnviz params / tensorly-torch's | tnviz error | tensorly-torch error | "
        "tnviz time / tensorly-torch's |",
        "|---|---|---|---|---|---|",
    ]

    for key in dict.fromkeys((r["kernel"], r["format"]) for r in rows):
        runs = [r for r in rows if (r["kernel"], r["format"]) == key]
        params = mean_ci_text([r["tnviz_params"] / r["tltorch_params"] for r in runs], 3)
        errors = mean_ci_text([r["tnviz_error"] for r in runs]), mean_ci_text([r["tltorch_error"] for r in runs])
        seconds = mean_ci_text([r["tnviz_seconds"] / r["tltorch_seconds"] for r in runs], 2)
        lines.append(f"| {key[0]} | {key[1]} | {params} | {errors[0]} | {errors[1]} | {seconds} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from tnviz.provenance import write_results

    torch.set_num_threads(args.threads)
    rows = []
    for cin, cout, k in KERNELS:
        for theirs, ours in FORMATS:
            for seed in range(args.seeds):
                rows.append(one(cin, cout, k, theirs, ours, args.rate, seed))
                print(rows[-1], flush=True)
    path = write_results(args.out, rows, {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()})
    print(table({"results": rows}))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
