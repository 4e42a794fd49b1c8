"""Layer benchmark: tensorial Conv2d and Linear layers of every format against their dense twin.

Forward + backward with a fixed upstream gradient, ratios measured round-robin within one
process; ``--processes`` (default 3) separate processes give each ratio's median and
interquartile range, written with the provenance to ``benchmarks/results/layers.json``:

* Conv2d 64→64, 3×3, padding 1, batch 32 on 32×32, at rates 0.02, 0.05, 0.1: each format's
  layer / ``nn.Conv2d``, and the layer against the best of its two fixed strategies
  (reconstruct-the-kernel, left-to-right).
* Linear 1024→1024, batch 1024, rate 0.1: each format / ``nn.Linear``.
* tensorly-torch's CP, Tucker and TT convolutions at rate 0.1, when it is installed.

Run: ``python benchmarks/layers.py [--repeats 15] [--processes 3] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from timing import add_process_arguments, interleaved, run_benchmark, step
from torch import nn

from tnviz import TnvizError
from tnviz.nn import TensorialConv2d, TensorialLinear

HERE = Path(__file__).resolve().parent

FORMATS = ("cp", "tk", "tt", "tr", "mcp", "mtk", "mtt", "mtr")


def _tltorch(factorization: str, rate: float, device: str):
    try:
        import tltorch
    except ImportError:
        return None
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = tltorch.FactorizedConv.from_conv(
            conv, rank=rate, factorization=factorization, implementation="factorized"
        )
    return layer.to(device)


def measure(args) -> dict:
    """One process's ratios: every format and rate (Conv2d), every format (Linear), tensorly-torch."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    x = torch.randn(32, 64, 32, 32, device=dev, requires_grad=True)
    grad = torch.randn(32, 64, 32, 32, device=dev)
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dev)
    out: dict = {"conv": {}, "linear": {}, "tensorly-torch": {}}
    for name in FORMATS:
        for rate in args.rates:
            try:
                layers = {
                    opt: TensorialConv2d(
                        64, 64, 3, padding=1, bias=False, format=name, rate=rate, optimize=opt, device=dev
                    )
                    for opt in ("auto", "reconstruct", "left-to-right")
                }
            except TnvizError as err:  # a rate too small for rank 1 is reported, not fatal
                out["conv"][f"{name} {rate}"] = {"refused": err.message}
                continue
            for layer in layers.values():
                layer.load_state_dict(layers["auto"].state_dict())
            # Layer against dense, and the layer against its fixed strategies, each measured on its
            # own: mixing all four in one round lets the heavier runs disturb the lighter ones.
            rel = interleaved({"dense": step(dense, x, grad), "auto": step(layers["auto"], x, grad)}, args.repeats, dev)
            own = interleaved({k: step(v, x, grad) for k, v in layers.items()}, args.repeats, dev)
            auto = layers["auto"]
            out["conv"][f"{name} {rate}"] = {
                "ranks": " ".join(f"{k}={v}" for k, v in auto.ranks.items()),
                "params_over_dense": auto.achieved_rate,
                "approach": auto.plan(x).approach,
                "layer_over_dense": rel["auto"],
                "layer_over_best_strategy": 1.0 / min(own["reconstruct"], own["left-to-right"]),
            }
    xl = torch.randn(1024, 1024, device=dev, requires_grad=True)
    gl = torch.randn(1024, 1024, device=dev)
    linear = nn.Linear(1024, 1024, bias=False).to(dev)
    for name in FORMATS:
        layer = TensorialLinear(1024, 1024, bias=False, format=name, rate=0.1, device=dev)
        rel = interleaved({"dense": step(linear, xl, gl), "layer": step(layer, xl, gl)}, args.repeats, dev)
        out["linear"][name] = {
            "ranks": " ".join(f"{k}={v}" for k, v in layer.ranks.items()),
            "params_over_dense": layer.achieved_rate,
            "approach": layer.plan(xl).approach,
            "layer_over_dense": rel["layer"],
        }
    for fact, ours in (("cp", "cp"), ("tucker", "tk"), ("tt", "tt")):
        theirs = _tltorch(fact, 0.1, dev)
        if theirs is None:
            break
        mine = TensorialConv2d(64, 64, 3, padding=1, bias=False, format=ours, rate=0.1, device=dev)
        rel = interleaved(
            {"dense": step(dense, x, grad), "tnviz": step(mine, x, grad), "tltorch": step(theirs, x, grad)},
            args.repeats,
            dev,
        )
        out["tensorly-torch"][fact] = {"tnviz_over_dense": rel["tnviz"], "tltorch_over_dense": rel["tltorch"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rates", type=float, nargs="*", default=[0.02, 0.05, 0.1])
    add_process_arguments(parser, HERE / "results" / "layers.json")
    args = parser.parse_args()
    run_benchmark(__file__, args, measure, table, keep=("ranks", "params_over_dense", "approach", "refused"))


def _ratio(spread_: dict) -> str:
    return f"{spread_['median']:.2f} ({spread_['q25']:.2f}–{spread_['q75']:.2f})"


def table(data: dict) -> str:
    """Markdown tables of a results file written by this script (median and IQR over processes)."""
    r = data["results"]
    lines = ["| format | rate | ranks | params/dense | plan | layer/dense | layer/best strategy |", "|---" * 7 + "|"]
    for key, row in r["conv"].items():
        name, rate = key.split()
        if "refused" in row:
            lines.append(f"| {name} | {rate} | — | — | — | refused: {row['refused']} | |")
            continue
        lines.append(
            f"| {name} | {rate} | {row['ranks']} | {row['params_over_dense']:.3f} | {row['approach']} | "
            f"{_ratio(row['layer_over_dense'])} | {_ratio(row['layer_over_best_strategy'])} |"
        )
    lines += [
        "",
        "| format (Linear 1024→1024, rate 0.1) | ranks | params/dense | plan | layer/dense |",
        "|---" * 5 + "|",
    ]
    for name, row in r["linear"].items():
        lines.append(
            f"| {name} | {row['ranks']} | {row['params_over_dense']:.3f} | {row['approach']} | "
            f"{_ratio(row['layer_over_dense'])} |"
        )
    for fact, row in r["tensorly-torch"].items():
        lines.append(
            f"\n{fact}: tnviz/dense {_ratio(row['tnviz_over_dense'])}, "
            f"tensorly-torch/dense {_ratio(row['tltorch_over_dense'])}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
