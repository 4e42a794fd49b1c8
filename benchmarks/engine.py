"""Engine benchmark: tnviz layers against dense F.conv2d, forward + backward, on the CPU.

Every figure is a ratio of times measured within one process (the median of interleaved
rounds, 2 threads), never an absolute time; ``--processes`` (default 3) separate processes
give each ratio's median and interquartile range, written with the provenance to
``benchmarks/results/engine.json``:

* ``tnviz/dense``: tnviz with its planner against dense ``F.conv2d`` of the same shape;
* ``reconstruct/dense`` and ``left-to-right/dense``: the two fixed strategies,
  reconstruct-the-kernel-then-convolve and naive left-to-right pairwise evaluation;
* ``auto's plan is``: whether the planner's plan is one of those two (then their ratio is
  timing noise);
* tensorly-torch's factorized CP convolution beside tnviz's, when it is installed.

Run: ``python benchmarks/engine.py [--batch 32] [--size 32] [--repeats 15] [--processes 3]
[--device cpu|cuda]``; the README's table is generated from the results file by
``python benchmarks/docs.py``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from timing import add_process_arguments, run_benchmark
from timing import interleaved as _interleaved
from timing import step as _step

import tnviz
from tnviz.paper_layers import PAPER_LAYERS

HERE = Path(__file__).resolve().parent


def _tltorch_cp(rank: int, device: str):
    try:
        import tltorch
    except ImportError:
        return None
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
    layer = tltorch.FactorizedConv.from_conv(conv, rank=rank, factorization="cp", implementation="factorized")
    return layer.to(device)


def measure(args) -> dict:
    """One process's ratios for every layer (and tensorly-torch's CP beside tnviz's)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = args.device
    x = torch.randn(args.batch, 64, args.size, args.size, device=device, requires_grad=True)
    dense = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(device)
    grad = torch.randn(args.batch, 64, args.size, args.size, device=device)
    dense_flops = 2 * args.batch * 64 * 64 * 9 * args.size * args.size
    rows = {}
    for name in args.layers:
        spec, sizes = PAPER_LAYERS[name]
        diagram = tnviz.Diagram.parse(spec, sizes=sizes, padding=1)
        nets = {
            opt: tnviz.TensorNetwork(diagram, optimize=opt, device=device)
            for opt in ("auto", "reconstruct", "left-to-right")
        }
        for net in nets.values():
            net.load_state_dict(nets["auto"].state_dict())
        fns = {"dense": _step(dense, x, grad), **{opt: _step(net, x, grad) for opt, net in nets.items()}}
        rel = _interleaved(fns, args.repeats, device)  # each relative to dense
        plan = nets["auto"].plan(x)
        # When auto's plan is one of the fixed ones the two runs are the same computation and
        # their ratio shows only the timing noise of this machine.
        same = [opt for opt in ("reconstruct", "left-to-right") if nets[opt].plan(x).tree == plan.tree]
        rows[name] = {
            "params_over_dense": sum(p.numel() for p in nets["auto"].parameters()) / 36864,
            "flops_over_dense": plan.flops / dense_flops,
            "approach": plan.approach,
            "auto_plan_is": same[0] if same else "its own",
            "auto": rel["auto"],
            "reconstruct": rel["reconstruct"],
            "left_to_right": rel["left-to-right"],
        }
    with warnings.catch_warnings():  # tensorly warns that rank 27 exceeds the 3-long modes
        warnings.simplefilter("ignore", UserWarning)
        layer = _tltorch_cp(27, device)
    if layer is not None:
        net = tnviz.TensorNetwork(tnviz.Diagram.parse(*PAPER_LAYERS["cp"][:1], sizes=PAPER_LAYERS["cp"][1], padding=1))
        rel = _interleaved(
            {"dense": _step(dense, x, grad), "tnviz": _step(net.to(device), x, grad), "tltorch": _step(layer, x, grad)},
            args.repeats,
            device,
        )
        rows["tensorly-torch cp"] = {"tnviz": rel["tnviz"], "tltorch": rel["tltorch"]}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", nargs="*", default=list(PAPER_LAYERS))
    add_process_arguments(parser, HERE / "results" / "engine.json")
    args = parser.parse_args()
    run_benchmark(__file__, args, measure, table, keep=("params_over_dense", "flops_over_dense"))


def _ratio(spread: dict) -> str:
    return f"{spread['median']:.2f} ({spread['q25']:.2f}–{spread['q75']:.2f})"


def table(data: dict) -> str:
    """The markdown table of a results file written by this script."""
    lines = [
        "| layer | params/dense | FLOPs/dense | approach | tnviz/dense | reconstruct/dense | left-to-right/dense "
        "| auto's plan is |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in data["results"].items():
        if name == "tensorly-torch cp":
            continue
        lines.append(
            f"| {name} | {r['params_over_dense']:.3f} | {r['flops_over_dense']:.3f} | {r['approach']} | "
            f"{_ratio(r['auto'])} | {_ratio(r['reconstruct'])} | {_ratio(r['left_to_right'])} | "
            f"{r['auto_plan_is']} |"
        )
    cp = data["results"].get("tensorly-torch cp")
    if cp is not None:
        lines += [
            "",
            f"CP rank 27 beside tensorly-torch's factorized convolution (same run): tnviz/dense "
            f"{_ratio(cp['tnviz'])}, tensorly-torch/dense {_ratio(cp['tltorch'])}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
