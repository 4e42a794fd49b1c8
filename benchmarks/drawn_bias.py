"""The drawn network against the built-in layer with a bias: issue 22's "with and without bias".

``benchmarks/layers.py`` times a ``tnviz.TensorNetwork`` of each format's diagram against the
built-in layer without a bias (its ``drawn / built-in`` columns). This script times the same
pairs with a bias (``bias=True`` on both, the same values), which the executor fuses into the
last ``F.linear`` / ``F.conv`` call or adds after: every format at every rate, Linear 1024→1024
(batch 1024) and Conv2d 64→64 3×3 (batch 32 on 32×32, NCHW and channels_last), forward +
backward and forward alone, each pair alternating over ``layers.DRAWN_ROUNDS``× the rounds.
``--processes`` separate processes give each ratio's median and interquartile range, written
with the provenance to ``benchmarks/results/drawn-bias.json`` (``--allocator NAME``:
``drawn-bias-NAME.json``); ``benchmarks/docs.py layers``
puts its table and target line into ``docs/layers.md``.

    python benchmarks/drawn_bias.py --repeats 5 --processes 2    # about 15 minutes on 2 CPU threads
"""

from __future__ import annotations

import argparse
from pathlib import Path

import layers
import torch
from timing import add_process_arguments, loaded_allocator, results_file, run_benchmark

FIELDS = (("train", "fwd+bwd"), ("infer", "fwd"), ("train_cl", "fwd+bwd cl"), ("infer_cl", "fwd cl"))


def measure(args) -> dict:
    """One process's ratios, every format × rate × layer kind."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    x = torch.randn(32, 64, 32, 32, device=dev, requires_grad=True)
    g = torch.randn(32, 64, 32, 32, device=dev)
    x_cl = x.detach().contiguous(memory_format=layers.CL).requires_grad_()
    g_cl = g.contiguous(memory_format=layers.CL)
    xl = torch.randn(1024, 1024, device=dev, requires_grad=True)
    gl = torch.randn(1024, 1024, device=dev)
    out: dict = {"conv": {}, "linear": {}, "allocator": loaded_allocator()}
    for name in args.formats:
        for rate in args.rates:
            key = f"{name} {rate}"
            conv = layers.built("conv", name, rate, dev, bias=True)
            out["conv"][key] = conv if isinstance(conv, dict) else layers.drawn_pairs(conv, x, g, x_cl, g_cl, args)
            lin = layers.built("linear", name, rate, dev, bias=True)
            out["linear"][key] = lin if isinstance(lin, dict) else layers.drawn_pairs(lin, xl, gl, None, None, args)
    return out


def table(data: dict) -> str:
    """Markdown: a table per layer kind (median and interquartile range), then the target line."""
    lines = []
    for kind, title in (("linear", "Linear 1024→1024"), ("conv", "Conv2d 64→64 3×3")):
        fields = layers.fields_of(kind, FIELDS)
        lines += [
            f"#### {title}, with a bias: drawn / built-in",
            "",
            "| format | rate | " + " | ".join(t for _, t in fields) + " |",
            "|---" * (len(fields) + 2) + "|",
        ]
        for key, row in data["results"][kind].items():
            name, rate = key.split()
            if "refused" in row:
                lines.append(f"| {name} | {rate} | refused: {row['refused']} |" + " |" * (len(fields) - 1))
                continue
            lines.append(f"| {name} | {rate} | " + " | ".join(layers._ratio(row[f]) for f, _ in fields) + " |")
        lines.append("")
    lines += [
        "| target | result |",
        "|---|---|",
        f"| drawn TensorNetwork ≤ 1.05× the built-in layer, with a bias (every cell) | {verdict(data)} |",
    ]
    return "\n".join(lines)


def verdict(data: dict, limit: float = 1.05) -> str:
    """The target's result over every cell (medians)."""
    found = [
        (f"{kind} {key} {title}", layers._median(row[field]))
        for kind in ("linear", "conv")
        for key, row in data["results"][kind].items()
        if "refused" not in row
        for field, title in layers.fields_of(kind, FIELDS)
    ]
    return layers.verdict(found, limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    layers.add_cell_arguments(parser)
    add_process_arguments(parser, None)
    parser.set_defaults(processes=2)
    args = parser.parse_args()
    if args.out is None:
        args.out = results_path(args.allocator)
    if args.quick:
        args.repeats, args.processes, args.rates = 2, 1, [0.1]
    run_benchmark(__file__, args, measure, table, keep=("refused", "allocator"))


def results_path(allocator: str) -> Path:
    """Where a run with ``allocator`` writes its results."""
    return results_file("drawn-bias", allocator)


if __name__ == "__main__":
    main()
