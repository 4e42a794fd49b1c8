"""Layer benchmark: tensorial Conv2d and Linear layers of every format against their dense twin.

Forward + backward with a fixed upstream gradient, ratios measured round-robin in one run:

* Conv2d 64→64, 3×3, padding 1, batch 32 on 32×32, at rates 0.02, 0.05, 0.1: each format's
  layer / ``nn.Conv2d``, and the layer against the best of its two fixed strategies
  (reconstruct-the-kernel, left-to-right).
* Linear 1024→1024, batch 1024, rate 0.1: each format / ``nn.Linear``.
* tensorly-torch's CP, Tucker and TT convolutions at rate 0.1, when it is installed.

Run: ``python benchmarks/layers.py [--repeats 15] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from timing import interleaved, step
from torch import nn

from tnviz.nn import TensorialConv2d, TensorialLinear

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rates", type=float, nargs="*", default=[0.02, 0.05, 0.1])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    x = torch.randn(32, 64, 32, 32, device=dev, requires_grad=True)
    grad = torch.randn(32, 64, 32, 32, device=dev)
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dev)
    print(f"# Conv2d 64→64 3×3, batch 32, 32×32, fwd+bwd, {args.threads} threads, {dev}, torch {torch.__version__}")
    print("| format | rate | ranks | params/dense | plan | layer/dense | layer/best strategy |")
    print("|---" * 7 + "|")
    for name in FORMATS:
        for rate in args.rates:
            try:
                layers = {
                    opt: TensorialConv2d(
                        64, 64, 3, padding=1, bias=False, format=name, rate=rate, optimize=opt, device=dev
                    )
                    for opt in ("auto", "reconstruct", "left-to-right")
                }
            except Exception as err:  # noqa: BLE001 - a rate too small for rank 1 is reported, not fatal
                print(f"| {name} | {rate} | — | — | — | {err} | |")
                continue
            for layer in layers.values():
                layer.load_state_dict(layers["auto"].state_dict())
            # Layer against dense, and the layer against its fixed strategies, each measured on its
            # own: mixing all four in one round lets the heavier runs disturb the lighter ones.
            rel = interleaved({"dense": step(dense, x, grad), "auto": step(layers["auto"], x, grad)}, args.repeats, dev)
            own = interleaved({k: step(v, x, grad) for k, v in layers.items()}, args.repeats, dev)
            rel.update({k: own[k] * rel["auto"] for k in ("reconstruct", "left-to-right")})
            auto = layers["auto"]
            best = min(rel["reconstruct"], rel["left-to-right"])
            ranks = " ".join(f"{k}={v}" for k, v in auto.ranks.items())
            print(
                f"| {name} | {rate} | {ranks} | {auto.achieved_rate:.3f} | {auto.plan(x).approach} | "
                f"{rel['auto']:.2f} | {rel['auto'] / best:.2f} |"
            )
    xl = torch.randn(1024, 1024, device=dev, requires_grad=True)
    gl = torch.randn(1024, 1024, device=dev)
    linear = nn.Linear(1024, 1024, bias=False).to(dev)
    print("\n# Linear 1024→1024, batch 1024, rate 0.1, fwd+bwd")
    print("| format | ranks | params/dense | plan | layer/dense |")
    print("|---" * 5 + "|")
    for name in FORMATS:
        layer = TensorialLinear(1024, 1024, bias=False, format=name, rate=0.1, device=dev)
        rel = interleaved({"dense": step(linear, xl, gl), "layer": step(layer, xl, gl)}, args.repeats, dev)
        ranks = " ".join(f"{k}={v}" for k, v in layer.ranks.items())
        print(f"| {name} | {ranks} | {layer.achieved_rate:.3f} | {layer.plan(xl).approach} | {rel['layer']:.2f} |")
    print("\n# tensorly-torch 'factorized' convolutions at rate 0.1 (same setting as above)")
    for fact, ours in (("cp", "cp"), ("tucker", "tk"), ("tt", "tt")):
        theirs = _tltorch(fact, 0.1, dev)
        if theirs is None:
            print("tensorly-torch not installed (pip install -e '.[bench]')")
            break
        mine = TensorialConv2d(64, 64, 3, padding=1, bias=False, format=ours, rate=0.1, device=dev)
        rel = interleaved(
            {"dense": step(dense, x, grad), "tnviz": step(mine, x, grad), "tltorch": step(theirs, x, grad)},
            args.repeats,
            dev,
        )
        print(f"{fact}: tnviz/dense {rel['tnviz']:.2f}, tensorly-torch/dense {rel['tltorch']:.2f}")


if __name__ == "__main__":
    main()
