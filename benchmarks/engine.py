"""Engine benchmark: tnviz layers against dense F.conv2d, forward + backward, on the CPU.

Every figure is a ratio of times measured in this one run (medians of repeated runs,
2 threads), never an absolute time:

* ``auto/dense``: tnviz with its planner against dense ``F.conv2d`` of the same shape;
* ``recon/dense`` and ``l2r/dense``: the two fixed strategies, reconstruct-the-kernel-then-
  convolve and naive left-to-right pairwise evaluation;
* ``auto/best``: tnviz against the better of those two (the target is <= 1.1);
* ``tltorch/dense``: tensorly-torch's factorized CP convolution, when it is installed.

Run: ``python benchmarks/engine.py [--batch 32] [--size 32] [--repeats 15] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from timing import interleaved as _interleaved
from timing import step as _step

import tnviz
from tnviz.paper_layers import PAPER_LAYERS


def _tltorch_cp(rank: int, device: str):
    try:
        import tltorch
    except ImportError:
        return None
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
    layer = tltorch.FactorizedConv.from_conv(conv, rank=rank, factorization="cp", implementation="factorized")
    return layer.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", nargs="*", default=list(PAPER_LAYERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = args.device
    x = torch.randn(args.batch, 64, args.size, args.size, device=device, requires_grad=True)
    dense = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(device)
    grad = torch.randn(args.batch, 64, args.size, args.size, device=device)
    print(
        f"# tnviz engine benchmark: batch {args.batch}, 64→64 channels, {args.size}×{args.size}, 3×3, padding 1, "
        f"forward + backward, {args.threads} threads, device {device}, torch {torch.__version__}"
    )
    header = (
        "| layer | params/dense | FLOPs/dense | strategy | auto/dense | recon/dense | l2r/dense | auto/best "
        "| auto's plan is |"
    )
    print(header)
    print("|---" * 9 + "|")
    dense_flops = 2 * args.batch * 64 * 64 * 9 * args.size * args.size
    worst = 0.0
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
        params = sum(p.numel() for p in nets["auto"].parameters())
        best = min(rel["reconstruct"], rel["left-to-right"])
        worst = max(worst, rel["auto"] / best)
        # When auto's plan is one of the fixed ones the two runs are the same computation and
        # their ratio shows only the timing noise of this machine.
        same = [opt for opt in ("reconstruct", "left-to-right") if nets[opt].plan(x).tree == plan.tree]
        print(
            f"| {name} | {params / 36864:.3f} | {plan.flops / dense_flops:.3f} | {plan.approach} | "
            f"{rel['auto']:.2f} | {rel['reconstruct']:.2f} | {rel['left-to-right']:.2f} | {rel['auto'] / best:.2f} "
            f"| {'the ' + same[0] + ' plan' if same else 'its own'} |"
        )
    print(f"\nworst auto/best over the set: {worst:.2f}")
    with warnings.catch_warnings():  # tensorly warns that rank 27 exceeds the 3-long modes
        warnings.simplefilter("ignore", UserWarning)
        layer = _tltorch_cp(27, device)
    if layer is not None:
        net = tnviz.TensorNetwork(tnviz.Diagram.parse(*PAPER_LAYERS["cp"][:1], sizes=PAPER_LAYERS["cp"][1], padding=1))
        net = net.to(device)
        rel = _interleaved(
            {"dense": _step(dense, x, grad), "tnviz": _step(net, x, grad), "tltorch": _step(layer, x, grad)},
            args.repeats,
            device,
        )
        print(
            f"CP rank 27: tnviz/dense {rel['tnviz']:.2f}, tensorly-torch/dense {rel['tltorch']:.2f}, "
            f"tnviz/tensorly-torch {rel['tnviz'] / rel['tltorch']:.2f}"
        )
    else:
        print("tensorly-torch not installed (pip install -e '.[bench]'): its comparison is skipped")


if __name__ == "__main__":
    main()
